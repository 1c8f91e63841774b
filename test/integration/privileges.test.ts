// The pipeline's own credentials, on the real server: the suite's databases are set up as
// set-up does it (the configured URL names a superuser, so the pipeline gets its own
// least-privileged roles), and TestPipeline's worker and connectors connect with them.
// The audit tables take INSERT and SELECT from the pipeline's role and nothing else; the
// connector's role reads the captured tables and writes only its heartbeat; and the whole
// pipeline still works end to end under these roles.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import pg from 'pg';
import { createSlotWithSnapshot, dropSlot } from '../../src/cdc/slot.js';
import { readSnapshot } from '../../src/cdc/snapshot.js';
import { capturedTables } from '../../src/cdc/source-descriptor.js';
import { cdcRole, pipelineRole, resolvePipelineConnection, unifiedKind } from '../../src/db/pipeline-credentials.js';
import { ensureAuditPartitions, partitionMonthsAhead } from '../../src/db/audit-partitions.js';
import { ensureSourceCdcRole, ensureUnifiedPipelineRole } from '../../src/setup/roles.js';
import type { Policy } from '../../src/policy/schema.js';
import { waitForSettled } from '../support/assertions.js';
import { createTestDatabases, defaultPolicy, startTestTemporal, TestPipeline, waitFor, type TestDatabases } from '../support/environment.js';
import { Rng, standardHotels, testSeed, Workload } from '../support/workload.js';

let env: TestWorkflowEnvironment;
let dbs: TestDatabases;
let policy: Policy;
let pipeline: TestPipeline;
const seed = testSeed();
const workload = new Workload(standardHotels(4), new Rng(seed));
const auditTables = ['conflict_audit', 'unified_field_history', 'policy_versions'] as const;
const quiet = () => undefined;

before(async () => {
  console.log(`privileges.test seed=${seed} (TEST_SEED=${seed} replays it)`);
  env = await startTestTemporal();
  dbs = await createTestDatabases('privileges');
  policy = await defaultPolicy();
  await workload.seed(dbs.legacy, dbs.cloud);
  pipeline = new TestPipeline(env, dbs, policy);
  await pipeline.start();
});

after(async () => {
  await pipeline?.stop();
  await dbs?.drop();
  await env?.teardown();
});

/** One connection as `url`'s role, closed whatever happens. */
async function as<T>(url: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'room-sync privileges test' });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** The statement fails for lack of a privilege (42501), with a message matching `reason`: not a trigger's refusal. */
async function refused(client: pg.Client, statement: string, reason: RegExp): Promise<void> {
  await assert.rejects(
    client.query(statement),
    (error: Error & { code?: string }) => {
      assert.equal(error.code, '42501', `${statement}: ${error.message}`);
      assert.match(error.message, reason, statement);
      return true;
    },
    `${statement} should have been refused`,
  );
}

/** Runs `statements` in a transaction that is rolled back: what the role may do, without leaving rows behind. */
async function rolledBack(client: pg.Client, run: () => Promise<void>): Promise<void> {
  await client.query('BEGIN');
  try {
    await run();
  } finally {
    await client.query('ROLLBACK');
  }
}

