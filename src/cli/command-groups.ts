// Which module adds which top-level command, so that a command loads only its own group.
import type { CommandGroup } from './context.js';

export interface CommandGroupEntry {
  /** The top-level commands the group adds: how `room-sync <command>` finds the one module it needs. */
  readonly commands: readonly string[];
  readonly load: () => Promise<CommandGroup>;
}

/**
 * Every command group, in the order `room-sync --help` lists them. A new group is one module and
 * one line here. A command loads only its own group: the modules behind the others (the Temporal
 * SDK above all) cost a second of CPU at every start of `audit verify` or `status`.
 */
export const commandGroups: readonly CommandGroupEntry[] = [
  { commands: ['start', 'worker', 'connector', 'monitor'], load: async () => (await import('./commands/run.js')).registerRunCommands },
  { commands: ['sources'], load: async () => (await import('./commands/sources.js')).registerSourcesCommands },
  { commands: ['migrate'], load: async () => (await import('./commands/db.js')).registerDbCommands },
  { commands: ['setup'], load: async () => (await import('./commands/setup.js')).registerSetupCommands },
  { commands: ['status'], load: async () => (await import('./commands/status.js')).registerStatusCommands },
  { commands: ['room'], load: async () => (await import('./commands/room.js')).registerRoomCommands },
  { commands: ['replay'], load: async () => (await import('./commands/replay.js')).registerReplayCommands },
  { commands: ['dead-letters'], load: async () => (await import('./commands/dead-letters.js')).registerDeadLetterCommands },
  { commands: ['policy'], load: async () => (await import('./commands/policy.js')).registerPolicyCommands },
  { commands: ['audit'], load: async () => (await import('./commands/audit.js')).registerAuditCommands },
  { commands: ['reconcile'], load: async () => (await import('./commands/reconcile.js')).registerReconcileCommands },
  { commands: ['seed', 'simulate'], load: async () => (await import('./commands/demo.js')).registerDemoCommands },
  { commands: ['cluster'], load: async () => (await import('./commands/cluster.js')).registerClusterCommands },
];

/** The groups `argv` needs: the one that owns its command, or all of them (the top-level help, an unknown command and its suggestion). */
export async function commandGroupsFor(argv: readonly string[]): Promise<CommandGroup[]> {
  const command = argv.find((arg) => !arg.startsWith('-'));
  const owner = commandGroups.find((entry) => command !== undefined && entry.commands.includes(command));
  return Promise.all((owner ? [owner] : commandGroups).map((entry) => entry.load()));
}
