import type { SourceName } from '../domain/room.js';
import type { AlertEvent } from './lag-state.js';

/** What the connector recorded of its last lost slot (cdc_cursors). */
export interface SlotLossReading {
  readonly lostAt: string;
  readonly reason: 'dropped' | 'invalidated';
  /** When the fresh slot's snapshot completed; null while it runs. */
  readonly resnapshotCompletedAt: string | null;
}

/** The last loss this monitor raised for a source, and whether its warning is still open. */
export interface SlotLossState {
  readonly lostAt: string | null;
  readonly incidentKey: string | null;
}

export const initialSlotLossState: SlotLossState = { lostAt: null, incidentKey: null };

const slotLost = (reading: SlotLossReading) => ({ reason: reading.reason, lostAt: reading.lostAt, resnapshotCompletedAt: reading.resnapshotCompletedAt });

/**
 * A lost slot is a warning, never a page: changes made while no slot recorded reach the store
 * only through the re-snapshot (rows deleted in the gap are marked as left), and ops should
 * know that it ran. One warning per loss, resolved once its re-snapshot completed (in the same
 * check when it already had). Whether the source is behind meanwhile is the lag's judgement.
 * Pure, so the monitor workflow replays it exactly.
 */
export function evaluateSlotLoss(source: SourceName, state: SlotLossState, reading: SlotLossReading | null): { state: SlotLossState; events: AlertEvent[] } {
  const events: AlertEvent[] = [];
  let next = state;
  if (reading !== null && reading.lostAt !== state.lostAt) {
    if (state.incidentKey !== null) {
      events.push({ kind: 'resolve', source, incidentKey: state.incidentKey, lagSeconds: 0, thresholdSeconds: 0, wasPaging: false, slotLost: slotLost(reading) });
    }
    const incidentKey = `room-sync/slot/${source}/${reading.lostAt}`;
    events.push({ kind: 'warn', source, incidentKey, lagSeconds: 0, thresholdSeconds: 0, slotLost: slotLost(reading) });
    next = { lostAt: reading.lostAt, incidentKey };
  }
  if (reading !== null && next.incidentKey !== null && reading.lostAt === next.lostAt && reading.resnapshotCompletedAt !== null) {
    events.push({ kind: 'resolve', source, incidentKey: next.incidentKey, lagSeconds: 0, thresholdSeconds: 0, wasPaging: false, slotLost: slotLost(reading) });
    next = { ...next, incidentKey: null };
  }
  return { state: next, events };
}
