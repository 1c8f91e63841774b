import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { SourceChange } from '../mapping/change.js';
import type { RoomView } from '../activities/apply-room-changes.js';
import type { RoomKey, SourceName } from '../domain/room.js';
import type { LagThresholds, SourceAlertState } from '../monitoring/lag-state.js';
import type { SourceReading } from '../activities/monitoring.js';

/**
 * How connectors hand changes to the workflow serializing their rooms; one call may hold
 * many rooms and transactions. An update, not a signal: the server records it when the
 * workflow takes it (the connector acknowledges its source position only then), and one
 * that arrives while the run continues as new moves to the next run. A signal arriving
 * then makes Temporal reject the hand-over, and its retry replays the whole run.
 */
export const deliverChangesUpdate = defineUpdate<void, [SourceChange[]]>('deliverChanges');

/** The same hand-over as a signal, for tools and operators (`temporal workflow signal`). */
export const sourceChangesSignal = defineSignal<[SourceChange[]]>('sourceChanges');

export interface RoomGroupState {
  readonly group: string;
  readonly pendingChanges: number;
  readonly batchesApplied: number;
  /** Changes that moved a room's stored source value (duplicates and older positions excluded). */
  readonly changesApplied: number;
  /** Rooms this run has applied a batch for. */
  readonly roomsSeen: number;
  /** The highest position applied per source, over every run of the workflow. */
  readonly lastPositions: Readonly<Record<SourceName, string | null>>;
}

export const roomGroupStateQuery = defineQuery<RoomGroupState>('roomGroupState');

/** A room's merged row as this run last wrote it; null when the run has not applied a batch for the room. */
export const roomStateQuery = defineQuery<RoomView | null, [RoomKey]>('roomState');

/** The lag monitor's whole configuration; URLs and keys of channels stay on the worker. */
export interface MonitorSettings {
  readonly thresholds: LagThresholds;
  readonly checkIntervalSeconds: number;
  readonly staleAfterSeconds: number;
  /** How long one check's freshness stays trusted by bookable_rooms. */
  readonly validForSeconds: number;
  readonly channelNames: readonly string[];
}

export const lagMonitorWorkflowId = 'room-sync-lag-monitor';

/** Sent on every start: a running monitor takes new thresholds without a restart. */
export const monitorSettingsSignal = defineSignal<[MonitorSettings]>('monitorSettings');

export interface MonitorState {
  readonly settings: MonitorSettings;
  readonly sources: Readonly<Record<SourceName, SourceAlertState>>;
  readonly lastReadings: readonly SourceReading[];
  readonly checks: number;
}

export const monitorStateQuery = defineQuery<MonitorState>('monitorState');
