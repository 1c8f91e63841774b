import { Migrator, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import * as unifiedSchema from './migrations/2026_11_27_0001_unified_schema.js';
import * as lagAlerting from './migrations/2026_11_27_0002_lag_alerting.js';
import * as appliedFreshness from './migrations/2026_12_01_0003_applied_freshness_and_quarantine.js';
import * as auditChain from './migrations/2026_12_01_0004_audit_chain_and_field_history.js';
import * as policyVersions from './migrations/2026_12_01_0005_policy_versions.js';
import * as monitorAlerts from './migrations/2026_12_02_0006_monitor_alerts.js';
import * as auditPartitions from './migrations/2026_12_06_0007_audit_partitions.js';
import * as roomHeads from './migrations/2026_12_07_0008_room_heads.js';
import * as connectorCatchup from './migrations/2026_12_07_0009_connector_catchup.js';
import * as reconcile from './migrations/2026_12_07_0010_reconcile.js';
import { ensureAuditPartitions } from './audit-partitions.js';
import type { UnifiedDatabase } from './schema.js';

/** Migrations are listed in code so they ship inside the bundle and run the same under tsx and node. */
const migrations: Record<string, Migration> = {
  '2026_11_27_0001_unified_schema': unifiedSchema,
  '2026_11_27_0002_lag_alerting': lagAlerting,
  '2026_12_01_0003_applied_freshness_and_quarantine': appliedFreshness,
  '2026_12_01_0004_audit_chain_and_field_history': auditChain,
  '2026_12_01_0005_policy_versions': policyVersions,
  '2026_12_02_0006_monitor_alerts': monitorAlerts,
  '2026_12_06_0007_audit_partitions': auditPartitions,
  '2026_12_07_0008_room_heads': roomHeads,
  '2026_12_07_0009_connector_catchup': connectorCatchup,
  '2026_12_07_0010_reconcile': reconcile,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

/**
 * Brings the unified schema up to date and creates the audit tables' monthly partitions ahead
 * (the pipeline's role cannot create them); returns the names of migrations it applied.
 */
export async function migrateToLatest(db: Kysely<UnifiedDatabase>): Promise<string[]> {
  const migrator = new Migrator({ db, provider });
  const { error, results = [] } = await migrator.migrateToLatest();
  const failed = results.find((result) => result.status === 'Error');
  if (error !== undefined || failed) {
    throw new MigrationError(`migration ${failed?.migrationName ?? '(before any migration)'} failed`, { cause: error });
  }
  await ensureAuditPartitions(db);
  return results.filter((result) => result.status === 'Success').map((result) => result.migrationName);
}

/** Up (or down) to the named migration and no further: to check a migration against data written before it. */
export async function migrateTo(db: Kysely<UnifiedDatabase>, name: string): Promise<void> {
  if (!(name in migrations)) throw new MigrationError(`no migration named ${name}`);
  const { error, results = [] } = await new Migrator({ db, provider }).migrateTo(name);
  const failed = results.find((result) => result.status === 'Error');
  if (error !== undefined || failed) throw new MigrationError(`migration ${failed?.migrationName ?? name} failed`, { cause: error });
}