test('the pipeline runs end to end as its own roles: rooms converge, audit rows appear', async () => {
  const { connections } = dbs.pipeline;
  assert.deepEqual(
    { unified: connections.unified.role, legacy: connections.legacy.role, cloud: connections.cloud.role },
    { unified: pipelineRole, legacy: cdcRole, cloud: cdcRole },
  );
  assert.ok(connections.unified.derived && connections.legacy.derived && connections.cloud.derived);
  // Changes while streaming, on top of the snapshot.
  for (let i = 0; i < 20; i += 1) {
    await workload.legacyStep(dbs.legacy);
    await workload.cloudStep(dbs.cloud);
  }
  const { audit } = await waitForSettled(dbs, env.client, policy.policyVersion, { knownKeys: workload.knownKeys });
  assert.ok(audit.length > 0, 'conflicts were audited');
  const history = await dbs.unified.selectFrom('unified_field_history').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  assert.ok(Number(history.n) > 0, 'field history was written');

  // Every session the worker and the connectors opened is one of the pipeline's roles; the replication ones are the connector's.
  const sessions = async (url: string) =>
    as(url, async (client) =>
      (
        await client.query<{ usename: string; backend_type: string; application_name: string }>(
          `SELECT usename::text, backend_type, application_name FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name NOT LIKE 'room-sync test%'
              AND application_name LIKE 'room-sync%'`,
        )
      ).rows,
    );
  await dbs.pipeline.unified.selectFrom('unified_rooms').select('hotel_code').limit(1).execute();
  const unifiedSessions = await as(dbs.urls.unified, (client) =>
    client.query<{ usename: string }>(
      `SELECT DISTINCT usename::text FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'room-sync test pipeline'`,
    ),
  );
  assert.deepEqual(unifiedSessions.rows.map((row) => row.usename), [pipelineRole]);
  for (const source of ['legacy', 'cloud'] as const) {
    const walsenders = (await sessions(dbs.urls[source])).filter((row) => row.backend_type === 'walsender');
    assert.ok(walsenders.length >= 1, `${source}: the connector streams`);
    for (const row of walsenders) assert.equal(row.usename, cdcRole, `${source}: ${row.application_name}`);
  }
});

test('the audit tables: the pipeline role may INSERT and SELECT, and cannot UPDATE, DELETE, TRUNCATE, disable a trigger or DROP', async () => {
  await as(dbs.pipeline.urls.unified, async (client) => {
    // SELECT and INSERT work (inserts rolled back: the suite's audit stays the pipeline's own).
    for (const table of auditTables) await client.query(`SELECT count(*) FROM ${table}`);
    await rolledBack(client, async () => {
      await client.query(
        `INSERT INTO conflict_audit (hotel_code, room_code, field, legacy_value, cloud_value, winning_value, winning_source, rule,
                                     policy_version, hotel_class, trigger_source, trigger_position)
         VALUES ('PRIV1', '101', 'rate', '1', '2', '1', 'legacy', 'test', 'test', 'L', 'legacy', '0/1')`,
      );
      await client.query(
        `INSERT INTO unified_field_history (hotel_code, room_code, field, value, source, rule, policy_version, hotel_class, legacy_value, cloud_value, applied_at)
         VALUES ('PRIV1', '101', 'rate', '1', 'legacy', 'test', 'test', 'L', '1', '2', now())`,
      );
      await client.query(
        `INSERT INTO policy_versions (version, content_hash, content, source_text, diff, applied_by) VALUES ('test', 'x', '{}', '', '[]', 'privileges test')`,
      );
    });
    for (const table of auditTables) {
      await refused(client, `UPDATE ${table} SET id = id`, /permission denied/);
      await refused(client, `DELETE FROM ${table}`, /permission denied/);
      await refused(client, `TRUNCATE ${table}`, /permission denied/);
      await refused(client, `ALTER TABLE ${table} DISABLE TRIGGER ALL`, /must be owner/);
      await refused(client, `ALTER TABLE ${table} DISABLE TRIGGER USER`, /must be owner/);
      await refused(client, `ALTER TABLE ${table} OWNER TO ${pipelineRole}`, /must be owner/);
      await refused(client, `DROP TABLE ${table}`, /must be owner/);
      await refused(client, `CREATE TRIGGER sneaky BEFORE INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION audit_table_is_append_only()`, /permission denied/);
    }
    // Triggers off for the session (replication role) is for superusers only.
    await refused(client, `SET session_replication_role = replica`, /permission denied/);
    // No table of its own to own either, and no way to become the owner.
    await refused(client, `CREATE TABLE pipeline_owned (id int)`, /permission denied/);
    await refused(client, `SET ROLE postgres`, /permission denied/);
    // The operational tables are the pipeline's to write (rolled back).
    await rolledBack(client, async () => {
      await client.query(`UPDATE unified_rooms SET updated_at = updated_at`);
      await client.query(`DELETE FROM dead_letters`);
    });
    const { rows } = await client.query<{ rolsuper: boolean; rolreplication: boolean; rolcreaterole: boolean; rolcreatedb: boolean; rolbypassrls: boolean }>(
      'SELECT rolsuper, rolreplication, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles WHERE rolname = current_user',
    );
    assert.deepEqual(rows[0], { rolsuper: false, rolreplication: false, rolcreaterole: false, rolcreatedb: false, rolbypassrls: false });
  });
  // Nothing in the unified database belongs to either role.
  const owned = await dbs.unifiedPool.query(
    `SELECT c.relname FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = ANY($1::text[])`,
    [[pipelineRole, cdcRole]],
  );
  assert.deepEqual(owned.rows, []);
});

