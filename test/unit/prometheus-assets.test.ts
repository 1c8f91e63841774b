// deploy/prometheus and deploy/grafana read what the worker exports: every room_sync_* name
// they use must exist in src/observability/metrics.ts (a renamed metric would silently make an
// alert never fire). promtool itself checks and unit-tests the rules (npm run test:rules).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { createMetrics } from '../../src/observability/metrics.js';
import { projectRoot } from '../../src/setup/source-schemas.js';

const rulesFile = path.join(projectRoot, 'deploy', 'prometheus', 'room-sync.rules.yml');
const rulesTestFile = path.join(projectRoot, 'deploy', 'prometheus', 'room-sync.rules.test.yml');
const dashboardFile = path.join(projectRoot, 'deploy', 'grafana', 'room-sync.json');

async function exportedNames(): Promise<Set<string>> {
  const metrics = await createMetrics().registry.getMetricsAsJSON();
  return new Set(metrics.flatMap((metric) => (metric.type.toString() === 'histogram' ? ['_bucket', '_sum', '_count'].map((suffix) => `${metric.name}${suffix}`) : [metric.name])));
}

const usedNames = (text: string) => new Set(text.match(/room_sync_[a-z0-9_]+/g) ?? []);

interface Rule {
  readonly alert: string;
  readonly expr: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

test('the alerting rules use only metrics the worker exports, and each has a severity and a summary', async () => {
  const exported = await exportedNames();
  const text = await readFile(rulesFile, 'utf8');
  for (const name of usedNames(text)) assert.ok(exported.has(name), `${name} (in the rules) is not exported by createMetrics()`);
  const rules = (parse(text) as { groups: { rules: Rule[] }[] }).groups.flatMap((group) => group.rules);
  assert.ok(rules.length >= 10);
  for (const rule of rules) {
    assert.match(rule.labels?.['severity'] ?? '', /^(page|warning|none)$/, `${rule.alert} severity`);
    assert.ok(rule.annotations?.['summary'], `${rule.alert} summary`);
  }
  for (const required of ['room_sync_source_lag_seconds', 'room_sync_oldest_unapplied_change_age_seconds', 'room_sync_slot_retained_wal_bytes', 'room_sync_dead_letters', 'room_sync_quarantined_rooms', 'room_sync_monitor_last_check_timestamp_seconds']) {
    assert.ok(rules.some((rule) => rule.expr.includes(required)), `a rule on ${required}`);
  }
  assert.ok(rules.some((rule) => /absent\(up\{job="room-sync"\}/.test(rule.expr)), 'a rule for a pipeline Prometheus cannot scrape');
  // Every rule is exercised by promtool's unit tests.
  const tests = await readFile(rulesTestFile, 'utf8');
  for (const rule of rules) assert.match(tests, new RegExp(`alertname: ${rule.alert}\\b`), `${rule.alert} has a promtool test`);
});

test('the Grafana dashboard is valid JSON on metrics the worker exports', async () => {
  const exported = await exportedNames();
  const text = await readFile(dashboardFile, 'utf8');
  const dashboard = JSON.parse(text) as { uid: string; panels: { id: number; type: string; targets?: { expr: string }[] }[] };
  assert.equal(dashboard.uid, 'room-sync');
  for (const name of usedNames(text)) assert.ok(exported.has(name), `${name} (in the dashboard) is not exported by createMetrics()`);
  const ids = dashboard.panels.map((panel) => panel.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  for (const panel of dashboard.panels.filter((candidate) => candidate.type !== 'row')) assert.ok((panel.targets ?? []).length > 0, `panel ${panel.id} has a query`);
  // Everything the rules alert on is on a panel too.
  const rules = await readFile(rulesFile, 'utf8');
  for (const name of usedNames(rules)) assert.ok(text.includes(name), `${name} is alerted on but on no panel`);
});
