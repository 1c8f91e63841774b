import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareRow, type CheckRow } from '../../src/audit/check.js';
import { resolveRoom } from '../../src/merge/resolve.js';
import { loadPolicy } from '../../src/policy/load.js';
import { projectRoot } from '../../src/setup/source-schemas.js';

const sources = {
  legacy: { position: '0000000001000000:00000001', commitTime: '2026-11-27T09:00:00.000Z', values: { roomType: 'double', rateMinor: 12900, currency: null, availability: 2, status: 'open' as const } },
  cloud: { position: '0000000001000000:00000002', commitTime: '2026-11-27T09:00:01.000Z', values: { roomType: 'double', rateMinor: 13500, currency: 'EUR', availability: 4, status: 'open' as const } },
  legacyHotel: { hotelCode: 'CHK1', present: true, mgmtType: 'L', currency: 'EUR', position: '0000000000000100:00000001', commitTime: '2026-11-27T08:00:00.000Z' },
};

async function storedRowFor(policyVersion: string): Promise<{ row: CheckRow; resolved: ReturnType<typeof resolveRoom> }> {
  const policy = await loadPolicy(`${projectRoot}/policies/default.yaml`);
  const resolved = resolveRoom(policy, sources);
  const row: CheckRow = {
    hotel_code: 'CHK1',
    room_code: '1',
    hotel_class: resolved.hotelClass,
    room_type: resolved.roomType,
    rate_minor: String(resolved.rate?.rate_minor ?? ''),
    currency: resolved.rate?.currency ?? null,
    availability: resolved.availability,
    status: resolved.status,
    rate_source: resolved.decisions.rate.source,
    availability_source: resolved.decisions.availability.source,
    room_type_source: resolved.decisions.room_type.source,
    status_source: resolved.decisions.status.source,
    availability_owner: resolved.decisions.availability.owner,
    policy_version: policyVersion,
    has_sources: true,
    legacy: sources.legacy,
    cloud: sources.cloud,
    legacy_hotel: sources.legacyHotel,
  };
  return { row, resolved };
}

test('a row the active policy reproduces may carry the older version a policy change left it with', async () => {
  const { row, resolved } = await storedRowFor('older-policy@123');
  assert.deepEqual(compareRow(row, resolved), []);
});

test('a row that differs is reported, with its policy version when that differs too', async () => {
  const { row, resolved } = await storedRowFor('older-policy@123');
  const differences = compareRow({ ...row, availability: 9 }, resolved);
  assert.deepEqual(differences.map((difference) => difference.column), ['availability', 'policy_version']);
  const sameVersion = await storedRowFor(resolved.policyVersion);
  assert.deepEqual(compareRow({ ...sameVersion.row, rate_source: 'cloud' }, resolved).map((difference) => difference.column), ['rate']);
});