test('the connector role reads the captured tables, writes only its heartbeat, and cannot read the unified database', async () => {
  for (const source of ['legacy', 'cloud'] as const) {
    await as(dbs.pipeline.urls[source], async (client) => {
      const [table] = capturedTables[source];
      assert.ok(table);
      await client.query(`SELECT count(*) FROM ${table}`);
      for (const captured of capturedTables[source]) {
        await refused(client, `INSERT INTO ${captured} DEFAULT VALUES`, /permission denied/);
        await refused(client, `UPDATE ${captured} SET ${source === 'legacy' ? 'prop_cd = prop_cd' : 'id = id'}`, /permission denied/);
        await refused(client, `DELETE FROM ${captured}`, /permission denied/);
        await refused(client, `TRUNCATE ${captured}`, /permission denied/);
        await refused(client, `ALTER TABLE ${captured} REPLICA IDENTITY DEFAULT`, /must be owner/);
      }
      await rolledBack(client, async () => {
        await client.query(`UPDATE room_sync.heartbeat SET beats = beats + 1`);
      });
      await refused(client, `DELETE FROM room_sync.heartbeat`, /permission denied/);
      await refused(client, `CREATE TABLE room_sync.mine (id int)`, /permission denied/);
      const { rows } = await client.query<{ rolsuper: boolean; rolreplication: boolean }>('SELECT rolsuper, rolreplication FROM pg_roles WHERE rolname = current_user');
      assert.deepEqual(rows[0], { rolsuper: false, rolreplication: true });
    });
  }
  // The connector's role in the unified database: not a single table.
  const cdcOnUnified = new URL(dbs.pipeline.urls.unified);
  cdcOnUnified.username = cdcRole;
  await as(cdcOnUnified.toString(), async (client) => {
    for (const table of ['unified_rooms', 'conflict_audit', 'unified_field_history', 'policy_versions', 'room_sources', 'cdc_cursors']) {
      await refused(client, `SELECT * FROM ${table} LIMIT 1`, /permission denied/);
    }
  });
  // And the pipeline's unified role has nothing on the sources.
  const pipelineOnLegacy = new URL(dbs.pipeline.urls.legacy);
  pipelineOnLegacy.username = pipelineRole;
  await as(pipelineOnLegacy.toString(), async (client) => {
    await refused(client, `SELECT * FROM htl_room_inv LIMIT 1`, /permission denied/);
  });
});

