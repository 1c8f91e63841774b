// The fault suite's audit ledger (bench/faults/audit-ledger.ts) on a real conflict_audit: its
// verdicts (lost, duplicated) are only as good as its reads, which page through the table.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AuditLedger } from '../../bench/faults/audit-ledger.js';
import { createTestDatabases, type TestDatabases } from '../support/environment.js';

let dbs: TestDatabases;

before(async () => {
  dbs = await createTestDatabases('ledger');
});

after(async () => {
  await dbs?.drop();
});

test('a fresh read of the audit ledger sees every row, over many pages (ids above 9,999 included)', async () => {
  const rows = 12_345; // more than two pages of 5,000, and ids of four and five digits
  await dbs.unifiedPool.query(
    `INSERT INTO conflict_audit (hotel_code, room_code, field, legacy_value, cloud_value, winning_value, winning_source, rule, policy_version,
                                 hotel_class, trigger_source, trigger_position)
     SELECT 'LEDGER', 'R' || (n % 45), 'availability', to_jsonb(2 * n + 1), to_jsonb(2 * n), to_jsonb(2 * n), 'cloud',
            'default/availability: owner cloud', 'test', 'default', 'legacy', lpad(n::text, 8, '0')
       FROM generate_series(1, $1::int) AS n`,
    [rows],
  );
  const ledger = new AuditLedger(dbs.unifiedPool);
  await ledger.poll();
  const counts = ledger.counts([]);
  assert.equal(counts.auditRows, rows);
  assert.equal(counts.duplicated, 0);
});
