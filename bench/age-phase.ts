import type pg from 'pg';
import { say } from './progress.js';
import { describeStep, type StepFactory } from './ramp.js';
import type { StepResult } from './results.js';
import { runStep, type StepRig } from './step.js';
import { totalCpuMsPerChange } from './summary.js';

export interface AgeResult {
  readonly rate: number;
  /** Month partitions attached to each audit table in each configuration (the DEFAULT partition apart). */
  readonly partitions: { readonly one_month: number; readonly aged: number };
  readonly months_with_rows: number;
  readonly rows_per_month_per_table: number;
  readonly fill_s: number;
  readonly one_month: StepResult;
  readonly aged: StepResult;
  /** Pipeline CPU ms per change (its processes and its Postgres) in each configuration, and aged / one month. */
  readonly cpu_ms_per_change: { readonly one_month: number | null; readonly aged: number | null; readonly ratio: number | null };
  /** The same per component: temporal, worker, connectors, postgres. */
  readonly component_ratio: Readonly<Record<string, number | null>>;
}

const round = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits;
const ratio = (a: number | null | undefined, b: number | null | undefined) => (a == null || b == null || b === 0 ? null : round(a / b));
const tables = [
  { name: 'conflict_audit', key: 'resolved_at' },
  { name: 'unified_field_history', key: 'applied_at' },
] as const;

/** Month partitions of the audit tables, `YYYY-MM` → partition name, per table. */
async function monthPartitions(unified: pg.Pool, table: string): Promise<Map<string, string>> {
  const { rows } = await unified.query<{ name: string; month: string | null }>(
    `SELECT c.relname::text AS name,
            to_char(((regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']+)''\\)'))[1]::timestamptz) AT TIME ZONE 'UTC', 'YYYY-MM') AS month
       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
      WHERE p.relname = $1 AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'`,
    [table],
  );
  return new Map(rows.flatMap((row) => (row.month === null ? [] : [[row.month, row.name] as [string, string]])));
}

async function currentMonth(unified: pg.Pool): Promise<string> {
  const { rows } = await unified.query<{ month: string }>(`SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM') AS month`);
  return rows[0]?.month ?? '';
}