test('the connector role creates a slot with EXPORT_SNAPSHOT and reads the snapshot in it', async () => {
  const slotName = `rs_test_priv_${Date.now().toString(36)}`;
  const exported = await createSlotWithSnapshot(dbs.pipeline.urls.legacy, slotName);
  try {
    let rows = 0;
    for await (const item of readSnapshot(dbs.pipeline.legacy, exported.snapshotName, capturedTables.legacy)) {
      assert.ok(item.row);
      rows += 1;
    }
    const { rows: expected } = await dbs.legacy.query<{ n: string }>('SELECT (SELECT count(*) FROM htl_property) + (SELECT count(*) FROM htl_room_inv) AS n');
    // Rows written after the slot are not in its snapshot; none are written meanwhile here.
    assert.equal(rows, Number(expected[0]?.n));
  } finally {
    await exported.release();
  }
  const { rows: slot } = await dbs.legacy.query<{ slot_type: string; plugin: string }>('SELECT slot_type, plugin FROM pg_replication_slots WHERE slot_name = $1', [slotName]);
  assert.deepEqual(slot[0], { slot_type: 'logical', plugin: 'pgoutput' });
  // The role that created it may drop it too (REPLICATION).
  await dropSlot(dbs.pipeline.legacy, slotName);
  await waitFor('the slot to be gone', async () => (await dbs.legacy.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slotName])).rows.length === 0);
});

test('every monthly partition, the DEFAULT ones, partitions created later and the archive records: SELECT and INSERT only, after grants are re-applied', async () => {
  // Someone granted too much on a partition; and set-up later creates partitions further ahead.
  const { rows: [thisMonth] } = await dbs.unifiedPool.query<{ name: string }>(`SELECT 'conflict_audit_p' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMM') AS name`);
  assert.ok(thisMonth);
  await dbs.unifiedPool.query(`GRANT UPDATE, DELETE, TRUNCATE ON ${thisMonth.name}, conflict_audit_default TO ${pipelineRole}`);
  const created = await ensureAuditPartitions(dbs.unified, partitionMonthsAhead + 2);
  assert.equal(created.length, 4, `two more months of each table: ${created.join(', ')}`);
  await ensureUnifiedPipelineRole(dbs.urls.unified, quiet);

  const { rows: partitions } = await dbs.unifiedPool.query<{ name: string }>(
    `SELECT c.relname::text AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
      WHERE p.relname IN ('conflict_audit', 'unified_field_history') AND c.relkind = 'r' ORDER BY 1`,
  );
  const names = partitions.map((row) => row.name);
  assert.ok(names.includes(thisMonth.name) && names.includes('conflict_audit_default') && names.includes('unified_field_history_default'));
  for (const name of created) assert.ok(names.includes(name));
  await as(dbs.pipeline.urls.unified, async (client) => {
    for (const table of [...names, 'audit_archived_months', 'conflict_audit_archived_heads']) {
      await client.query(`SELECT count(*) FROM ${table}`);
      await refused(client, `UPDATE ${table} SET ${table === 'audit_archived_months' ? 'rows = rows' : 'hotel_code = hotel_code'}`, /permission denied/);
      await refused(client, `DELETE FROM ${table}`, /permission denied/);
      await refused(client, `TRUNCATE ${table}`, /permission denied/);
      await refused(client, `ALTER TABLE ${table} DISABLE TRIGGER USER`, /must be owner/);
      await refused(client, `DROP TABLE ${table}`, /must be owner/);
    }
    // Rows go in through the parent, and land in the month's partition or DEFAULT (rolled back).
    await rolledBack(client, async () => {
      const { rows } = await client.query<{ partition: string }>(
        `INSERT INTO conflict_audit (hotel_code, room_code, field, legacy_value, cloud_value, winning_value, winning_source, rule,
                                     policy_version, hotel_class, trigger_source, trigger_position, resolved_at)
         VALUES ('PRIV1', '101', 'rate', '1', '2', '1', 'legacy', 'test', 'test', 'L', 'legacy', '0/1', now()),
                ('PRIV1', '101', 'rate', '1', '2', '1', 'legacy', 'test', 'test', 'L', 'legacy', '0/2', '1999-01-01T00:00:00Z')
         RETURNING tableoid::regclass::text AS partition`,
      );
      assert.deepEqual(rows.map((row) => row.partition), [thisMonth.name, 'conflict_audit_default']);
    });
    // The partitioning itself is the owner's.
    await refused(client, `ALTER TABLE conflict_audit DETACH PARTITION ${thisMonth.name}`, /must be owner/);
    await refused(client, `CREATE TABLE sneaky_partition PARTITION OF conflict_audit FOR VALUES FROM ('1990-01-01') TO ('1990-02-01')`, /permission denied/);
    await refused(client, `SELECT audit_ensure_partitions(30)`, /permission denied/);
  });
});

