import type { ColumnType, Generated, JSONColumnType } from 'kysely';
import type { SourceName, UnifiedStatus } from '../domain/room.js';

/** timestamptz: read as Date, written as Date or ISO string. */
type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** bigint columns arrive from pg as strings; the repository edge turns them into numbers. */
type BigIntColumn = ColumnType<string, number | bigint | string, number | bigint | string>;
type Json = ColumnType<unknown, string, string>;
/** bigserial ids and counters the database fills. */
type GeneratedBigInt = ColumnType<string, number | string | undefined, number | string>;

/** Contract: what the booking engine and analytics read. */
export interface UnifiedRoomsTable {
  hotel_code: string;
  room_code: string;
  hotel_class: string;
  room_type: string | null;
  rate_minor: BigIntColumn | null;
  currency: string | null;
  availability: number | null;
  status: UnifiedStatus;
  rate_source: SourceName;
  availability_source: SourceName;
  room_type_source: SourceName;
  status_source: SourceName;
  /** The policy's owner of availability: the source whose freshness decides whether the room is sellable. */
  availability_owner: SourceName | null;
  policy_version: string;
  updated_at: Timestamp;
  legacy_position: string | null;
  cloud_position: string | null;
  legacy_commit_time: Timestamp | null;
  cloud_commit_time: Timestamp | null;
  /** Source commit time of the newest change folded into the row: end-to-end latency needs no second clock. */
  last_change_commit_time: Timestamp | null;
}

/** Contract: append-only, for legal. */
export interface ConflictAuditTable {
  id: GeneratedBigInt;
  hotel_code: string;
  room_code: string;
  field: 'rate' | 'availability' | 'room_type' | 'status';
  legacy_value: Json;
  cloud_value: Json;
  winning_value: Json;
  winning_source: SourceName;
  rule: string;
  policy_version: string;
  resolved_at: Generated<Timestamp>;
  hotel_class: string;
  legacy_position: string | null;
  legacy_hotel_position: string | null;
  cloud_position: string | null;
  /** `policy`: a re-resolution under a newly applied policy; trigger_position is then its policy_versions.id. */
  trigger_source: SourceName | 'policy';
  trigger_position: string;
  /** The per-room hash chain (src/audit/chain.ts); null on rows written before it existed. */
  prev_hash: string | null;
  row_hash: string | null;
}

/** Append-only: every change of a unified field's value or provenance. */
export interface UnifiedFieldHistoryTable {
  id: GeneratedBigInt;
  hotel_code: string;
  room_code: string;
  field: 'rate' | 'availability' | 'room_type' | 'status';
  value: Json;
  source: SourceName | null;
  rule: string;
  policy_version: string;
  hotel_class: string;
  legacy_value: Json;
  cloud_value: Json;
  source_position: string | null;
  source_commit_time: Timestamp | null;
  applied_at: Timestamp;
}

/** Append-only: each table and month `audit archive` exported and detached (migration 0007). */
export interface AuditArchivedMonthsTable {
  table_name: 'conflict_audit' | 'unified_field_history';
  /** The month's first day. */
  month: Timestamp;
  rows: BigIntColumn;
  min_id: BigIntColumn | null;
  max_id: BigIntColumn | null;
  /** The archive file's name in the folder it was written to. */
  file: string;
  sha256: string;
  /** `audit_archive.<partition>` while kept inside the retention window. */
  detached_as: string;
  archived_at: Generated<Timestamp>;
}

/** Append-only: each room's conflict_audit chain head at the end of an archived month. */
export interface ConflictAuditArchivedHeadsTable {
  month: Timestamp;
  hotel_code: string;
  room_code: string;
  /** The room's rows in that month. */
  rows: BigIntColumn;
  head_id: BigIntColumn;
  head_hash: string | null;
}

