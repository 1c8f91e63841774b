import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { sourceRoomValuesSchema, type MappingResult } from '../../src/mapping/change.js';
import { mapCloudProperty, mapCloudRoom, mapCloudRoomKey } from '../../src/mapping/cloud.js';
import { legacyHotelCode, mapLegacyProperty, mapLegacyRoom, mapLegacyRoomKey } from '../../src/mapping/legacy.js';

/** The contract's room type code table, written out here. */
const contractRoomTypes = [
  ['DBL', 'double'],
  ['KNG', 'king'],
  ['TWN', 'twin'],
  ['SGL', 'single'],
  ['STE', 'suite'],
  ['FAM', 'family'],
] as const;

function ok<T>(result: MappingResult<T>, label = 'mapping'): T {
  if (!result.ok) assert.fail(`${label}: expected a mapped row, got unmappable: ${result.reason}`);
  return result.value;
}

function refused<T>(result: MappingResult<T>, pattern: RegExp, label = 'mapping'): void {
  if (result.ok) assert.fail(`${label}: expected unmappable, got ${JSON.stringify(result.value)}`);
  assert.match(result.reason, pattern, label);
}

// ---------------------------------------------------------------- legacy

interface LegacyRoomRow {
  prop_cd: string;
  rm_nbr: string;
  rm_typ_cd: string | null;
  rate_amt: number | null;
  allot_qty: number | null;
  stat_cd: string;
  lst_upd_usr?: string | null;
}

function legacyRoom(overrides: Partial<LegacyRoomRow> = {}): LegacyRoomRow {
  // prop_cd is char(8): blank-padded as pg returns it.
  return { prop_cd: 'BER001  ', rm_nbr: '101', rm_typ_cd: 'DBL', rate_amt: 12900, allot_qty: 4, stat_cd: 'A', ...overrides };
}