test('set-up is idempotent and takes back privileges granted by hand; a least-privileged URL is used as it is', async () => {
  // Someone granted too much: the next set-up takes it back.
  await dbs.unifiedPool.query(`GRANT UPDATE, DELETE, TRUNCATE ON conflict_audit TO ${pipelineRole}`);
  await dbs.legacy.query(`GRANT INSERT, DELETE ON htl_room_inv TO ${cdcRole}`);
  const again = await ensureUnifiedPipelineRole(dbs.urls.unified, quiet);
  assert.deepEqual({ role: again.role, managed: again.managed, createdRole: again.createdRole }, { role: pipelineRole, managed: true, createdRole: false });
  await ensureSourceCdcRole(dbs.urls.legacy, 'legacy', quiet);
  await as(dbs.pipeline.urls.unified, async (client) => {
    await refused(client, `DELETE FROM conflict_audit`, /permission denied/);
    await refused(client, `TRUNCATE conflict_audit`, /permission denied/);
  });
  await as(dbs.pipeline.urls.legacy, async (client) => {
    await refused(client, `DELETE FROM htl_room_inv`, /permission denied/);
  });
  // A table a later migration adds gets the operational grants at the next set-up; one marked append-only by its trigger, only SELECT and INSERT.
  await dbs.unifiedPool.query(`CREATE TABLE privileges_test_operational (id int)`);
  await dbs.unifiedPool.query(`CREATE TABLE privileges_test_log (id int)`);
  await dbs.unifiedPool.query(
    `CREATE TRIGGER privileges_test_log_no_update_delete BEFORE UPDATE OR DELETE ON privileges_test_log FOR EACH ROW EXECUTE FUNCTION audit_table_is_append_only()`,
  );
  await ensureUnifiedPipelineRole(dbs.urls.unified, quiet);
  await as(dbs.pipeline.urls.unified, async (client) => {
    await rolledBack(client, async () => {
      await client.query(`INSERT INTO privileges_test_operational VALUES (1)`);
      await client.query(`DELETE FROM privileges_test_operational`);
      await client.query(`INSERT INTO privileges_test_log VALUES (1)`);
    });
    await refused(client, `DELETE FROM privileges_test_log`, /permission denied/);
    await refused(client, `TRUNCATE privileges_test_log`, /permission denied/);
  });
  // The pipeline's own URL is least-privileged: used as it is, nothing created or granted.
  const asIs = await resolvePipelineConnection(dbs.pipeline.urls.unified, unifiedKind(), 'UNIFIED_DATABASE_URL');
  assert.deepEqual(asIs, { url: dbs.pipeline.urls.unified, role: pipelineRole, derived: false });
  const checked = await ensureUnifiedPipelineRole(dbs.pipeline.urls.unified, quiet);
  assert.deepEqual(checked, { role: pipelineRole, managed: false, createdRole: false, advice: null });
  // A least-privileged role that lacks a grant is told exactly what an admin runs.
  await dbs.unifiedPool.query(`REVOKE INSERT ON policy_versions FROM ${pipelineRole}`);
  const advised = await ensureUnifiedPipelineRole(dbs.pipeline.urls.unified, quiet);
  assert.match(advised.advice ?? '', /lacks SELECT,INSERT on policy_versions/);
  assert.match(advised.advice ?? '', /GRANT SELECT, INSERT ON "public"\."policy_versions" TO "room_sync_pipeline";/);
  await ensureUnifiedPipelineRole(dbs.urls.unified, quiet);
  await dbs.unifiedPool.query(`DROP TABLE privileges_test_operational, privileges_test_log`);
});
