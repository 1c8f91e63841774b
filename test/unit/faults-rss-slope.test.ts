import assert from 'node:assert/strict';
import { test } from 'node:test';
import { byMinute, slopeMiBPerHour } from '../../bench/faults/scenarios.js';

test('RSS slope: least squares over the samples, in MiB per hour', () => {
  // 1 MiB (1024 KiB) more every minute is 60 MiB/h, whatever the offset.
  const rising = Array.from({ length: 10 }, (_, minute) => ({ atS: minute * 60, kib: 200_000 + minute * 1_024 }));
  assert.ok(Math.abs((slopeMiBPerHour(rising) ?? 0) - 60) < 1e-9);
  const flat = rising.map((sample, index) => ({ atS: sample.atS, kib: 200_000 + (index % 2 === 0 ? 512 : -512) }));
  assert.ok(Math.abs(slopeMiBPerHour(flat) ?? 1) < 5);
  assert.equal(slopeMiBPerHour(rising.slice(0, 1)), null);
  assert.equal(slopeMiBPerHour([{ atS: 5, kib: 1 }, { atS: 5, kib: 2 }]), null);
});

test('RSS by minute: the last sample of each minute, in MiB', () => {
  const samples = [
    { atS: 10, kib: 102_400 },
    { atS: 50, kib: 104_448 },
    { atS: 70, kib: 105_000 },
    { atS: 190, kib: 110_592 },
  ];
  assert.deepEqual(byMinute(samples), [102, 102.5, 108]);
  assert.deepEqual(byMinute([]), []);
});
