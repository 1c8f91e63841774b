import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OptionsError, parseOptions } from '../../bench/options.js';
import type { StepResult } from '../../bench/results.js';
import { floorComparison } from '../../bench/summary.js';
import { counterDeltas, isWorkflowTaskTrouble } from '../../bench/temporal-metrics.js';

test('bench options: targets and phases default to all, take lists, refuse unknown names', () => {
  const defaults = parseOptions([]);
  assert.deepEqual(defaults?.targets, ['ours', 'floor', 'baseline']);
  assert.deepEqual(defaults?.phases, ['ramp', 'age', 'overload', 'cold', 'memory']);
  assert.equal(defaults?.baseline, true);
  const some = parseOptions(['--targets', 'floor,ours', '--phases', 'overload,ramp']);
  assert.deepEqual(some?.targets, ['ours', 'floor']);
  assert.deepEqual(some?.phases, ['ramp', 'overload']);
  assert.equal(some?.baseline, false);
  assert.deepEqual(parseOptions(['--no-baseline'])?.targets, ['ours', 'floor']);
  assert.throws(() => parseOptions(['--targets', 'ours,nope']), OptionsError);
  assert.throws(() => parseOptions(['--phases', '']), OptionsError);
  assert.equal(parseOptions(['--max-other-load', '0.5'])?.maxOtherLoad, 0.5);
});

function step(target: 'ours' | 'floor', rate: number, cpu: Partial<Record<'temporal' | 'worker' | 'connectors' | 'postgres', number>>, unreliable = false): StepResult {
  return {
    label: `${target} ramp ${rate}/s`,
    target,
    phase: 'ramp',
    offered_per_s: rate,
    cpu_ms_per_change: cpu,
    latency: { p99_ms: 100 },
    sustained: true,
    unreliable,
  } as unknown as StepResult;
}

test('floor comparison: steps of the same phase and rate, CPU per change by component and ours/floor', () => {
  const ours = [step('ours', 50, { temporal: 12, worker: 12, connectors: 3, postgres: 8 }), step('ours', 100, { temporal: 1, worker: 1, connectors: 1, postgres: 1 }, true)];
  const floor = [step('floor', 50, { temporal: 10, worker: 10, connectors: 2, postgres: 1 }), step('floor', 100, { temporal: 1, worker: 1, connectors: 1, postgres: 1 }), step('floor', 75, { temporal: 1 })];
  const rows = floorComparison(ours, floor);
  assert.equal(rows.length, 2, 'a floor step with no step of ours at its rate is left out');
  const [at50, at100] = rows;
  assert.equal(at50?.ours.total, 35);
  assert.equal(at50?.floor.total, 23);
  assert.equal(at50?.ratio.total, Math.round((35 / 23) * 1000) / 1000);
  assert.equal(at50?.ratio.postgres, 8);
  assert.equal(at50?.unreliable, false);
  assert.equal(at100?.unreliable, true, 'unreliable when either step is');
});

test('Temporal metrics: counter deltas of workflow task timeouts and failures only', () => {
  const timeout = 'start_to_close_timeout{first_attempt="true",namespace="default",operation="TimerActiveTaskWorkflowTaskTimeout",service_name="history"}';
  const sticky = 'schedule_to_start_timeout{namespace="default",operation="TimerActiveTaskWorkflowTaskTimeout",service_name="history"}';
  const failed = 'failed_workflow_tasks{failure="UnhandledCommand",namespace="default",operation="RespondWorkflowTaskFailed",service_name="history"}';
  const activity = 'start_to_close_timeout{namespace="default",operation="TimerActiveTaskActivityTimeout",service_name="history"}';
  const system = 'failed_workflow_tasks{failure="x",namespace="temporal_system",operation="RespondWorkflowTaskFailed"}';
  const before = new Map([[timeout, 2], ['service_requests{namespace="default",operation="PollWorkflowTaskQueue"}', 10]]);
  const after = new Map([[timeout, 5], [sticky, 1], [failed, 4], [activity, 3], [system, 7], ['service_requests{namespace="default",operation="PollWorkflowTaskQueue"}', 50]]);
  assert.deepEqual(counterDeltas(before, after, isWorkflowTaskTrouble), { [timeout]: 3, [sticky]: 1, [failed]: 4 });
});
