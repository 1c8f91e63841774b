// Which credentials the running pipeline connects with. Set-up and migrations use the
// configured URLs (they may name a superuser or the owner of the databases); the pipeline
// never does: where the URL's role could alter the audit (or, on a source, is an owner or a
// superuser) the pipeline connects with the same URL as a least-privileged role of its own
// that src/setup/roles.ts creates on that server. A URL that already names a
// least-privileged role is used as it is. Every pipeline connection (the unified pool, the
// source pools, the replication connections) takes its URL from here, through Resources.
import pg from 'pg';
import type { AppConfig } from '../config/env.js';
import { capturedTables, heartbeatTable, pipelineSchema } from '../cdc/source-descriptor.js';
import type { SourceName } from '../domain/room.js';

/** The unified database: DML on the operational tables, only SELECT and INSERT on the append-only ones. */
export const pipelineRole = 'room_sync_pipeline';
/** Each source: LOGIN REPLICATION, SELECT on the captured tables, its heartbeat table. */
export const cdcRole = 'room_sync_cdc';

/** Append-only by name, whatever their triggers say; any other table whose trigger calls an `*append_only*` function is too. */
export const appendOnlyTables = ['conflict_audit', 'unified_field_history', 'policy_versions'] as const;

export class PipelineCredentialsError extends Error {
  override readonly name = 'PipelineCredentialsError';
}

/** What the pipeline connects to one database with. */
export interface PipelineConnection {
  readonly url: string;
  /** The role it connects as. */
  readonly role: string;
  /** True when the configured URL's role was too powerful and `role` is one of the pipeline's own. */
  readonly derived: boolean;
}

export interface PipelineUrls {
  readonly unified: PipelineConnection;
  readonly legacy: PipelineConnection;
  readonly cloud: PipelineConnection;
}

export type DatabaseKind = { readonly kind: 'unified' } | { readonly kind: 'source'; readonly tables: readonly string[] };

export function unifiedKind(): DatabaseKind {
  return { kind: 'unified' };
}

export function sourceKind(source: SourceName): DatabaseKind {
  return { kind: 'source', tables: capturedTables[source] };
}

/** The URL with its user replaced; the password stays (set-up gives the pipeline's roles the configured URL's password). */
export function withUser(databaseUrl: string, user: string): string {
  const url = new URL(databaseUrl);
  url.username = encodeURIComponent(user);
  return url.toString();
}

export function userOf(databaseUrl: string): string {
  return decodeURIComponent(new URL(databaseUrl).username);
}

/** The pipeline's own role for a kind of database. */
export function roleFor(kind: DatabaseKind): string {
  return kind.kind === 'unified' ? pipelineRole : cdcRole;
}

/**
 * The append-only tables of the current schema, with the partitions of any of them: the
 * three by name, and any table whose (non-internal) trigger calls an `*append_only*` function.
 * One row per table of the schema: `append_only` says which kind it is.
 */
export const schemaTablesSql = `
  WITH tables AS (
    SELECT c.oid, c.relname::text AS name, c.relowner
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
  ), marked AS (
    SELECT t.oid FROM tables t
     WHERE t.name = ANY($1::text[])
        OR EXISTS (SELECT 1 FROM pg_trigger g JOIN pg_proc p ON p.oid = g.tgfoid
                    WHERE g.tgrelid = t.oid AND NOT g.tgisinternal AND p.proname LIKE '%append\\_only%')
  )
  SELECT t.name, t.relowner,
         (t.oid IN (SELECT oid FROM marked)
          OR EXISTS (SELECT 1 FROM pg_partition_ancestors(t.oid) a WHERE a.relid IN (SELECT oid FROM marked))) AS append_only
    FROM tables t
   ORDER BY t.name`;

export interface RoleStanding {
  readonly user: string;
  readonly superuser: boolean;
  /** Owns (or is a member of the owner of) an audit table or its schema; on a source, a captured table, its schema or the heartbeat. */
  readonly owner: boolean;
  /** Why the role must not be the pipeline's, or null. */
  readonly reason: string | null;
}