/** Every month partition but the current month's is dropped (they are empty: the run is younger than a month). */
async function keepOnlyCurrentMonth(unified: pg.Pool): Promise<number> {
  const month = await currentMonth(unified);
  for (const { name } of tables) {
    for (const [partitionMonth, partition] of await monthPartitions(unified, name)) {
      if (partitionMonth === month) continue;
      const { rows } = await unified.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${partition}`);
      if ((rows[0]?.n ?? 0) > 0) throw new Error(`age phase: ${partition} holds rows; only empty partitions are dropped`);
      await unified.query(`DROP TABLE ${partition}`);
    }
  }
  return (await monthPartitions(unified, 'conflict_audit')).size;
}

/**
 * `months` months up to the current one, each with a partition of both audit tables holding
 * `rowsPerMonth` generated rows over the bench's rooms (ids negative: older than every live
 * row, so no room's chain head moves), then the months ahead that migrate keeps.
 */
async function attachAgedMonths(unified: pg.Pool, months: number, rowsPerMonth: number): Promise<number> {
  for (let back = months - 1; back >= 1; back--) {
    const { rows } = await unified.query<{ first: string }>(`SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => $1), 'YYYY-MM-DD') AS first`, [back]);
    const first = rows[0]?.first ?? '';
    for (const { name } of tables) await unified.query(`SELECT audit_create_month_partition($1, $2::date)`, [name, first]);
    if (rowsPerMonth === 0) continue;
    const idBase = -(back * 10_000_000);
    const rooms = `WITH rooms AS (SELECT array_agg(hotel_code ORDER BY hotel_code, room_code) AS h, array_agg(room_code ORDER BY hotel_code, room_code) AS r, count(*)::int AS n FROM unified_rooms)`;
    const at = `(($2::date)::timestamp AT TIME ZONE 'UTC') + (g % 40000) * interval '1 minute'`;
    await unified.query(
      `${rooms}
       INSERT INTO conflict_audit (id, hotel_code, room_code, field, legacy_value, cloud_value, winning_value, winning_source, rule, policy_version,
                                   resolved_at, hotel_class, trigger_source, trigger_position, prev_hash, row_hash)
       SELECT $3::bigint - g, rooms.h[1 + g % rooms.n], rooms.r[1 + g % rooms.n], 'rate', to_jsonb(g), to_jsonb(g + 1), to_jsonb(g), 'legacy', 'bench-age', 'bench-age',
              ${at}, 'L', 'legacy', 'bench-age/' || $2 || '/' || g, NULL, md5(g::text)
         FROM rooms, generate_series(1, $1::int) AS g`,
      [rowsPerMonth, first, idBase],
    );
    await unified.query(
      `${rooms}
       INSERT INTO unified_field_history (id, hotel_code, room_code, field, value, source, rule, policy_version, hotel_class, legacy_value, cloud_value,
                                          source_position, source_commit_time, applied_at)
       SELECT $3::bigint - g, rooms.h[1 + g % rooms.n], rooms.r[1 + g % rooms.n], 'rate', to_jsonb(g), 'legacy', 'bench-age', 'bench-age', 'L', to_jsonb(g), to_jsonb(g + 1),
              'bench-age/' || $2 || '/' || g, ${at}, ${at}
         FROM rooms, generate_series(1, $1::int) AS g`,
      [rowsPerMonth, first, idBase],
    );
  }
  await unified.query('SELECT audit_ensure_partitions(24)');
  await unified.query('ANALYZE conflict_audit; ANALYZE unified_field_history');
  return (await monthPartitions(unified, 'conflict_audit')).size;
}

/** Back to what migrate leaves: the generated months dropped, the months ahead recreated. */
async function dropAgedMonths(unified: pg.Pool, months: number): Promise<void> {
  const current = await currentMonth(unified);
  for (const { name } of tables) {
    for (const [month, partition] of await monthPartitions(unified, name)) if (month < current) await unified.query(`DROP TABLE ${partition}`);
  }
  await unified.query('SELECT audit_ensure_partitions(24)');
  say(`age phase: the ${months - 1} generated months dropped again`);
}

/**
 * Our CPU per change at one fixed rate with one month of audit partitions, then with
 * `months` monthly partitions attached and holding rows (seven years by default).
 */
export async function runAgePhase(
  rig: StepRig,
  makeStep: StepFactory,
  settle: () => Promise<void>,
  unified: pg.Pool,
  settings: { readonly rate: number; readonly seconds: number; readonly months: number; readonly rowsPerMonth: number },
): Promise<AgeResult> {
  const partitionsOne = await keepOnlyCurrentMonth(unified);
  say(`age phase: ${partitionsOne} month partition per audit table; ${settings.rate}/s for ${settings.seconds}s`);
  await settle();
  const base = makeStep('ours', 'age', settings.rate);
  const oneMonth = await runStep(rig, { ...base, label: `ours age 1 month ${settings.rate}/s`, seconds: settings.seconds });
  say(describeStep(oneMonth));
  await settle();
  const fillStarted = Date.now();
  say(`age phase: attaching ${settings.months} monthly partitions per audit table with ${settings.rowsPerMonth} rows each`);
  const partitionsAged = await attachAgedMonths(unified, settings.months, settings.rowsPerMonth);
  const fillS = round((Date.now() - fillStarted) / 1000, 1);
  say(`age phase: ${partitionsAged} month partitions per audit table (${settings.months} holding rows) after ${fillS}s; ${settings.rate}/s for ${settings.seconds}s`);
  await settle();
  const aged = await runStep(rig, { ...base, label: `ours age ${settings.months} months ${settings.rate}/s`, seconds: settings.seconds });
  say(describeStep(aged));
  await dropAgedMonths(unified, settings.months);
  await settle();
  const one = totalCpuMsPerChange(oneMonth);
  const old = totalCpuMsPerChange(aged);
  const componentRatio: Record<string, number | null> = {};
  for (const name of ['temporal', 'worker', 'connectors', 'postgres'] as const) componentRatio[name] = ratio(aged.cpu_ms_per_change[name], oneMonth.cpu_ms_per_change[name]);
  const result: AgeResult = {
    rate: settings.rate,
    partitions: { one_month: partitionsOne, aged: partitionsAged },
    months_with_rows: settings.months,
    rows_per_month_per_table: settings.rowsPerMonth,
    fill_s: fillS,
    one_month: oneMonth,
    aged,
    cpu_ms_per_change: { one_month: one, aged: old, ratio: ratio(old, one) },
    component_ratio: componentRatio,
  };
  say(`age phase: CPU ms per change ${one ?? '?'} with 1 month, ${old ?? '?'} with ${settings.months} months: ratio ${result.cpu_ms_per_change.ratio ?? '?'} (postgres ${componentRatio['postgres'] ?? '?'})`);
  return result;
}
