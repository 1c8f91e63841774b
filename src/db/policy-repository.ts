import { sql, type Kysely, type Transaction } from 'kysely';
import { stringify as toYaml } from 'yaml';
import { z } from 'zod';
import { diffPolicies, type PolicyDiffEntry } from '../policy/diff.js';
import { parsePolicy, policyContentHash, policyDocumentOf } from '../policy/load.js';
import type { Policy } from '../policy/schema.js';
import { policyLockSpace } from './apply-statements.js';
import type { UnifiedDatabase } from './schema.js';

type Db = Kysely<UnifiedDatabase> | Transaction<UnifiedDatabase>;

/** One row of policy_versions: a policy as it became active. `id` is its activation. */
export interface PolicyRecord {
  readonly id: string;
  readonly version: string;
  readonly policy: Policy;
  readonly sourceText: string;
  readonly sourceFile: string | null;
  readonly diff: readonly PolicyDiffEntry[];
  readonly appliedBy: string;
  readonly appliedAt: Date;
}

export class PolicyRecordError extends Error {
  override readonly name = 'PolicyRecordError';
}

const diffSchema = z.array(z.object({ path: z.string(), from: z.unknown(), to: z.unknown() }));

interface PolicyRow {
  id: string;
  version: string;
  content: unknown;
  source_text: string;
  source_file: string | null;
  diff: unknown;
  applied_by: string;
  applied_at: Date;
}

/** Re-validates the stored document: a row whose content no longer gives its version is refused. */
function recordOf(row: PolicyRow): PolicyRecord {
  const policy = parsePolicy(row.content, `policy_versions #${row.id}`);
  if (policy.policyVersion !== row.version) {
    throw new PolicyRecordError(`policy_versions #${row.id}: content gives version ${policy.policyVersion}, the row says ${row.version}`);
  }
  return {
    id: row.id,
    version: row.version,
    policy,
    sourceText: row.source_text,
    sourceFile: row.source_file,
    diff: diffSchema.parse(row.diff).map((entry) => ({ path: entry.path, from: entry.from ?? null, to: entry.to ?? null })),
    appliedBy: row.applied_by,
    appliedAt: row.applied_at,
  };
}

const columns = ['id', 'version', 'content', 'source_text', 'source_file', 'diff', 'applied_by', 'applied_at'] as const;

/** The active policy: the newest row; null while none was ever recorded. */
export async function readActivePolicy(db: Db): Promise<PolicyRecord | null> {
  const row = await db.selectFrom('policy_versions').select(columns).orderBy('id', 'desc').limit(1).executeTakeFirst();
  return row ? recordOf(row) : null;
}

/** The active policy's activation (the newest row's id) alone: a cheap check that nothing newer was applied. */
export async function readActiveActivation(db: Db): Promise<string | null> {
  const row = await db.selectFrom('policy_versions').select('id').orderBy('id', 'desc').limit(1).executeTakeFirst();
  return row?.id ?? null;
}

export async function readPolicyActivation(db: Db, id: string): Promise<PolicyRecord> {
  const row = await db.selectFrom('policy_versions').select(columns).where('id', '=', id).executeTakeFirst();
  if (!row) throw new PolicyRecordError(`no policy_versions row #${id}`);
  return recordOf(row);
}

/** The recorded policies of these versions; a version never recorded is absent. */
export async function readPoliciesByVersion(db: Db, versions: readonly string[]): Promise<Map<string, Policy>> {
  const found = new Map<string, Policy>();
  if (versions.length === 0) return found;
  const rows = await db.selectFrom('policy_versions').select(columns).where('version', 'in', versions).orderBy('id').execute();
  for (const row of rows) found.set(row.version, recordOf(row).policy);
  return found;
}

/** Every activation, oldest first. */
export async function listPolicyHistory(db: Db): Promise<PolicyRecord[]> {
  const rows = await db.selectFrom('policy_versions').select(columns).orderBy('id').execute();
  return rows.map(recordOf);
}

export interface PolicyToRecord {
  readonly policy: Policy;
  /** The file as written; the document as YAML when there is no file text. */
  readonly sourceText?: string;
  readonly sourceFile: string | null;
  readonly appliedBy: string;
}

export interface RecordedPolicy {
  /** The active policy after the call. */
  readonly record: PolicyRecord;
  /** False when it was already active (or, `onlyIfNone`, when any policy was). */
  readonly recorded: boolean;
  /** The policy it replaced. */
  readonly previous: PolicyRecord | null;
}

/**
 * Makes `policy` the active one, unless it already is. Under the policy lock held
 * exclusively, so it waits for every apply in flight (each holds it shared) and every apply
 * after it reads the new row: none can commit a resolution under the old policy unseen by
 * the re-resolution that follows. `onlyIfNone`: record it only where no policy ever was
 * (the worker's POLICY_FILE at start).
 */
export async function recordPolicy(db: Kysely<UnifiedDatabase>, input: PolicyToRecord, { onlyIfNone = false } = {}): Promise<RecordedPolicy> {
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${policyLockSpace}, 0)`.execute(trx);
    const active = await readActivePolicy(trx);
    if (active && (onlyIfNone || active.version === input.policy.policyVersion)) return { record: active, recorded: false, previous: active };
    const document = policyDocumentOf(input.policy);
    const row = await trx
      .insertInto('policy_versions')
      .values({
        version: input.policy.policyVersion,
        content_hash: policyContentHash(document),
        content: JSON.stringify(document),
        source_text: input.sourceText ?? toYaml(document),
        source_file: input.sourceFile,
        diff: JSON.stringify(diffPolicies(active ? policyDocumentOf(active.policy) : null, document)),
        applied_by: input.appliedBy,
      })
      .returning(columns)
      .executeTakeFirstOrThrow();
    return { record: recordOf(row), recorded: true, previous: active };
  });
}
