import { execFileSync } from 'node:child_process';
import { cpus, loadavg, release, totalmem } from 'node:os';
import type pg from 'pg';
import type { MachineInfo } from './results.js';

function temporalVersion(cliPath: string): string {
  try {
    return execFileSync(cliPath, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

export async function describeMachine(admin: pg.Pool, temporalCli: string): Promise<MachineInfo> {
  const { rows } = await admin.query<{ version: string }>('SELECT version()');
  return {
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model.trim() ?? 'unknown',
    memory_gib: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    postgres: (rows[0]?.version ?? 'unknown').split(' on ')[0] ?? 'unknown',
    temporal: temporalVersion(temporalCli),
    load_average_at_start: loadavg().map((value) => Math.round(value * 100) / 100),
  };
}

export function describeMachineLine(machine: MachineInfo): string {
  return `${machine.cpus} vCPU (${machine.cpu_model}), ${machine.memory_gib} GiB RAM, Linux ${machine.kernel}, Node ${machine.node}, ${machine.postgres}, ${machine.temporal}`;
}
