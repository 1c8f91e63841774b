// The `room-sync` command: builds the commander program from one module per command group
// (src/cli/commands/) and runs it. Exit codes: what the command sets (status 3, replay 1/2,
// audit verify 1, …); 2 for a usage, configuration or policy error; 1 for any other failure.
import { Command, CommanderError, Help } from 'commander';
import { ConfigError, loadConfig, type AppConfig } from '../config/env.js';
import { createLogger, logFormat } from '../observability/logger.js';
import { scrubString } from '../observability/redact.js';
import { PolicyError } from '../policy/load.js';
import { commandGroupsFor } from './command-groups.js';
import type { CliContext, CommandGroup } from './context.js';

const configurationHelp = `
With no command, room-sync runs \`start\`.

Configuration is read from the environment: LEGACY_DATABASE_URL, CLOUD_DATABASE_URL,
UNIFIED_DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TASK_QUEUE, POLICY_FILE, ...
(see docs/operations.md). \`room-sync <command> --help\` describes a command, with an example.`;

interface RunContext extends CliContext {
  readonly exitCode: number;
}

function createContext(): RunContext {
  let config: AppConfig | null = null;
  let exitCode = 0;
  return {
    log: createLogger('room-sync'),
    config() {
      if (config === null) {
        // The Temporal SDK's Runtime is installed by the first worker connection or replay (src/workers/runtime.ts).
        config = loadConfig();
      }
      return config;
    },
    exitWith(code) {
      exitCode = code;
    },
    get exitCode() {
      return exitCode;
    },
  };
}

export function buildProgram(context: CliContext, groups: readonly CommandGroup[]): Command {
  const program = new Command('room-sync')
    .description('keeps the legacy and cloud inventories in one unified, audited view')
    .usage('<command> [options]')
    // Usage errors come back as CommanderError (exit 2 below) instead of a process.exit inside commander.
    .exitOverride()
    .showSuggestionAfterError()
    .configureHelp({
      helpWidth: 100,
      // A group is listed with its subcommands (`sources prepare`, `audit verify|digest|…`), so the top-level help names every command.
      subcommandTerm(command: Command): string {
        const leaves = command.commands.map((sub) => sub.name());
        return leaves.length > 0 ? `${command.name()} ${leaves.join('|')}` : Help.prototype.subcommandTerm.call(this, command);
      },
    })
    .addHelpText('after', configurationHelp);
  for (const register of groups) register(program, context);
  return program;
}

/** `room-sync` alone (or with options only, `room-sync --no-demo`) is `room-sync start`, as it always was. */
function withDefaultCommand(argv: readonly string[]): string[] {
  const wantsHelp = argv.some((arg) => arg === '-h' || arg === '--help');
  const hasCommand = argv.some((arg) => !arg.startsWith('-'));
  return hasCommand || wantsHelp ? [...argv] : ['start', ...argv];
}

export async function main(argv: readonly string[]): Promise<number> {
  const context = createContext();
  try {
    const args = withDefaultCommand(argv);
    await buildProgram(context, await commandGroupsFor(args)).parseAsync(args, { from: 'user' });
  } catch (error) {
    // Commander has printed its message (or the help) already.
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    throw error;
  }
  return context.exitCode;
}

/**
 * The one line a failed command ends with: plain for a person, or, under LOG_FORMAT=json, a log
 * object like every other line the process wrote (so a shipper parses it). Redacted either way:
 * a driver's message may quote a connection string.
 */
function exitWithError(message: string, cause: string | null, exitCode: number): never {
  if (logFormat() === 'json') createLogger('room-sync').error(message, { exitCode, ...(cause === null ? {} : { cause }) });
  else process.stderr.write(`room-sync: ${scrubString(message)}${cause === null ? '' : `\n  cause: ${scrubString(cause)}`}\n`);
  process.exit(exitCode);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError || error instanceof PolicyError) exitWithError(error.message, null, 2);
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : null;
    exitWithError(error instanceof Error ? error.message : String(error), cause, 1);
  },
);
