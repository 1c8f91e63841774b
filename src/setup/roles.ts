// The pipeline's own least-privileged roles (see src/db/pipeline-credentials.ts for when
// they are used). Roles are cluster-wide (CREATE ROLE), grants are per database; both are
// applied idempotently, every time, after the migrations and the source set-up, so a table
// a new migration creates gets its grants on the next set-up.
//
//   room_sync_pipeline (unified database): LOGIN, nothing else; CONNECT, USAGE on the schema,
//     SELECT/INSERT/UPDATE/DELETE on the operational tables, only SELECT and INSERT on the
//     append-only ones, USAGE/SELECT on the sequences. Never an owner: it cannot TRUNCATE,
//     DROP, or ALTER TABLE ... DISABLE TRIGGER.
//   room_sync_cdc (each source database): LOGIN REPLICATION; CONNECT, USAGE on the schemas of
//     the captured tables and on room_sync, SELECT on the captured tables, SELECT/INSERT/UPDATE
//     on room_sync.heartbeat. Nothing in the unified database.
//
// A configured URL with a password gives the roles the same password (the pipeline connects
// with that URL, the user replaced); with trust authentication nothing is needed.
import pg from 'pg';
import { heartbeatTable, pipelineSchema } from '../cdc/source-descriptor.js';
import {
  appendOnlyTables,
  cdcRole,
  inspectRole,
  pipelineRole,
  schemaTablesSql,
  sourceKind,
  unifiedKind,
  type DatabaseKind,
} from '../db/pipeline-credentials.js';
import type { SourceName } from '../domain/room.js';
import type { Log } from './postgres.js';

export class RoleSetupError extends Error {
  override readonly name = 'RoleSetupError';
}

/** Tables of the schema the pipeline gets nothing on: the migrator's own. */
const migratorTables = ['kysely_migration', 'kysely_migration_lock'];

/** Serializes concurrent set-ups of one database (advisory locks are per database). */
const grantsLockKey = 0x72730001;

export interface RoleSetup {
  /** The role the pipeline connects as: one of its own, or the configured URL's when that is least-privileged already. */
  readonly role: string;
  /** False when the configured URL's role is used as it is (nothing created or granted). */
  readonly managed: boolean;
  readonly createdRole: boolean;
  /** For a least-privileged configured role: what it lacks (or holds beyond what it should) and the SQL an admin runs; null when nothing. */
  readonly advice: string | null;
}

interface RoleAttributes {
  readonly replication: boolean;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function quoteQualified(name: string): string {
  return name.split('.').map(quoteIdent).join('.');
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Role DDL from several set-ups at once (test suites sharing a server): a duplicate or a concurrent update is retried. */
async function retryingConcurrent<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await run();
    } catch (error) {
      const code = errorCode(error);
      const concurrent = code === '42710' || code === '23505' || (code === 'XX000' && /concurrently/.test(String((error as Error).message)));
      if (!concurrent || attempt >= 8) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
    }
  }
}

