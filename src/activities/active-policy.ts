import type { Kysely, Transaction } from 'kysely';
import { readPoliciesByVersion, readPolicyActivation } from '../db/policy-repository.js';
import type { UnifiedDatabase } from '../db/schema.js';
import type { Policy } from '../policy/schema.js';

type Db = Kysely<UnifiedDatabase> | Transaction<UnifiedDatabase>;

/** The policy one apply resolves with, and its activation: the trigger position of a re-resolution's audit rows. */
export interface ActivePolicy {
  readonly policy: Policy;
  readonly activation: string;
}

/**
 * The worker's copy of the recorded policies. Each apply's read names the newest
 * policy_versions row; only when that moved is the new row read (once per worker), so every
 * running worker takes a new policy with its next apply, without a restart, and a batch
 * never mixes two. Until a policy is recorded, POLICY_FILE's is the active one.
 */
export class PolicyCache {
  private readonly byVersion = new Map<string, Policy>();
  private active: { readonly id: string; readonly policy: Policy } | null = null;

  constructor(private readonly filePolicy: Policy) {
    this.byVersion.set(filePolicy.policyVersion, filePolicy);
  }

  async activeFor(db: Db, newest: { readonly id: string } | null): Promise<ActivePolicy> {
    if (newest === null) return { policy: this.filePolicy, activation: `file:${this.filePolicy.policyVersion}` };
    if (this.active?.id !== newest.id) {
      const record = await readPolicyActivation(db, newest.id);
      this.active = { id: record.id, policy: record.policy };
      this.byVersion.set(record.version, record.policy);
    }
    return { policy: this.active.policy, activation: this.active.id };
  }

  /** The policies of these versions that were ever recorded (or are POLICY_FILE's); others are absent. */
  async known(db: Db, versions: Iterable<string>): Promise<ReadonlyMap<string, Policy>> {
    const missing = [...new Set(versions)].filter((version) => !this.byVersion.has(version));
    if (missing.length > 0) {
      for (const [version, policy] of await readPoliciesByVersion(db, missing)) this.byVersion.set(version, policy);
    }
    return this.byVersion;
  }
}