describe('legacy room mapping', () => {
  test('an open room maps to unified terms; its currency is left to the property', () => {
    const mappedRoom = ok(mapLegacyRoom(legacyRoom({ lst_upd_usr: 'ops' })));
    assert.deepEqual(mappedRoom, {
      room: { hotelCode: 'BER001', roomCode: '101' },
      values: { roomType: 'double', rateMinor: 12900, currency: null, availability: 4, status: 'open' },
    });
    assert.ok(sourceRoomValuesSchema.safeParse(mappedRoom.values).success, 'values satisfy the canonical schema');
  });

  test('keys are upper(trim()) of prop_cd and rm_nbr', () => {
    const cases: Array<[string, string, string, string]> = [
      ['BER001  ', '101', 'BER001', '101'],
      ['ber001  ', ' 101a ', 'BER001', '101A'],
      ['  Ber1  ', '\t12b\t', 'BER1', '12B'],
      ['X       ', 'suite 7', 'X', 'SUITE 7'],
    ];
    for (const [propCd, rmNbr, hotelCode, roomCode] of cases) {
      assert.deepEqual(ok(mapLegacyRoom(legacyRoom({ prop_cd: propCd, rm_nbr: rmNbr }))).room, { hotelCode, roomCode }, `${propCd}/${rmNbr}`);
      assert.deepEqual(ok(mapLegacyRoomKey(legacyRoom({ prop_cd: propCd, rm_nbr: rmNbr }))), { hotelCode, roomCode });
    }
  });

  test('property: the key is the same whatever blanks and case surround the code', () => {
    const code = fc.stringMatching(/^[A-Z0-9][A-Z0-9 -]{0,6}[A-Z0-9]$|^[A-Z0-9]$/);
    const blanks = fc.constantFrom('', ' ', '  ', '\t');
    fc.assert(
      fc.property(code, code, blanks, blanks, fc.boolean(), (hotel, room, before, after, lower) => {
        const rmNbr = `${before}${lower ? room.toLowerCase() : room}${after}`;
        const propCd = `${lower ? hotel.toLowerCase() : hotel}${after}`;
        assert.deepEqual(ok(mapLegacyRoom(legacyRoom({ prop_cd: propCd, rm_nbr: rmNbr }))).room, { hotelCode: hotel, roomCode: room });
      }),
    );
  });

  test('each room type code maps as the contract says', () => {
    for (const [code, name] of contractRoomTypes) {
      assert.equal(ok(mapLegacyRoom(legacyRoom({ rm_typ_cd: code }))).values?.roomType, name, code);
    }
  });

  test('no room type code is no room type', () => {
    assert.equal(ok(mapLegacyRoom(legacyRoom({ rm_typ_cd: null }))).values?.roomType, null);
  });

  test('an unknown room type code is unmappable, and the reason says which', () => {
    refused(mapLegacyRoom(legacyRoom({ rm_typ_cd: 'QQQ' })), /unknown room type code "QQQ"/);
    refused(mapLegacyRoom(legacyRoom({ rm_typ_cd: 'DBX' })), /room type code/);
    // a cloud-style name is not a legacy code
    refused(mapLegacyRoom(legacyRoom({ rm_typ_cd: 'double' })), /room type code/);
  });

  test('stat_cd: A open, X closed, D the room has left legacy', () => {
    assert.equal(ok(mapLegacyRoom(legacyRoom({ stat_cd: 'A' }))).values?.status, 'open');
    assert.equal(ok(mapLegacyRoom(legacyRoom({ stat_cd: 'X' }))).values?.status, 'closed');
    const left = ok(mapLegacyRoom(legacyRoom({ stat_cd: 'D' })));
    assert.deepEqual(left, { room: { hotelCode: 'BER001', roomCode: '101' }, values: null });
  });

  test('an unknown stat_cd is unmappable', () => {
    refused(mapLegacyRoom(legacyRoom({ stat_cd: 'Z' })), /status code "Z"/);
    refused(mapLegacyRoom(legacyRoom({ stat_cd: '' })), /status code/);
  });

  test('the rate stays in minor units, null stays null', () => {
    assert.equal(ok(mapLegacyRoom(legacyRoom({ rate_amt: 15000 }))).values?.rateMinor, 15000);
    assert.equal(ok(mapLegacyRoom(legacyRoom({ rate_amt: 0 }))).values?.rateMinor, 0);
    assert.equal(ok(mapLegacyRoom(legacyRoom({ rate_amt: null }))).values?.rateMinor, null);
  });

  test('availability: zero and null kept, negative unmappable', () => {
    assert.equal(ok(mapLegacyRoom(legacyRoom({ allot_qty: 0 }))).values?.availability, 0);
    assert.equal(ok(mapLegacyRoom(legacyRoom({ allot_qty: null }))).values?.availability, null);
    refused(mapLegacyRoom(legacyRoom({ allot_qty: -1 })), /negative availability -1/);
  });

  test('a negative rate is unmappable', () => {
    refused(mapLegacyRoom(legacyRoom({ rate_amt: -100 })), /negative rate/);
  });

  test('a blank key is unmappable, and the reason names the column', () => {
    refused(mapLegacyRoom(legacyRoom({ rm_nbr: '   ' })), /blank room key \(rm_nbr\)/);
    refused(mapLegacyRoom(legacyRoom({ rm_nbr: '' })), /blank room key/);
    refused(mapLegacyRoom(legacyRoom({ prop_cd: '        ' })), /blank hotel key \(prop_cd\)/);
    refused(legacyHotelCode('  '), /blank hotel key/);
  });

  test('a row of the wrong shape is unmappable, and the reason names the column', () => {
    refused(mapLegacyRoom({ ...legacyRoom(), rate_amt: '129.00' }), /htl_room_inv.*rate_amt/);
    refused(mapLegacyRoom({ ...legacyRoom(), allot_qty: 1.5 }), /allot_qty/);
    const { stat_cd: _dropped, ...withoutStatus } = legacyRoom();
    refused(mapLegacyRoom(withoutStatus), /stat_cd/);
    refused(mapLegacyRoom(null), /htl_room_inv/);
  });
});

describe('legacy property mapping', () => {
  test('normalizes the code, class and currency', () => {
    assert.deepEqual(ok(mapLegacyProperty({ prop_cd: 'BER001  ', prop_nm: 'Berlin', mgmt_typ: 'L', crncy_cd: 'EUR' })), {
      hotelCode: 'BER001',
      mgmtType: 'L',
      currency: 'EUR',
    });
    assert.deepEqual(ok(mapLegacyProperty({ prop_cd: 'tyo1    ', mgmt_typ: 'C', crncy_cd: 'JPY' })), {
      hotelCode: 'TYO1',
      mgmtType: 'C',
      currency: 'JPY',
    });
    assert.equal(ok(mapLegacyProperty({ prop_cd: 'X', mgmt_typ: 'F', crncy_cd: 'BHD' })).mgmtType, 'F');
  });

  test('an unknown currency is unmappable, and the reason says which', () => {
    refused(mapLegacyProperty({ prop_cd: 'BER001', mgmt_typ: 'L', crncy_cd: 'ZZZ' }), /unknown currency "ZZZ"/);
  });

  test('a blank property code is unmappable', () => {
    refused(mapLegacyProperty({ prop_cd: '        ', mgmt_typ: 'L', crncy_cd: 'EUR' }), /blank hotel key/);
  });

  test('a wrong shape is unmappable', () => {
    refused(mapLegacyProperty({ prop_cd: 'BER001', mgmt_typ: null, crncy_cd: 'EUR' }), /htl_property.*mgmt_typ/);
  });
});