async function inTransaction<T>(client: pg.ClientBase, run: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const result = await run();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * LOGIN, the one attribute wanted (REPLICATION for the connector's role) and no other; no
 * memberships; the URL's password when it has one. A set-up role that may not manage roles
 * (an owner without CREATEROLE) only checks a role an admin created.
 */
async function ensureRole(client: pg.ClientBase, role: string, attributes: RoleAttributes, password: string, log: Log): Promise<boolean> {
  const wanted = `LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE ${attributes.replication ? 'REPLICATION' : 'NOREPLICATION'} NOBYPASSRLS INHERIT`;
  return retryingConcurrent(async () => {
    const { rows: self } = await client.query<{ manages: boolean }>('SELECT rolsuper OR rolcreaterole AS manages FROM pg_roles WHERE rolname = current_user');
    const manages = self[0]?.manages === true;
    const { rows } = await client.query<{
      oid: number;
      rolsuper: boolean;
      rolcreatedb: boolean;
      rolcreaterole: boolean;
      rolreplication: boolean;
      rolbypassrls: boolean;
      rolcanlogin: boolean;
    }>('SELECT oid, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = $1', [role]);
    const existing = rows[0];
    const { rows: memberships } = await client.query<{ name: string }>(
      `SELECT g.rolname::text AS name FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = $1`,
      [role],
    );
    const wrong =
      existing !== undefined &&
      (existing.rolsuper || existing.rolcreatedb || existing.rolcreaterole || existing.rolbypassrls || !existing.rolcanlogin ||
        existing.rolreplication !== attributes.replication);
    if (!manages) {
      const problem = !existing ? 'does not exist' : wrong ? `must be exactly ${wanted}` : memberships.length > 0 ? `is a member of ${memberships.map((m) => m.name).join(', ')}` : null;
      if (problem !== null) {
        throw new RoleSetupError(`role ${role} ${problem}, and the set-up role may not create or alter roles: an admin runs CREATE ROLE ${role} ${wanted} (docs/operations.md, "Database roles")`);
      }
      if (password !== '') log(`${role} is managed by an admin: it must have the configured URL's password, or the pipeline's URLs name it with its own.`);
      return false;
    }
    let created = false;
    if (!existing) {
      await client.query(`CREATE ROLE ${quoteIdent(role)} ${wanted}`);
      created = true;
    } else if (wrong) {
      await client.query(`ALTER ROLE ${quoteIdent(role)} ${wanted}`);
    }
    if (password !== '') {
      // Quoted by the server (format %L): the password never goes through string concatenation here.
      const { rows: statement } = await client.query<{ sql: string }>(`SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text) AS sql`, [role, password]);
      await client.query(statement[0]?.sql ?? '');
    }
    // Membership in another role (an owner, pg_read_all_data, ...) would hand it that role's rights.
    for (const { name } of memberships) await client.query(`REVOKE ${quoteIdent(name)} FROM ${quoteIdent(role)}`);
    return created;
  });
}

async function roleExists(client: pg.ClientBase, role: string): Promise<boolean> {
  const { rows } = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
  return rows.length > 0;
}

/** The pipeline's role must own nothing in the database: an owner may disable triggers, truncate, drop. */
async function assertOwnsNothing(client: pg.ClientBase, role: string): Promise<void> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = $1
     UNION ALL SELECT 'schema ' || n.nspname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner WHERE r.rolname = $1
     UNION ALL SELECT 'function ' || p.proname FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner WHERE r.rolname = $1
     UNION ALL SELECT 'database ' || d.datname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE r.rolname = $1 AND d.datname = current_database()
     LIMIT 10`,
    [role],
  );
  if (rows.length > 0) {
    throw new RoleSetupError(
      `${role} owns ${rows.map((row) => row.name).join(', ')} in this database; the pipeline's role must own nothing ` +
        `(ALTER ... OWNER TO the migration role, then run set-up again)`,
    );
  }
}

interface SchemaTable {
  readonly name: string;
  readonly append_only: boolean;
}

async function schemaTables(client: pg.ClientBase): Promise<{ schema: string; tables: SchemaTable[]; views: string[] }> {
  const { rows: schemaRows } = await client.query<{ schema: string }>('SELECT current_schema()::text AS schema');
  const schema = schemaRows[0]?.schema;
  if (!schema) throw new RoleSetupError('the unified database has no current schema (search_path)');
  const { rows } = await client.query<SchemaTable>(schemaTablesSql, [appendOnlyTables]);
  const { rows: views } = await client.query<{ name: string }>(
    `SELECT c.relname::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = current_schema() AND c.relkind IN ('v', 'm') ORDER BY 1`,
  );
  return { schema, tables: rows.filter((row) => !migratorTables.includes(row.name)), views: views.map((row) => row.name) };
}

/** The grants the unified database's pipeline role needs, as SQL an admin can run (also what set-up runs). */
export function unifiedGrantStatements(database: string, schema: string, tables: readonly SchemaTable[], views: readonly string[], role: string): string[] {
  const r = quoteIdent(role);
  const qualified = (name: string) => `${quoteIdent(schema)}.${quoteIdent(name)}`;
  return [
    `GRANT CONNECT ON DATABASE ${quoteIdent(database)} TO ${r}`,
    `GRANT USAGE ON SCHEMA ${quoteIdent(schema)} TO ${r}`,
    ...tables.map((table) =>
      table.append_only ? `GRANT SELECT, INSERT ON ${qualified(table.name)} TO ${r}` : `GRANT SELECT, INSERT, UPDATE, DELETE ON ${qualified(table.name)} TO ${r}`,
    ),
    // Views are read (bookable_rooms); a view reads its tables with its owner's rights.
    ...(views.length > 0 ? [`GRANT SELECT ON ${views.map(qualified).join(', ')} TO ${r}`] : []),
    `GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ${quoteIdent(schema)} TO ${r}`,
  ];
}

