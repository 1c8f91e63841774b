import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { SourceChange } from '../mapping/change.js';
import type { ConflictSummary, RoomView } from '../activities/apply-room-changes.js';
import type { QuarantineRecord } from '../db/quarantine-repository.js';
import type { RoomKey, SourceName } from '../domain/room.js';
import type { AlertEvent, LagThresholds, SourceAlertState } from '../monitoring/lag-state.js';
import type { MonitorHealth } from '../monitoring/monitor-health.js';
import type { SlotLossState } from '../monitoring/slot-loss-alerts.js';
import type { SourceReading } from '../activities/monitoring.js';

/**
 * How a connector hands a room's changes to its workflow: signal-with-start, so the first
 * change starts the workflow. Several changes of one room that arrive within the
 * connector's send interval travel in one signal. Durable once the server has answered.
 */
/**
 * A room workflow's task timeout, set when it starts and on every continue-as-new: a worker
 * killed in the middle of a task (its apply runs as a local activity inside the task) hands
 * the room to another worker after this. Not 3 s: with the CPU saturated a task that waits
 * its turn inside the worker took longer than 3 s, the SDK heartbeat the task at 80% of it
 * (one more task for the same room) and the task timed out, so the room was replayed whole,
 * more work exactly when there was no CPU for it. Not 10 s either: a task the server times out
 * while the worker still holds it (its activation waited behind replays on a starved machine,
 * its local activity now running) is retried on the shared queue, and when the same worker polls
 * the retry the SDK's core (1.24.0) applies it on top of the task in flight instead of buffering it
 * ("Trying to send a new WFT for a run which already has one!"): the room's machines break ("History
 * is out of order") and the commands it then completes leave a history no replay matches, so the
 * room stops applying for good (docs/cluster.md, fault scenarios 12 and 14). 30 s, the sticky queue's
 * timeout too: a killed worker's rooms are all handed over within 30 s.
 */
export const roomWorkflowTaskTimeout = '30 seconds';

/**
 * Batches per room run before it continues as new: a run is what a worker replays when a room
 * comes back after a cache eviction or a worker restart, so short runs bring a cold worker's
 * rooms back fast (docs/capacity.md, cold start) and read well in the UI; and a cached run holds
 * a few KB of the SDK core's state per batch until it ends (docs/capacity.md, Memory). A batch
 * adds about `roomRunEventsPerBatch` history events (signal, workflow task, apply marker).
 */
export const roomRunBatches = 25;
export const roomRunEventsPerBatch = 5;

export const sourceChangesSignal = defineSignal<[SourceChange[]]>('sourceChanges');

/** `room-sync dead-letters retry`: a room's dead-lettered changes, delivered again after a fix. */
export interface DeadLetterRetry {
  readonly deadLetterIds: readonly string[];
  readonly changes: readonly SourceChange[];
}
export const retryDeadLettersSignal = defineSignal<[DeadLetterRetry]>('retryDeadLetters');

/** A room's merged row with provenance, each source's latest value, and what is waiting. */
export interface RoomState {
  readonly room: string;
  /** The unified row as last written, with per-field sources and policy version; null before the first apply. */
  readonly row: RoomView | null;
  readonly policyVersion: string | null;
  readonly pendingChanges: number;
  readonly pendingRetries: number;
  readonly batchesApplied: number;
  /** The conflicts the last apply raised. */
  readonly lastConflicts: readonly ConflictSummary[];
  /** Set while the room's failing changes wait in the dead-letter table. */
  readonly quarantine: QuarantineRecord | null;
}
export const roomStateQuery = defineQuery<RoomState>('roomState');

// ---- policy re-resolution --------------------------------------------------------------

/** A newly applied policy decides the room differently: resolve it again, with or without a change. */
export interface ReResolveRequest {
  /** The policy's activation (policy_versions.id). */
  readonly activation: string;
  readonly policyVersion: string;
}
export const reResolveSignal = defineSignal<[ReResolveRequest]>('reResolve');