/** Append-only: every precedence policy that became active; the newest row is the active one. */
export interface PolicyVersionsTable {
  id: GeneratedBigInt;
  /** `<version or name>@<hash>`, as written on unified and audit rows. */
  version: string;
  /** sha256 of the canonical document. */
  content_hash: string;
  /** The validated document. */
  content: Json;
  /** The file as it was applied, comments included. */
  source_text: string;
  source_file: string | null;
  /** Against the version it replaced, per class and field (src/policy/diff.ts). */
  diff: Json;
  applied_by: string;
  applied_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** Each source's latest value per room, the merge's only input besides the policy. */
export interface RoomSourcesTable {
  hotel_code: string;
  room_code: string;
  legacy: JSONColumnType<object | null, string | null, string | null>;
  cloud: JSONColumnType<object | null, string | null, string | null>;
  legacy_hotel: JSONColumnType<object | null, string | null, string | null>;
  /** The room's newest conflict_audit row_hash (live or archived): where its chain goes on. */
  chain_head: ColumnType<string | null, string | null | undefined, string | null>;
  /** The room's newest unified_field_history entry per field, keyed by field. */
  field_heads: JSONColumnType<object, string | undefined, string>;
  updated_at: Timestamp;
}

/** The legacy property as last seen on the legacy stream, written by the legacy connector. */
export interface LegacyHotelsTable {
  hotel_code: string;
  present: boolean;
  mgmt_typ: string;
  currency: string;
  position: string;
  commit_time: Timestamp;
  updated_at: Timestamp;
  /** Why this value is stored when it is not a plain change of the stream (a reconcile's repair); null otherwise. */
  reason: ColumnType<string | null, string | null | undefined, string | null>;
}

/** One `room-sync reconcile` of one source (CLI or schedule): its counts and a sample of the rooms that differed. */
export interface ReconcileRunsTable {
  id: GeneratedBigInt;
  source: SourceName;
  /** `cli` or `schedule`. */
  origin: string;
  hotel_code: string | null;
  snapshot_position: string;
  started_at: Timestamp;
  finished_at: ColumnType<Date, Date | string | undefined, Date | string>;
  compared: number;
  equal: number;
  newer: number;
  drifted: number;
  missing: number;
  extra: number;
  unmappable: number;
  repaired: number;
  /** Rooms still differing when the run ended (after a repair, those it could not fix). */
  unresolved: number;
  sample: Json;
}

/** Cloud property id to hotel code, so the cloud connector can key room rows (and deletes). */
export interface CloudPropertiesTable {
  property_id: string;
  hotel_code: string;
  present: boolean;
  position: string;
  updated_at: Timestamp;
}

export interface DeadLettersTable {
  id: GeneratedBigInt;
  source: SourceName;
  table_name: string;
  position: string;
  commit_time: Timestamp | null;
  row_key: string;
  raw: Json;
  reason: string;
  received_at: Generated<Timestamp>;
  /** The room a change was meant for, where known (always for a room's failed apply). */
  hotel_code: string | null;
  room_code: string | null;
  retried_at: Timestamp | null;
  retry_outcome: 'applied' | 'failed-again' | 'not-mappable' | null;
}

/** A change Temporal took for a room that no apply has taken yet (written before the delivery). */
export interface UnappliedChangesTable {
  source: SourceName;
  hotel_code: string;
  room_code: string;
  position: string;
  commit_time: Timestamp;
  delivered_at: Generated<Timestamp>;
}

/** A room whose apply kept failing: not sold until its dead letters are retried and applied. */
export interface RoomQuarantineTable {
  hotel_code: string;
  room_code: string;
  source: SourceName;
  reason: string;
  quarantined_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** Per source: what has durably reached Temporal, and so been acknowledged to the slot. */
export interface CdcCursorsTable {
  source: SourceName;
  slot_name: string;
  publication_name: string;
  snapshot_lsn: string | null;
  snapshot_completed_at: Timestamp | null;
  last_acked_lsn: string | null;
  last_acked_commit_time: Timestamp | null;
  acked_at: Timestamp | null;
  last_change_commit_time: Timestamp | null;
  changes_acked: GeneratedBigInt;
  /** When the connector's current session connected and began reading (snapshot or stream); null after a clean stop. */
  connected_at: Timestamp | null;
  /** The source's WAL position when it connected: the connector is catching up until it has acked this. */
  connected_wal_lsn: string | null;
  /** When the connector last found its slot lost (dropped or invalidated) and took a fresh slot and snapshot. */
  slot_lost_at: Timestamp | null;
  slot_lost_reason: 'dropped' | 'invalidated' | null;
}

/** Written by the lag monitor each check; bookable_rooms trusts a row only while valid_until is ahead. */
export interface SourceFreshnessTable {
  source: SourceName;
  last_acked_commit_time: Timestamp | null;
  last_change_commit_time: Timestamp | null;
  lag_seconds: number | null;
  backlog_bytes: BigIntColumn | null;
  slot_retained_bytes: BigIntColumn | null;
  connected: boolean | null;
  unapplied_changes: BigIntColumn | null;
  oldest_unapplied_commit_time: Timestamp | null;
  stale_after_seconds: number;
  checked_at: Timestamp;
  valid_until: Timestamp;
}

/** `monitor`: the lag monitor's own checks failing, or a source it cannot read; `slot`: a lost slot, re-snapshotted (a warning); `reconcile`: rooms that differ from a live source. */
export type AlertSubject = 'lag' | 'quarantine' | 'monitor' | 'slot' | 'reconcile';

/** One row per incident (a source's lag, a quarantined room, the monitor's own checks): opened by its first warning or page, resolved once. */
export interface AlertsTable {
  id: GeneratedBigInt;
  incident_key: string;
  /** Null only on the monitor's own `checks-failing` incident. */
  source: SourceName | null;
  severity: 'warning' | 'page';
  lag_seconds: number;
  threshold_seconds: number;
  opened_at: Timestamp;
  paged_at: Timestamp | null;
  resolved_at: Timestamp | null;
  resolved_lag_seconds: number | null;
  message: string;
  subject: ColumnType<AlertSubject, AlertSubject | undefined, AlertSubject>;
  /** `HOTEL/ROOM` of a quarantine alert. */
  room: string | null;
}

/** Every attempt to notify a channel, failures included, so a broken pager is visible. */
export interface AlertDeliveriesTable {
  id: GeneratedBigInt;
  incident_key: string;
  event: 'warn' | 'page' | 'resolve';
  channel: string;
  ok: boolean;
  error: string | null;
  attempted_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** Contract view: what the booking engine may sell (read-only). */
export interface BookableRoomsView {
  hotel_code: string;
  room_code: string;
  sellable: boolean;
  sellable_availability: number;
  rate_minor: string | null;
  currency: string | null;
  reason: string | null;
}

export interface UnifiedDatabase {
  bookable_rooms: BookableRoomsView;
  source_freshness: SourceFreshnessTable;
  alerts: AlertsTable;
  alert_deliveries: AlertDeliveriesTable;
  unified_rooms: UnifiedRoomsTable;
  conflict_audit: ConflictAuditTable;
  room_sources: RoomSourcesTable;
  legacy_hotels: LegacyHotelsTable;
  cloud_properties: CloudPropertiesTable;
  dead_letters: DeadLettersTable;
  cdc_cursors: CdcCursorsTable;
  unapplied_changes: UnappliedChangesTable;
  unified_field_history: UnifiedFieldHistoryTable;
  room_quarantine: RoomQuarantineTable;
  policy_versions: PolicyVersionsTable;
  audit_archived_months: AuditArchivedMonthsTable;
  conflict_audit_archived_heads: ConflictAuditArchivedHeadsTable;
  reconcile_runs: ReconcileRunsTable;
}
