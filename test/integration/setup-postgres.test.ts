// Exercises the setup helpers against the real local PostgreSQL (trust auth).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import {
  adminUrlFor,
  dropDatabase,
  ensureDatabase,
  ensurePostgresRunning,
} from '../../src/setup/postgres.js';

const adminUrl = process.env['PG_ADMIN_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const scratchName = 'rs_setup_scratch';
const scratchUrl = new URL(adminUrl);
scratchUrl.pathname = `/${scratchName}`;

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

test('adminUrlFor swaps only the database', () => {
  assert.equal(
    adminUrlFor('postgres://u:p@db.example:6543/unified_inventory?sslmode=disable'),
    'postgres://u:p@db.example:6543/postgres?sslmode=disable',
  );
});

test('ensureDatabase creates once, dropDatabase removes it and its slots', async () => {
  await ensurePostgresRunning(adminUrl, () => undefined);
  await dropDatabase(adminUrl, scratchName); // clean slate after an aborted run

  const logs: string[] = [];
  assert.equal(await ensureDatabase(adminUrl, scratchUrl.toString(), (m) => logs.push(m)), true);
  assert.equal(await ensureDatabase(adminUrl, scratchUrl.toString(), (m) => logs.push(m)), false);
  assert.equal(logs.length, 1);

  // A slot in the database must not block the drop (only possible with wal_level=logical).
  const [wal] = await query<{ wal_level: string }>(adminUrl, 'SHOW wal_level');
  if (wal?.wal_level === 'logical') {
    await query(
      scratchUrl.toString(),
      "SELECT pg_create_logical_replication_slot('rs_setup_scratch_slot', 'pgoutput')",
    );
  }

  await dropDatabase(adminUrl, scratchName);
  const dbs = await query(adminUrl, `SELECT 1 FROM pg_database WHERE datname = '${scratchName}'`);
  assert.equal(dbs.length, 0);
  const slots = await query(
    adminUrl,
    `SELECT 1 FROM pg_replication_slots WHERE database = '${scratchName}'`,
  );
  assert.equal(slots.length, 0);
});
