// Shared checks of the integration suites: "the unified view has converged to what the
// reference computes from the sources", and the invariants every conflict_audit row
// must satisfy.
import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { UnifiedDatabase } from '../../src/db/schema.js';
import { roomWorkflowId } from '../../src/routing/room-routing.js';
import {
  computeReference,
  diffViews,
  expectedView,
  fields,
  owners,
  readSourceTables,
  readUnifiedRooms,
  roomKey,
  sameValue,
  type ExpectedRoom,
  type Field,
  type Reference,
  type Value,
} from './reference.js';
import type { TestDatabases } from './environment.js';

/**
 * Polls until unified_rooms equals the reference computed from the sources' current
 * contents (reader columns, updated_at aside). On timeout the error lists the differences.
 */
export async function waitForConvergence(
  dbs: TestDatabases,
  policyVersion: string,
  { knownKeys = [] as Iterable<string>, timeoutMs = 60_000, description = 'unified_rooms to equal the reference' } = {},
): Promise<Reference> {
  const deadline = Date.now() + timeoutMs;
  const known = [...knownKeys];
  let problems: string[] = [];
  for (;;) {
    const reference = computeReference(await readSourceTables(dbs.legacy, dbs.cloud), policyVersion, known);
    problems = diffViews(expectedView(reference), await readUnifiedRooms(dbs.unified));
    if (problems.length === 0) return reference;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${description}; ${problems.length} difference(s):\n  ${problems.slice(0, 25).join('\n  ')}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export function lsnValue(lsn: string): bigint {
  const [high = '0', low = '0'] = lsn.split('/');
  return (BigInt(`0x${high}`) << 32n) + BigInt(`0x${low}`);
}

/**
 * "Everything written so far is applied and audited": both cursors acknowledge past the
 * sources' current WAL position (every change's signal is in Temporal), unified_rooms
 * equals the reference, and the audit invariants hold. The last two are polled: a change
 * whose signal is accepted but not yet applied (say a losing value, invisible in
 * unified_rooms) shows as a standing conflict the audit does not have yet.
 */
export async function waitForSettled(
  dbs: TestDatabases,
  client: Client,
  policyVersion: string,
  { knownKeys = [] as Iterable<string>, timeoutMs = 90_000, classesFixed = true} = {},
): Promise<{ reference: Reference; audit: AuditRow[] }> {
  const started = Date.now();
  const ends = {
    legacy: (await dbs.legacy.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]?.lsn ?? '0/0',
    cloud: (await dbs.cloud.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]?.lsn ?? '0/0',
  };
  for (;;) {
    const cursors = await dbs.unified.selectFrom('cdc_cursors').select(['source', 'last_acked_lsn']).execute();
    const behind = (['legacy', 'cloud'] as const).filter((source) => {
      const acked = cursors.find((cursor) => cursor.source === source)?.last_acked_lsn;
      return acked === null || acked === undefined || lsnValue(acked) < lsnValue(ends[source]);
    });
    if (behind.length === 0) break;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${behind.join(' and ')} to acknowledge past ${JSON.stringify(ends)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await waitForIdleRooms(dbs, client, Math.max(timeoutMs - (Date.now() - started), 1_000));
  const reference = await waitForConvergence(dbs, policyVersion, { knownKeys, timeoutMs: Math.max(timeoutMs - (Date.now() - started), 1_000) });
  let problems: string[] = [];
  for (;;) {
    const audit = await readAudit(dbs.unified);
    problems = auditProblems(audit, reference, policyVersion, { classesFixed });
    if (problems.length === 0) return { reference, audit };
    if (Date.now() - started > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for the audit invariants; ${problems.length} problem(s):\n  ${problems.slice(0, 25).join('\n  ')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * Every room workflow has nothing left to do: no workflow task and no activity pending.
 * With every signal already in Temporal (the cursors' job), that means every change is applied.
 */
export async function waitForIdleRooms(dbs: TestDatabases, client: Client, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // The workflows of rooms with a unified row, and (visibility lags a little) whatever room workflow the server lists.
  const ids = new Set(
    (await dbs.unified.selectFrom('unified_rooms').select(['hotel_code', 'room_code']).execute()).map((row) =>
      roomWorkflowId({ hotelCode: row.hotel_code, roomCode: row.room_code }),
    ),
  );
  for await (const execution of client.workflow.list({ query: `WorkflowType = 'roomWorkflow' AND ExecutionStatus = 'Running'` })) ids.add(execution.workflowId);
  let busy = [...ids];
  while (busy.length > 0) {
    const stillBusy: string[] = [];
    for (let i = 0; i < busy.length; i += 16) {
      await Promise.all(
        busy.slice(i, i + 16).map(async (workflowId) => {
          const { raw } = await client.workflow.getHandle(workflowId).describe();
          if (raw.pendingWorkflowTask || (raw.pendingActivities?.length ?? 0) > 0) stillBusy.push(workflowId);
        }),
      );
    }
    busy = stillBusy;
    if (busy.length > 0 && Date.now() > deadline) throw new Error(`room workflows still busy after ${timeoutMs} ms: ${busy.slice(0, 10).join(', ')}`);
    if (busy.length > 0) await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** jsonb as the audit stores it, back to a comparable value. */
export function auditValue(json: unknown): Value | null {
  if (json === null || json === undefined) return null;
  if (typeof json === 'number' || typeof json === 'string') return json;
  if (typeof json === 'object' && 'rate_minor' in json && 'currency' in json) {
    const { rate_minor, currency } = json;
    if (typeof rate_minor === 'number' && typeof currency === 'string') return { rate_minor, currency };
  }
  throw new Error(`unexpected audit value ${JSON.stringify(json)}`);
}

export type AuditRow = Awaited<ReturnType<typeof readAudit>>[number];

export async function readAudit(db: Kysely<UnifiedDatabase>) {
  return db.selectFrom('conflict_audit').selectAll().orderBy('id').execute();
}

/**
 * What every audit row must say, whatever the interleaving of the two sources was:
 * - one row per (room, field, trigger position): a replayed change adds none;
 * - a real conflict: both values present and different;
 * - the owner (per the contract's table and the row's class) won, with its own value,
 *   and the rule names it; the policy version is the running policy's;
 * - unless `classesFixed` is false, the row's class is the hotel's class;
 * - both sources' positions are recorded, the trigger's among them;
 * - per room, neither source's recorded position ever goes backwards;
 * - every conflict still standing in the final state is audited by the room's latest
 *   row for that field, with exactly the final values (and, classes fixed, the final winner).
 */
export function auditProblems(
  audit: readonly AuditRow[],
  reference: Reference,
  policyVersion: string,
  { classesFixed = true } = {},
): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  const latest = new Map<string, AuditRow>();
  const lastPositions = new Map<string, { legacy: string; cloud: string }>();
  for (const row of audit) {
    const where = `audit #${row.id} ${row.hotel_code}/${row.room_code} ${row.field}`;
    const unique = `${row.hotel_code}/${row.room_code}/${row.field}/${row.trigger_position}`;
    if (seen.has(unique)) problems.push(`${where}: duplicate trigger ${row.trigger_position}`);
    seen.add(unique);
    latest.set(`${roomKey(row.hotel_code, row.room_code)}#${row.field}`, row);

    const legacyValue = auditValue(row.legacy_value);
    const cloudValue = auditValue(row.cloud_value);
    const winningValue = auditValue(row.winning_value);
    if (legacyValue === null || cloudValue === null) problems.push(`${where}: a value is missing`);
    if (sameValue(legacyValue, cloudValue)) problems.push(`${where}: values do not differ (${JSON.stringify(legacyValue)})`);
    // No legacy property changed class during the run: every row was decided under the hotel's one class.
    const finalClass = reference.rooms.get(roomKey(row.hotel_code, row.room_code))?.expected.hotel_class;
    if (classesFixed && row.hotel_class !== finalClass) problems.push(`${where}: decided as ${row.hotel_class}, the hotel is ${finalClass ?? '?'}`);
    const owner = owners[row.hotel_class]?.[row.field];
    if (owner === undefined) problems.push(`${where}: unknown class ${row.hotel_class}`);
    if (row.winning_source !== owner) problems.push(`${where}: winner ${row.winning_source}, owner is ${owner ?? '?'}`);
    if (!sameValue(winningValue, row.winning_source === 'legacy' ? legacyValue : cloudValue)) {
      problems.push(`${where}: winning value ${JSON.stringify(winningValue)} is not the ${row.winning_source} value`);
    }
    if (!row.rule.includes(`owner ${row.winning_source}`)) problems.push(`${where}: rule "${row.rule}" does not name the owner`);
    if (row.policy_version !== policyVersion) problems.push(`${where}: policy_version ${row.policy_version}`);
    if (row.legacy_position === null || row.cloud_position === null) problems.push(`${where}: a position is null`);
    const triggerAmong =
      row.trigger_source === 'legacy'
        ? row.trigger_position === row.legacy_position || row.trigger_position === row.legacy_hotel_position
        : row.trigger_position === row.cloud_position;
    if (!triggerAmong) problems.push(`${where}: trigger ${row.trigger_source} ${row.trigger_position} is not a recorded position`);

    const key = roomKey(row.hotel_code, row.room_code);
    const before = lastPositions.get(key);
    const now = { legacy: row.legacy_position ?? '', cloud: row.cloud_position ?? '' };
    if (before && (now.legacy < before.legacy || now.cloud < before.cloud)) {
      problems.push(`${where}: positions went backwards (${JSON.stringify(before)} -> ${JSON.stringify(now)})`);
    }
    lastPositions.set(key, now);
  }

  for (const [key, room] of reference.rooms) {
    for (const field of fields) {
      const legacyValue = room.legacy[field];
      const cloudValue = room.cloud[field];
      if (legacyValue === null || cloudValue === null || sameValue(legacyValue, cloudValue)) continue;
      const row = latest.get(`${key}#${field}`);
      if (!row) {
        problems.push(`${key} ${field}: standing conflict ${JSON.stringify(legacyValue)} vs ${JSON.stringify(cloudValue)} never audited`);
        continue;
      }
      if (!sameValue(auditValue(row.legacy_value), legacyValue) || !sameValue(auditValue(row.cloud_value), cloudValue)) {
        problems.push(
          `${key} ${field}: latest audit #${row.id} has ${JSON.stringify(row.legacy_value)} vs ${JSON.stringify(row.cloud_value)}, final is ${JSON.stringify(legacyValue)} vs ${JSON.stringify(cloudValue)}`,
        );
      }
      const unified = room.expected;
      const winner: Value | null =
        field === 'rate'
          ? unified.rate_minor === null || unified.currency === null
            ? null
            : { rate_minor: unified.rate_minor, currency: unified.currency }
          : unifiedScalar(unified, field);
      // A class change moves the winner of a standing conflict without changing either value; it is
      // audited as a re-resolution, so the latest row names the final winner whatever the classes did.
      if (!sameValue(auditValue(row.winning_value), winner)) {
        problems.push(`${key} ${field}: latest audit #${row.id} winning ${JSON.stringify(row.winning_value)}, unified has ${JSON.stringify(winner)}`);
      }
    }
  }
  return problems;
}

function unifiedScalar(room: ExpectedRoom, field: Exclude<Field, 'rate'>): Value | null {
  return field === 'availability' ? room.availability : field === 'room_type' ? room.room_type : room.status;
}

/** Rows of conflict_audit that share (room, field, trigger position): must be none. */
export async function duplicateAuditTriggers(db: Kysely<UnifiedDatabase>): Promise<number> {
  const rows = await db
    .selectFrom('conflict_audit')
    .select(['hotel_code', 'room_code', 'field', 'trigger_position'])
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .groupBy(['hotel_code', 'room_code', 'field', 'trigger_position'])
    .having((eb) => eb.fn.countAll(), '>', 1)
    .execute();
  return rows.length;
}
