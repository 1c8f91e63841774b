// A partner altering a source table while the stream runs: the relation message's columns
// are compared to say what changed, and rows of the altered table map while their values
// are still valid (an integer column retyped to bigint arrives as text), else are refused
// naming the missing column. A delete needs only the key columns.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { diffRelationColumns } from '../../src/cdc/relation-changes.js';
import { mapCloudRoom, mapCloudRoomKey } from '../../src/mapping/cloud.js';
import { mapLegacyRoom, mapLegacyRoomKey } from '../../src/mapping/legacy.js';

const int4 = 23;
const int8 = 20;
const text = 25;
const numeric = 1700;

describe('diffRelationColumns', () => {
  const columns = [
    { name: 'id', typeOid: 2950, typeMod: -1 },
    { name: 'available_count', typeOid: int4, typeMod: -1 },
    { name: 'nightly_rate', typeOid: numeric, typeMod: 786438 },
  ];

  test('the same columns: no change', () => {
    assert.equal(diffRelationColumns(columns, columns.map((column) => ({ ...column }))), null);
  });

  test('added, dropped and retyped columns, with type names', () => {
    const next = [
      { name: 'id', typeOid: 2950, typeMod: -1 },
      { name: 'available_count', typeOid: int8, typeMod: -1 },
      { name: 'partner_note', typeOid: text, typeMod: -1 },
    ];
    assert.deepEqual(diffRelationColumns(columns, next), {
      added: ['partner_note'],
      dropped: ['nightly_rate'],
      retyped: ['available_count int4→int8'],
    });
  });

  test('a changed type modifier is a retype', () => {
    const currency = { name: 'currency', typeOid: 1042, typeMod: 7 };
    assert.deepEqual(diffRelationColumns([currency], [{ ...currency, typeOid: 1043, typeMod: 12 }])?.retyped, ['currency bpchar(3)→varchar(8)']);
    const next = columns.map((column) => (column.name === 'nightly_rate' ? { ...column, typeMod: 917510 } : column));
    assert.deepEqual(diffRelationColumns(columns, next)?.retyped, ['nightly_rate numeric(12,2)→numeric(14,2)']);
  });
});

const property = '9b2f1c1e-5d0a-4a43-9d6e-7f1d2a3b4c5d';
const hotelCodeOf = (id: string) => (id === property ? 'BER001' : undefined);
const cloudRow = {
  id: '0c6f8a9e-1b2c-4d3e-8f40-5a6b7c8d9e0f',
  property_id: property,
  room_code: '101',
  room_type: 'double',
  nightly_rate: '129.00',
  currency: 'EUR',
  available_count: 4,
  is_active: true,
  attributes: {},
};
const legacyRow = { prop_cd: 'BER001  ', rm_nbr: '101', rm_typ_cd: 'DBL', rate_amt: 12900, allot_qty: 3, stat_cd: 'A' };

describe('rows of an altered source table', () => {
  test('an integer column retyped to bigint or numeric (integer text) still maps', () => {
    const cloud = mapCloudRoom({ ...cloudRow, available_count: '12' }, hotelCodeOf);
    assert.ok(cloud.ok);
    assert.equal(cloud.value.values.availability, 12);
    const legacy = mapLegacyRoom({ ...legacyRow, rate_amt: '9007199254740991', allot_qty: '0' });
    assert.ok(legacy.ok && legacy.value.values);
    assert.deepEqual([legacy.value.values.rateMinor, legacy.value.values.availability], [Number.MAX_SAFE_INTEGER, 0]);
  });

  test('integer text that is no safe integer is refused with the column', () => {
    for (const value of ['9007199254740993', '12.5', 'twelve', '']) {
      const result = mapCloudRoom({ ...cloudRow, available_count: value }, hotelCodeOf);
      assert.ok(!result.ok, value);
      assert.match(result.reason, /available_count/, value);
    }
  });

  test('a mapped column missing from the row is named as missing', () => {
    const { room_type: _dropped, ...cloudWithout } = cloudRow;
    const cloud = mapCloudRoom(cloudWithout, hotelCodeOf);
    assert.ok(!cloud.ok);
    assert.equal(cloud.reason, 'unexpected room_inventory row: room_type: column missing (dropped or renamed at the source?)');
    const { allot_qty: _gone, ...legacyWithout } = legacyRow;
    const legacy = mapLegacyRoom(legacyWithout);
    assert.ok(!legacy.ok);
    assert.match(legacy.reason, /allot_qty: column missing/);
  });

  test("a row's key needs only the key columns (a delete's old row with a column dropped or retyped)", () => {
    const { room_type: _dropped, ...cloudWithout } = cloudRow;
    assert.deepEqual(mapCloudRoomKey({ ...cloudWithout, available_count: 'many' }, hotelCodeOf), { ok: true, value: { hotelCode: 'BER001', roomCode: '101' } });
    const { rm_typ_cd: _gone, ...legacyWithout } = legacyRow;
    assert.deepEqual(mapLegacyRoomKey({ ...legacyWithout, allot_qty: 1.5 }), { ok: true, value: { hotelCode: 'BER001', roomCode: '101' } });
  });
});
