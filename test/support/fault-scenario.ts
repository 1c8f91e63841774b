// A scenario of `npm run faults` (bench/faults) as a test: a small load, the fault, then every
// committed change applied and audited exactly once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rowPassed, runScenario, scenarios, type ScenarioSettings } from '../../bench/faults/scenarios.js';

const settings: ScenarioSettings = {
  prefix: 'test',
  rate: 5,
  hotels: 3,
  rooms: 12,
  seed: 20_261_206,
  warmupS: 4,
  afterS: 4,
  convergeTimeoutS: 180,
  sourceOutageS: 120,
  readOnlyS: 60,
  soakMinutes: 0,
  keepDatabases: false,
  log: (message) => console.log(`[faults.test] ${message}`),
};

export function faultTest(id: number): void {
  const scenario = scenarios.find((candidate) => candidate.id === id);
  if (!scenario) throw new Error(`no scenario ${id}`);
  test(`fault ${id}: ${scenario.name}: nothing lost, nothing duplicated, converges`, { timeout: 600_000 }, async () => {
    const row = await runScenario(scenario, settings);
    console.log(`[faults.test] ${JSON.stringify(row)}`);
    assert.ok(row.committed > 0, 'the load committed changes');
    assert.equal(row.lost, 0, 'lost');
    assert.equal(row.duplicated, 0, 'duplicated');
    assert.equal(row.unexpected, 0, 'audit rows matching no write');
    assert.ok(row.converged, 'converged');
    assert.deepEqual(row.failures, []);
    assert.ok(rowPassed(row));
  });
}