/** The grants a source database's connector role needs, as SQL an admin can run (also what set-up runs). */
export function sourceGrantStatements(database: string, tables: readonly string[], role: string): string[] {
  const r = quoteIdent(role);
  const schemas = [...new Set([...tables.map((table) => table.split('.')[0] ?? 'public'), pipelineSchema])];
  return [
    `GRANT CONNECT ON DATABASE ${quoteIdent(database)} TO ${r}`,
    ...schemas.map((schema) => `GRANT USAGE ON SCHEMA ${quoteIdent(schema)} TO ${r}`),
    `GRANT SELECT ON ${tables.map(quoteQualified).join(', ')} TO ${r}`,
    `GRANT SELECT, INSERT, UPDATE ON ${quoteQualified(heartbeatTable)} TO ${r}`,
  ];
}

async function currentDatabase(client: pg.ClientBase): Promise<string> {
  const { rows } = await client.query<{ name: string }>('SELECT current_database()::text AS name');
  return rows[0]?.name ?? '';
}

async function withClient<T>(databaseUrl: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000, application_name: 'room-sync set-up' });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function passwordOf(databaseUrl: string): string {
  return decodeURIComponent(new URL(databaseUrl).password);
}

/**
 * What set-up does for one database the URL names: when its role is a superuser or an
 * owner, ensure the pipeline's role and (re)apply its grants; when it is least-privileged
 * already, check it and print the grants an admin must give when something is missing.
 */
async function ensureRoleFor(databaseUrl: string, kind: DatabaseKind, log: Log): Promise<RoleSetup> {
  return withClient(databaseUrl, async (client) => {
    const standing = await inspectRole(client, kind);
    const database = await currentDatabase(client);
    if (standing.reason === null) {
      const advice = await adviseLeastPrivileged(client, database, kind, standing.user);
      return { role: standing.user, managed: false, createdRole: false, advice };
    }
    const role = kind.kind === 'unified' ? pipelineRole : cdcRole;
    const createdRole = await ensureRole(client, role, { replication: kind.kind === 'source' }, passwordOf(databaseUrl), log).catch((error: unknown) => {
      if (error instanceof RoleSetupError) throw error;
      throw new RoleSetupError(
        `cannot create or alter role ${role} as ${standing.user} (${(error as Error).message}); ` +
          `an admin creates it as docs/operations.md, "Database roles", says, or set-up runs as a superuser`,
        { cause: error },
      );
    });
    await inTransaction(client, async () => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [grantsLockKey]);
      if (kind.kind === 'unified') await applyUnifiedGrants(client, database, role);
      else await applySourceGrants(client, database, kind.tables, role);
      await assertOwnsNothing(client, role);
    });
    return { role, managed: true, createdRole, advice: null };
  });
}

async function applyUnifiedGrants(client: pg.ClientBase, database: string, role: string): Promise<void> {
  const { schema, tables, views } = await schemaTables(client);
  const r = quoteIdent(role);
  // Start from nothing, so a privilege granted by hand or by an earlier release does not linger.
  await client.query(`REVOKE ALL ON ALL TABLES IN SCHEMA ${quoteIdent(schema)} FROM ${r}`);
  await client.query(`REVOKE ALL ON ALL SEQUENCES IN SCHEMA ${quoteIdent(schema)} FROM ${r}`);
  for (const statement of unifiedGrantStatements(database, schema, tables, views, role)) await client.query(statement);
  // The connector's source role has no business here (it shares the server locally).
  if (await roleExists(client, cdcRole)) {
    await client.query(`REVOKE ALL ON ALL TABLES IN SCHEMA ${quoteIdent(schema)} FROM ${quoteIdent(cdcRole)}`);
    await client.query(`REVOKE ALL ON ALL SEQUENCES IN SCHEMA ${quoteIdent(schema)} FROM ${quoteIdent(cdcRole)}`);
  }
}

