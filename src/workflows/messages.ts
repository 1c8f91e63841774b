import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { SourceChange } from '../mapping/change.js';
import type { RoomView } from '../activities/apply-room-changes.js';
import type { RoomKey, SourceName } from '../domain/room.js';
import type { LagThresholds, SourceAlertState } from '../monitoring/lag-state.js';
import type { SourceReading } from '../activities/monitoring.js';

/** Connectors send each room's changes here; a batch may hold changes of several transactions. */
export const sourceChangesSignal = defineSignal<[SourceChange[]]>('sourceChanges');

export interface RoomState {
  readonly room: RoomKey;
  /** The merged row as last written; null before the first batch is applied. */
  readonly view: RoomView | null;
  readonly lastPositions: Readonly<Record<SourceName, string | null>>;
  readonly pendingChanges: number;
  readonly batchesApplied: number;
}

export const roomStateQuery = defineQuery<RoomState>('roomState');

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