/** Where a policy's re-resolution stands; carried across continue-as-new, so a restart resumes it. */
export interface ReResolutionProgress {
  readonly activation: string;
  readonly policyVersion: string;
  readonly state: 'scanning' | 'waiting' | 'done' | 'superseded';
  /** The last room scanned (rooms are scanned in key order); null before the first page. */
  readonly cursor: RoomKey | null;
  readonly scanned: number;
  /** Rooms the policy decides differently, found so far. */
  readonly affected: number;
  /** Of those, re-resolved (their row carries the policy, or no longer needs it). */
  readonly reResolved: number;
  /** Rooms of the current batch still waited for (the first few). */
  readonly waitingFor: readonly string[];
  /** A newer policy was applied before this one's re-resolution finished: its own takes over. */
  readonly supersededBy: string | null;
}
export const reResolutionProgressQuery = defineQuery<ReResolutionProgress>('reResolutionProgress');

export function reResolutionWorkflowId(activation: string): string {
  return `policy-re-resolution/${activation}`;
}

// ---- room-group workflows of releases before one workflow per room ------------------

/**
 * The same hand-over as an update (`CONNECTOR_DELIVERY=update`): the server confirms it once
 * the workflow took it. Also how an earlier release delivered to room-group workflows.
 */
export const deliverChangesUpdate = defineUpdate<void, [SourceChange[]]>('deliverChanges');

/** Asks a room-group workflow left by an earlier release to apply what it holds and complete. */
export const retireRoomGroupSignal = defineSignal('retire');

export interface RoomGroupState {
  readonly group: string;
  readonly pendingChanges: number;
  readonly batchesApplied: number;
  readonly changesApplied: number;
  readonly roomsSeen: number;
  readonly lastPositions: Readonly<Record<SourceName, string | null>>;
  readonly retiring: boolean;
}
export const roomGroupStateQuery = defineQuery<RoomGroupState>('roomGroupState');
export const roomGroupRoomStateQuery = defineQuery<RoomView | null, [RoomKey]>('roomState');

// ---- lag monitor ----------------------------------------------------------------------

/** The lag monitor's whole configuration; URLs and keys of channels stay on the worker. */
export interface MonitorSettings {
  readonly thresholds: LagThresholds;
  readonly checkIntervalSeconds: number;
  readonly staleAfterSeconds: number;
  /** How long one check's freshness stays trusted by bookable_rooms. */
  readonly validForSeconds: number;
  readonly channelNames: readonly string[];
  /** LAG_CATCHUP_GRACE_SECONDS; absent (settings of an earlier release) means no grace. */
  readonly catchupGraceSeconds?: number;
}

export const lagMonitorWorkflowId = 'room-sync-lag-monitor';

/** Sent on every start: a running monitor takes new thresholds without a restart. */
export const monitorSettingsSignal = defineSignal<[MonitorSettings]>('monitorSettings');

export interface MonitorState {
  readonly settings: MonitorSettings;
  readonly sources: Readonly<Record<SourceName, SourceAlertState>>;
  readonly lastReadings: readonly SourceReading[];
  readonly checks: number;
  /** Quarantined rooms this monitor has paged for, by room. */
  readonly quarantines: Readonly<Record<string, string>>;
  /** The monitor's own checks, and each source's slot read (absent before this release). */
  readonly health?: MonitorHealth;
  /** The last lost slot raised per source (absent before this release). */
  readonly slotLosses?: Readonly<Record<SourceName, SlotLossState>>;
}

export const monitorStateQuery = defineQuery<MonitorState>('monitorState');

// ---- alert outbox: one workflow per channel, fed by the monitor --------------------------

/** One alert event for one channel; `id` (incident and kind) makes a repeated hand-over harmless. */
export interface AlertOutboxItem {
  readonly id: string;
  readonly event: AlertEvent;
  readonly at: string;
}

/** Signal-with-start from the monitor's enqueueAlert activity. */
export const alertOutboxSignal = defineSignal<[AlertOutboxItem]>('alert');

export interface AlertOutboxState {
  readonly channelName: string;
  /** Events waiting behind the one being delivered. */
  readonly pending: readonly string[];
  readonly delivering: string | null;
  readonly delivered: number;
  readonly givenUp: number;
}
export const alertOutboxStateQuery = defineQuery<AlertOutboxState>('alertOutboxState');

/** Beside its monitor: a test's monitor and its outboxes never meet another's. */
export function alertOutboxWorkflowId(monitorWorkflowId: string, channelName: string): string {
  return `${monitorWorkflowId}/alerts/${channelName}`;
}