async function applySourceGrants(client: pg.ClientBase, database: string, tables: readonly string[], role: string): Promise<void> {
  const schemas = [...new Set([...tables.map((table) => table.split('.')[0] ?? 'public'), pipelineSchema])];
  const { rows: present } = await client.query<{ name: string }>('SELECT nspname::text AS name FROM pg_namespace WHERE nspname = ANY($1::text[])', [schemas]);
  if (!present.some((row) => row.name === pipelineSchema)) {
    throw new RoleSetupError(`${database} has no ${pipelineSchema} schema yet: prepare the source (room-sync sources prepare) before its grants`);
  }
  for (const schema of schemas) {
    await client.query(`REVOKE ALL ON ALL TABLES IN SCHEMA ${quoteIdent(schema)} FROM ${quoteIdent(role)}`);
    if (await roleExists(client, pipelineRole)) await client.query(`REVOKE ALL ON ALL TABLES IN SCHEMA ${quoteIdent(schema)} FROM ${quoteIdent(pipelineRole)}`);
  }
  for (const statement of sourceGrantStatements(database, tables, role)) await client.query(statement);
}

/** A least-privileged URL is used as it is; say what it lacks, or holds beyond what it should, with the SQL an admin runs. */
async function adviseLeastPrivileged(client: pg.ClientBase, database: string, kind: DatabaseKind, user: string): Promise<string | null> {
  const problems: string[] = [];
  let statements: string[];
  if (kind.kind === 'unified') {
    const { schema, tables, views } = await schemaTables(client);
    statements = unifiedGrantStatements(database, schema, tables, views, user);
    for (const table of tables) {
      const qualified = `${quoteIdent(schema)}.${quoteIdent(table.name)}`;
      const needed = table.append_only ? 'SELECT,INSERT' : 'SELECT,INSERT,UPDATE,DELETE';
      const { rows } = await client.query<{ missing: boolean; excess: boolean }>(
        `SELECT NOT (${needed.split(',').map((p) => `has_table_privilege($1::regclass, '${p}')`).join(' AND ')}) AS missing,
                ${table.append_only ? `has_table_privilege($1::regclass, 'UPDATE,DELETE,TRUNCATE')` : 'false'} AS excess`,
        [qualified],
      );
      if (rows[0]?.missing) problems.push(`lacks ${needed} on ${table.name}`);
      if (rows[0]?.excess) problems.push(`may UPDATE, DELETE or TRUNCATE the append-only ${table.name} (revoke it)`);
    }
  } else {
    statements = sourceGrantStatements(database, kind.tables, user);
    const { rows } = await client.query<{ replication: boolean }>('SELECT rolreplication AS replication FROM pg_roles WHERE rolname = current_user');
    if (rows[0]?.replication !== true) problems.push('lacks REPLICATION (ALTER ROLE ... REPLICATION)');
    for (const table of [...kind.tables, heartbeatTable]) {
      const needed = table === heartbeatTable ? ['SELECT', 'INSERT', 'UPDATE'] : ['SELECT'];
      const { rows: privileges } = await client.query<{ ok: boolean | null }>(
        `SELECT ${needed.map((p) => `has_table_privilege(to_regclass($1), '${p}')`).join(' AND ')} AS ok`,
        [table],
      );
      if (privileges[0]?.ok !== true) problems.push(`lacks ${needed.join(', ')} on ${table}`);
    }
  }
  if (problems.length === 0) return null;
  return (
    `${database}: the configured role ${user} is least-privileged, so the pipeline connects as it, but it ${problems.join('; ')}. ` +
    `An admin grants:\n${statements.map((statement) => `  ${statement};`).join('\n')}`
  );
}

/** Set-up for the unified database (after its migrations): the pipeline's role and its grants. */
export async function ensureUnifiedPipelineRole(unifiedUrl: string, log: Log): Promise<RoleSetup> {
  return ensureRoleFor(unifiedUrl, unifiedKind(), log);
}

/** Set-up for a source database (after prepareSource): the connector's role and its grants. */
export async function ensureSourceCdcRole(sourceUrl: string, source: SourceName, log: Log): Promise<RoleSetup> {
  return ensureRoleFor(sourceUrl, sourceKind(source), log);
}
