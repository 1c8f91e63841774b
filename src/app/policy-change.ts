import type { Client } from '@temporalio/client';
import { WorkflowIdConflictPolicy } from '@temporalio/common';
import type { Kysely } from 'kysely';
import { readActivePolicy, readPoliciesByVersion, recordPolicy, type PolicyRecord } from '../db/policy-repository.js';
import { readResolutionsPage } from '../db/resolution-repository.js';
import type { UnifiedDatabase } from '../db/schema.js';
import { fieldNames, roomKeyText, type FieldName, type RoomKey } from '../domain/room.js';
import type { FieldValue } from '../merge/field-values.js';
import { needsReResolution, resolutionChanges, type FieldResolutionChange } from '../merge/re-resolution.js';
import { resolveRoom } from '../merge/resolve.js';
import { diffPolicies, type PolicyDiffEntry } from '../policy/diff.js';
import { policyDocumentOf } from '../policy/load.js';
import type { Policy } from '../policy/schema.js';
import { reResolutionProgressQuery, reResolutionWorkflowId, type ReResolutionProgress } from '../workflows/messages.js';
import { reResolutionWorkflow } from '../workflows/re-resolution.js';
import { policyVersionKey, syncRoleKey } from '../workflows/search-attributes.js';

/** The policy in force: the newest recorded one, or POLICY_FILE's while none is recorded. */
export interface ActivePolicyView {
  readonly policy: Policy;
  readonly record: PolicyRecord | null;
}

export async function activePolicyView(db: Kysely<UnifiedDatabase>, filePolicy: Policy): Promise<ActivePolicyView> {
  const record = await readActivePolicy(db);
  return { policy: record?.policy ?? filePolicy, record };
}

export function policyDiff(active: ActivePolicyView, next: Policy): PolicyDiffEntry[] {
  return diffPolicies(policyDocumentOf(active.policy), policyDocumentOf(next));
}

/** One room a policy would re-resolve, and how each of its fields would move. */
export interface RoomPreview {
  readonly room: RoomKey;
  readonly hotelClass: string;
  readonly policyVersion: string;
  /** False when the row's version was never recorded: how it was decided is unknown, every field is re-resolved. */
  readonly knownBefore: boolean;
  /** Fields whose value, source, owner or rule moves (none listed when `knownBefore` is false). */
  readonly changes: readonly FieldResolutionChange[];
}

export interface PolicyPreview {
  readonly scanned: number;
  readonly rooms: readonly RoomPreview[];
  /** Per hotel class (under the new policy): rooms affected, and per field the rooms whose value or source moves. */
  readonly perClass: ReadonlyMap<string, { rooms: number; fields: Record<FieldName, number> }>;
}

/**
 * The dry run: every room the policy would re-resolve (the re-resolution's own predicate),
 * computed with the pure merge from room_sources, against what each row was resolved with.
 * Reads only.
 */
export async function previewPolicy(db: Kysely<UnifiedDatabase>, policy: Policy, filePolicy: Policy, pageSize = 1_000): Promise<PolicyPreview> {
  const known = new Map<string, Policy>([[filePolicy.policyVersion, filePolicy]]);
  const rooms: RoomPreview[] = [];
  const perClass = new Map<string, { rooms: number; fields: Record<FieldName, number> }>();
  let scanned = 0;
  for (let after: RoomKey | null = null; ; ) {
    const page = await readResolutionsPage(db, after, pageSize);
    scanned += page.length;
    const unknown = [...new Set(page.map((row) => row.policyVersion))].filter((version) => !known.has(version));
    for (const [version, found] of await readPoliciesByVersion(db, unknown)) known.set(version, found);
    for (const row of page) {
      const storedPolicy = known.get(row.policyVersion) ?? null;
      if (!needsReResolution(policy, row.sources, { policyVersion: row.policyVersion, policy: storedPolicy })) continue;
      const next = resolveRoom(policy, row.sources);
      const changes = storedPolicy ? resolutionChanges(resolveRoom(storedPolicy, row.sources), next) : [];
      rooms.push({ room: row.room, hotelClass: next.hotelClass, policyVersion: row.policyVersion, knownBefore: storedPolicy !== null, changes });
      const counts = perClass.get(next.hotelClass) ?? { rooms: 0, fields: { rate: 0, availability: 0, room_type: 0, status: 0 } };
      counts.rooms += 1;
      for (const change of changes) {
        if (!sameShown(change.before.value, change.after.value) || change.before.source !== change.after.source) counts.fields[change.field] += 1;
      }
      perClass.set(next.hotelClass, counts);
    }
    const last = page.at(-1);
    if (page.length < pageSize || !last) break;
    after = last.room;
  }
  return { scanned, rooms, perClass };
}

