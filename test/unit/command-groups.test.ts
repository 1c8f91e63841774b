// `room-sync <command>` loads only the module of its command's group: the manifest must name
// exactly the top-level commands each module adds, or a command would be missing (or unknown).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import { commandGroups, commandGroupsFor } from '../../src/cli/command-groups.js';
import type { CliContext } from '../../src/cli/context.js';
import { createLogger } from '../../src/observability/logger.js';

const context: CliContext = {
  log: createLogger('test'),
  config: () => {
    throw new Error('registration must not read the configuration');
  },
  exitWith: () => undefined,
};

const registered = (register: (program: Command, context: CliContext) => void): string[] => {
  const program = new Command('room-sync');
  register(program, context);
  return program.commands.map((command) => command.name());
};

test('each group adds exactly the top-level commands the manifest names for it, and no two groups share one', async () => {
  const seen = new Set<string>();
  for (const entry of commandGroups) {
    assert.deepEqual(registered(await entry.load()).sort(), [...entry.commands].sort());
    for (const command of entry.commands) {
      assert.ok(!seen.has(command), `${command} is named twice`);
      seen.add(command);
    }
  }
});

test('a command loads its own group; the top-level help and an unknown command load all of them', async () => {
  assert.deepEqual(registered((await commandGroupsFor(['audit', 'verify', '--from', '2026-01']))[0] ?? (() => undefined)), ['audit']);
  assert.equal((await commandGroupsFor(['audit', 'verify'])).length, 1);
  assert.equal((await commandGroupsFor(['worker', '--only', 'rooms'])).length, 1);
  assert.equal((await commandGroupsFor(['--help'])).length, commandGroups.length);
  assert.equal((await commandGroupsFor(['audti'])).length, commandGroups.length);
});