// ---------------------------------------------------------------- cloud

const propertyId = '0b6f6a7e-33c1-4a8e-9a53-5f5b1f9d2c11';
const roomId = '5a0f2d8c-7e1b-4c3a-8f2e-9d4b6a1c3e77';

interface CloudRoomRow {
  id: string;
  property_id: string;
  room_code: string;
  room_type: string | null;
  nightly_rate: string | null;
  currency: string | null;
  available_count: number | null;
  is_active: boolean;
  attributes?: unknown;
}

function cloudRoom(overrides: Partial<CloudRoomRow> = {}): CloudRoomRow {
  return {
    id: roomId,
    property_id: propertyId,
    room_code: '101',
    room_type: 'king',
    nightly_rate: '129.50',
    currency: 'EUR',
    available_count: 7,
    is_active: true,
    ...overrides,
  };
}

const hotels = new Map([[propertyId, 'BER001']]);
const hotelCodeOf = (id: string): string | undefined => hotels.get(id);

describe('cloud property mapping', () => {
  test('the hotel code is upper(external_code)', () => {
    assert.deepEqual(ok(mapCloudProperty({ id: propertyId, external_code: 'ber001', display_name: 'Berlin' })), {
      propertyId,
      hotelCode: 'BER001',
    });
  });

  test('a blank external_code is unmappable', () => {
    refused(mapCloudProperty({ id: propertyId, external_code: '  ' }), /blank hotel key \(external_code\)/);
  });

  test('a wrong shape is unmappable', () => {
    refused(mapCloudProperty({ id: 'not-a-uuid', external_code: 'ber001' }), /properties.*id/);
  });
});