/** Whether the client's role could alter what the pipeline must not: a superuser, or an owner of the protected objects. */
export async function inspectRole(client: pg.ClientBase, kind: DatabaseKind): Promise<RoleStanding> {
  const { rows: roleRows } = await client.query<{ user: string; superuser: boolean; owns_schema: boolean }>(
    `SELECT current_user::text AS user, r.rolsuper AS superuser,
            coalesce((SELECT pg_has_role(current_user, n.nspowner, 'MEMBER') FROM pg_namespace n WHERE n.nspname = current_schema()), false) AS owns_schema
       FROM pg_roles r WHERE r.rolname = current_user`,
  );
  const role = roleRows[0];
  if (!role) throw new PipelineCredentialsError('cannot read the connected role from pg_roles');
  let owned: string[];
  if (kind.kind === 'unified') {
    const { rows } = await client.query<{ name: string; owned: boolean }>(
      `SELECT s.name, pg_has_role(current_user, s.relowner, 'MEMBER') AS owned FROM (${schemaTablesSql}) s WHERE s.append_only`,
      [appendOnlyTables],
    );
    owned = rows.filter((row) => row.owned).map((row) => row.name);
    if (role.owns_schema) owned.unshift('its schema');
  } else {
    const wanted = [...kind.tables, heartbeatTable];
    const { rows } = await client.query<{ name: string; owned: boolean }>(
      `SELECT n.nspname || '.' || c.relname AS name,
              pg_has_role(current_user, c.relowner, 'MEMBER') OR pg_has_role(current_user, n.nspowner, 'MEMBER') AS owned
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname || '.' || c.relname = ANY($1::text[])`,
      [wanted],
    );
    owned = rows.filter((row) => row.owned).map((row) => row.name);
    const { rows: schemas } = await client.query<{ owned: boolean }>(
      `SELECT pg_has_role(current_user, nspowner, 'MEMBER') AS owned FROM pg_namespace WHERE nspname = ANY($1::text[])`,
      [[...new Set([...kind.tables.map((table) => table.split('.')[0] ?? 'public'), pipelineSchema])]],
    );
    if (schemas.some((row) => row.owned)) owned.unshift('their schema');
  }
  const owner = owned.length > 0;
  const what = kind.kind === 'unified' ? 'audit' : 'captured';
  const reason = role.superuser ? 'is a superuser' : owner ? `owns the ${what} objects (${owned.join(', ')})` : null;
  return { user: role.user, superuser: role.superuser, owner, reason };
}

async function withClient<T>(databaseUrl: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000, application_name: 'room-sync credentials' });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The URL the pipeline connects to one database with: the configured one when its role
 * is already least-privileged, else the same URL as the pipeline's own role (which must
 * exist: `room-sync setup`, `migrate`, `sources prepare` and `start` create it).
 */
export async function resolvePipelineConnection(databaseUrl: string, kind: DatabaseKind, variable: string): Promise<PipelineConnection> {
  const role = roleFor(kind);
  return withClient(databaseUrl, async (client) => {
    const standing = await inspectRole(client, kind);
    if (standing.reason === null) return { url: databaseUrl, role: standing.user, derived: false };
    const { rows } = await client.query<{ rolcanlogin: boolean }>('SELECT rolcanlogin FROM pg_roles WHERE rolname = $1', [role]);
    if (rows[0]?.rolcanlogin !== true) {
      throw new PipelineCredentialsError(
        `${variable} names ${standing.user}, which ${standing.reason}; the pipeline does not run as it but as ${role}, ` +
          `which ${rows.length === 0 ? 'does not exist' : 'cannot log in'} on that server: run \`room-sync setup\` (or \`migrate\` / \`sources prepare\`) ` +
          `with that URL, or point ${variable} at a least-privileged role (docs/operations.md, "Database roles")`,
      );
    }
    return { url: withUser(databaseUrl, role), role, derived: true };
  });
}

/** The three connections of the running pipeline, each decided on its own. */
export async function resolvePipelineUrls(config: AppConfig): Promise<PipelineUrls> {
  const [unified, legacy, cloud] = await Promise.all([
    resolvePipelineConnection(config.UNIFIED_DATABASE_URL, unifiedKind(), 'UNIFIED_DATABASE_URL'),
    resolvePipelineConnection(config.LEGACY_DATABASE_URL, sourceKind('legacy'), 'LEGACY_DATABASE_URL'),
    resolvePipelineConnection(config.CLOUD_DATABASE_URL, sourceKind('cloud'), 'CLOUD_DATABASE_URL'),
  ]);
  return { unified, legacy, cloud };
}
