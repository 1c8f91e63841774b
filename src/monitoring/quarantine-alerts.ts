import type { SourceName } from '../domain/room.js';
import type { AlertEvent } from './lag-state.js';

export interface QuarantinedRoomReading {
  readonly room: string;
  readonly source: SourceName;
  readonly reason: string;
  readonly quarantinedAt: string;
}

/** Open quarantine incidents by room: the incident key each was paged under. */
export type QuarantineIncidents = Readonly<Record<string, { readonly incidentKey: string; readonly source: SourceName }>>;

/**
 * One page when a room is quarantined, one resolve when it leaves quarantine. Pure, so
 * the monitor workflow replays it exactly.
 */
export function evaluateQuarantines(open: QuarantineIncidents, rooms: readonly QuarantinedRoomReading[]): { open: QuarantineIncidents; events: AlertEvent[] } {
  const next: Record<string, { incidentKey: string; source: SourceName }> = {};
  const events: AlertEvent[] = [];
  for (const reading of rooms) {
    const known = open[reading.room];
    if (known) {
      next[reading.room] = known;
      continue;
    }
    const incidentKey = `room-sync/quarantine/${reading.room}/${reading.quarantinedAt}`;
    next[reading.room] = { incidentKey, source: reading.source };
    events.push({ kind: 'page', source: reading.source, incidentKey, lagSeconds: 0, thresholdSeconds: 0, quarantined: { room: reading.room, reason: reading.reason } });
  }
  for (const [room, incident] of Object.entries(open)) {
    if (next[room]) continue;
    events.push({
      kind: 'resolve',
      source: incident.source,
      incidentKey: incident.incidentKey,
      lagSeconds: 0,
      thresholdSeconds: 0,
      wasPaging: true,
      quarantined: { room, reason: 'dead letters applied' },
    });
  }
  return { open: next, events };
}