describe('cloud room mapping', () => {
  test('a room maps to unified terms; numeric(12,2) arrives as a decimal string', () => {
    const mappedRoom = ok(mapCloudRoom(cloudRoom({ attributes: { view: 'sea' } }), hotelCodeOf));
    assert.deepEqual(mappedRoom, {
      room: { hotelCode: 'BER001', roomCode: '101' },
      values: { roomType: 'king', rateMinor: 12950, currency: 'EUR', availability: 7, status: 'open' },
    });
    assert.ok(sourceRoomValuesSchema.safeParse(mappedRoom.values).success, 'values satisfy the canonical schema');
  });

  test('the room code is upper(trim(room_code)); the hotel comes from the property', () => {
    assert.deepEqual(ok(mapCloudRoom(cloudRoom({ room_code: ' 101a ' }), hotelCodeOf)).room, { hotelCode: 'BER001', roomCode: '101A' });
    assert.deepEqual(ok(mapCloudRoomKey(cloudRoom({ room_code: 'ste-1' }), hotelCodeOf)), { hotelCode: 'BER001', roomCode: 'STE-1' });
  });

  test('a room of an unknown property is unmappable', () => {
    refused(mapCloudRoom(cloudRoom(), () => undefined), new RegExp(`unknown property ${propertyId}`));
  });

  test('a blank room code is unmappable', () => {
    refused(mapCloudRoom(cloudRoom({ room_code: '  ' }), hotelCodeOf), /blank room key \(room_code\)/);
  });

  test('nightly_rate is converted with the currency exponent', () => {
    const cases: Array<[string, string, number]> = [
      ['129.50', 'EUR', 12950],
      ['129.00', 'USD', 12900],
      ['0.01', 'GBP', 1],
      ['15000.00', 'JPY', 15000],
      ['12.50', 'BHD', 12500],
      ['3.25', 'KWD', 3250],
      ['9999999999.99', 'EUR', 999999999999],
    ];
    for (const [rate, currency, minor] of cases) {
      const values = ok(mapCloudRoom(cloudRoom({ nightly_rate: rate, currency }), hotelCodeOf)).values;
      assert.equal(values.rateMinor, minor, `${rate} ${currency}`);
      assert.equal(values.currency, currency);
    }
  });

  test('char(3) currency is normalized', () => {
    assert.equal(ok(mapCloudRoom(cloudRoom({ currency: 'eur' }), hotelCodeOf)).values.currency, 'EUR');
  });

  test('a fraction of a minor unit is unmappable', () => {
    refused(mapCloudRoom(cloudRoom({ nightly_rate: '15000.50', currency: 'JPY' }), hotelCodeOf), /fraction of a minor unit/);
  });

  test('an unknown currency is unmappable, with or without a rate', () => {
    refused(mapCloudRoom(cloudRoom({ currency: 'ZZZ' }), hotelCodeOf), /unknown currency "ZZZ"/);
    refused(mapCloudRoom(cloudRoom({ nightly_rate: null, currency: 'ZZZ' }), hotelCodeOf), /unknown currency "ZZZ"/);
  });

  test('a rate without a currency is unmappable; no rate and no currency is no rate', () => {
    refused(mapCloudRoom(cloudRoom({ currency: null }), hotelCodeOf), /no currency/);
    const values = ok(mapCloudRoom(cloudRoom({ nightly_rate: null, currency: null }), hotelCodeOf)).values;
    assert.equal(values.rateMinor, null);
    assert.equal(values.currency, null);
  });

  test('negative rate and negative availability are unmappable', () => {
    refused(mapCloudRoom(cloudRoom({ nightly_rate: '-1.00' }), hotelCodeOf), /negative rate/);
    refused(mapCloudRoom(cloudRoom({ available_count: -3 }), hotelCodeOf), /negative availability -3/);
  });

  test('availability: zero and null kept', () => {
    assert.equal(ok(mapCloudRoom(cloudRoom({ available_count: 0 }), hotelCodeOf)).values.availability, 0);
    assert.equal(ok(mapCloudRoom(cloudRoom({ available_count: null }), hotelCodeOf)).values.availability, null);
  });

  test('is_active: true open, false closed', () => {
    assert.equal(ok(mapCloudRoom(cloudRoom({ is_active: true }), hotelCodeOf)).values.status, 'open');
    assert.equal(ok(mapCloudRoom(cloudRoom({ is_active: false }), hotelCodeOf)).values.status, 'closed');
  });

  test('room_type is taken as is', () => {
    assert.equal(ok(mapCloudRoom(cloudRoom({ room_type: 'suite' }), hotelCodeOf)).values.roomType, 'suite');
    assert.equal(ok(mapCloudRoom(cloudRoom({ room_type: null }), hotelCodeOf)).values.roomType, null);
  });

  test('a float nightly_rate is a wrong shape (pg gives numeric as text), and the reason names the column', () => {
    refused(mapCloudRoom({ ...cloudRoom(), nightly_rate: 129.5 }, hotelCodeOf), /room_inventory.*nightly_rate/);
    refused(mapCloudRoom({ ...cloudRoom(), is_active: 't' }, hotelCodeOf), /is_active/);
  });

  test('property: a numeric(12,2) rate string maps to the same minor units', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 12n - 1n }), fc.constantFrom('EUR', 'USD', 'GBP', 'BHD', 'KWD'), (cents, currency) => {
        const text = `${cents / 100n}.${(cents % 100n).toString().padStart(2, '0')}`;
        const scale = currency === 'BHD' || currency === 'KWD' ? 10n : 1n;
        const values = ok(mapCloudRoom(cloudRoom({ nightly_rate: text, currency }), hotelCodeOf), text).values;
        assert.equal(values.rateMinor, Number(cents * scale), `${text} ${currency}`);
        assert.equal(values.currency, currency);
      }),
    );
  });

  test('property: whole JPY amounts map, any non-zero sen is refused', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 10n - 1n }), fc.integer({ min: 0, max: 99 }), (yen, sen) => {
        const text = `${yen}.${sen.toString().padStart(2, '0')}`;
        const result = mapCloudRoom(cloudRoom({ nightly_rate: text, currency: 'JPY' }), hotelCodeOf);
        if (sen === 0) assert.equal(ok(result, text).values.rateMinor, Number(yen));
        else refused(result, /fraction of a minor unit/, text);
      }),
    );
  });
});