function shownValue(value: FieldValue | null): string {
  if (value === null) return 'none';
  return typeof value === 'object' ? `${value.rate_minor} ${value.currency}` : String(value);
}
const sameShown = (a: FieldValue | null, b: FieldValue | null) => shownValue(a) === shownValue(b);

export function formatPreview(preview: PolicyPreview): string[] {
  const lines = [`${preview.rooms.length} of ${preview.scanned} room(s) would be re-resolved`];
  for (const { room, hotelClass, policyVersion, knownBefore, changes } of preview.rooms) {
    if (!knownBefore) lines.push(`  ${roomKeyText(room)} (${hotelClass}) resolved under ${policyVersion}, never recorded: every field re-resolved`);
    for (const { field, before, after } of changes) {
      const moved = !sameShown(before.value, after.value) || before.source !== after.source;
      lines.push(
        `  ${roomKeyText(room)} (${hotelClass}) ${field}: ${shownValue(before.value)} (${before.source}) -> ${shownValue(after.value)} (${after.source})` +
          (moved ? '' : `, rule now "${after.rule}"`),
      );
    }
  }
  for (const [hotelClass, counts] of [...preview.perClass.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const fields = fieldNames.filter((field) => counts.fields[field] > 0).map((field) => `${field} ${counts.fields[field]}`);
    lines.push(`${hotelClass}: ${counts.rooms} room(s)${fields.length > 0 ? ` (values moving: ${fields.join(', ')})` : ' (rules only)'}`);
  }
  return lines;
}

export interface PolicyApplication {
  readonly record: PolicyRecord;
  /** False when the policy was already the active one (its re-resolution is started again or joined). */
  readonly recorded: boolean;
  readonly workflowId: string;
}

/**
 * Records `policy` as the active one (unless it already is) and starts its re-resolution
 * workflow; applying the active policy again joins (or re-runs) its re-resolution, so a
 * command that died half-way is simply run again.
 */
export async function applyPolicy(
  db: Kysely<UnifiedDatabase>,
  client: Client,
  taskQueue: string,
  input: { readonly policy: Policy; readonly sourceText: string; readonly sourceFile: string; readonly appliedBy: string },
  filePolicy: Policy,
  { pageSize }: { readonly pageSize?: number } = {},
): Promise<PolicyApplication> {
  // Where no worker has recorded POLICY_FILE yet, it goes first: the history then starts with what was in force.
  await recordPolicy(db, { policy: filePolicy, sourceFile: null, appliedBy: `${input.appliedBy} (POLICY_FILE, in force before)` }, { onlyIfNone: true });
  const { record, recorded } = await recordPolicy(db, input);
  const workflowId = reResolutionWorkflowId(record.id);
  await client.workflow.start(reResolutionWorkflow, {
    workflowId,
    taskQueue,
    args: [{ activation: record.id, policyVersion: record.version, ...(pageSize ? { pageSize } : {}) }],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    typedSearchAttributes: [
      { key: syncRoleKey, value: 're-resolution' },
      { key: policyVersionKey, value: record.version },
    ],
  });
  return { record, recorded, workflowId };
}

/** Waits for the re-resolution's end, telling its progress every `everyMs`. */
export async function awaitReResolution(
  client: Client,
  workflowId: string,
  { everyMs = 2_000, onProgress = (_progress: ReResolutionProgress): void => undefined } = {},
): Promise<ReResolutionProgress> {
  const handle = client.workflow.getHandle<typeof reResolutionWorkflow>(workflowId);
  const timer = setInterval(() => {
    handle.query(reResolutionProgressQuery).then(onProgress, () => undefined);
  }, everyMs);
  try {
    return await handle.result();
  } finally {
    clearInterval(timer);
  }
}

export function formatProgress(progress: ReResolutionProgress): string {
  const waiting = progress.waitingFor.length > 0 ? `; waiting for ${progress.waitingFor.slice(0, 5).join(', ')}${progress.waitingFor.length > 5 ? ', ...' : ''}` : '';
  return `re-resolution of ${progress.policyVersion} (#${progress.activation}): ${progress.state}, ${progress.scanned} room(s) scanned, ${progress.reResolved}/${progress.affected} re-resolved${waiting}`;
}
