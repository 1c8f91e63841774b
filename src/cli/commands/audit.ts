// `audit verify|digest|explain|check`: what legal and ops run against conflict_audit and the unified view.
import { readFile } from 'node:fs/promises';
import { ConfigError, type AppConfig } from '../../config/env.js';
import { parseRoomKey } from '../../app/room-lookup.js';
import type { RoomKey } from '../../domain/room.js';
import type { Kysely } from 'kysely';
import { readActivePolicy } from '../../db/policy-repository.js';
import type { UnifiedDatabase } from '../../db/schema.js';
import { loadPolicy } from '../../policy/load.js';
import type { Policy } from '../../policy/schema.js';
import { buildDigest, DigestError, formatDigest, parseDigest, type AuditDigest } from '../../audit/digest.js';
import { describeProblem, verifyAuditLog, type VerifyProgress, type VerifyResult } from '../../audit/verify.js';
import { auditRowsBefore, ExplainError, explainRoom, formatExplanation, parseInstant } from '../../audit/explain.js';
import { checkUnifiedRooms, describeDifference } from '../../audit/check.js';
import { examples, withUnifiedDb, type CliContext, type CommandGroup } from '../context.js';

/** The policy `audit check` recomputes with: the one recorded active (`policy apply`), else POLICY_FILE's, as every apply does. */
async function activePolicy(config: AppConfig, db: Kysely<UnifiedDatabase>): Promise<Policy> {
  return (await readActivePolicy(db))?.policy ?? loadPolicy(config.POLICY_FILE);
}

function roomOption(value: string | undefined, command: string): RoomKey {
  const room = value === undefined ? null : parseRoomKey([value]);
  if (room === null) throw new ConfigError(`${command}: --room wants HOTEL/ROOM${value === undefined ? '' : `, not ${JSON.stringify(value)}`}`);
  return room;
}

/** Progress on stderr for long walks: nothing for the first 2 s, then a line every 2 s. */
function progressPrinter(label: string): (progress: VerifyProgress) => void {
  let nextAt = 2_000;
  return ({ rows, rooms, elapsedMs }) => {
    if (elapsedMs < nextAt) return;
    nextAt = elapsedMs + 2_000;
    process.stderr.write(`${label}: ${rows.toLocaleString('en')} rows, ${rooms.toLocaleString('en')} rooms (${Math.round(elapsedMs / 1000)} s)\n`);
  };
}

/** `--digest`: a file, `-` for stdin, or the JSON itself. */
async function readDigestArgument(value: string): Promise<AuditDigest> {
  if (value.trimStart().startsWith('{')) return parseDigest(value, '--digest');
  let text: string;
  try {
    if (value === '-') {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      text = Buffer.concat(chunks).toString('utf8');
    } else {
      text = await readFile(value, 'utf8');
    }
  } catch (error) {
    throw new DigestError(`cannot read digest ${value}: ${(error as Error).message}`);
  }
  return parseDigest(text, value === '-' ? 'the digest on stdin' : value);
}

function verifyJson(result: VerifyResult) {
  return {
    ok: result.ok,
    rows: result.rows,
    rooms: result.rooms,
    chained_rows: result.chainedRows,
    unchained_rows: result.unchainedRows,
    first: result.first,
    problems: result.problems,
    digest: result.digest && { fingerprint: result.digest.fingerprint, taken_at: result.digest.takenAt, rows: result.digest.rows, rooms: result.digest.rooms, extended: result.ok },
  };
}

function printVerifyResult(result: VerifyResult): void {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  if (result.first) {
    out(describeProblem(result.first));
    const shown = result.problems.slice(1, 20);
    for (const problem of shown) out(describeProblem(problem));
    if (result.problems.length > shown.length + 1) out(`… and ${result.problems.length - shown.length - 1} more (--json lists them all)`);
    out(`NOT INTACT: ${result.problems.length} room(s) of ${result.rooms} broken; first row found: ${result.first.id}`);
    return;
  }
  const unchained = result.unchainedRows > 0 ? `, ${result.unchainedRows} written before the chain existed` : '';
  out(`ok: ${result.rows} audit row(s) in ${result.rooms} room(s) intact${unchained}`);
  if (result.digest) out(`ok: the log extends digest ${result.digest.fingerprint} (taken ${result.digest.takenAt}: ${result.digest.rows} rows in ${result.digest.rooms} rooms)`);
}

/** Input the command cannot work with (a digest, a moment, a room it does not know): exit 2, one line on stderr. */
async function refusing(context: CliContext, command: string, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (error) {
    if (error instanceof DigestError || error instanceof ExplainError) {
      process.stderr.write(`room-sync ${command}: ${error.message}\n`);
      context.exitWith(2);
      return;
    }
    throw error;
  }
}

export const registerAuditCommands: CommandGroup = (program, context) => {
  const audit = program
    .command('audit')
    .description("legal's tools: the conflict audit's integrity, what a room showed when, the unified view against its sources")
    .addHelpText('after', examples('room-sync audit verify', 'room-sync audit explain --room BER001/101 --at 2026-12-01T10:00:00Z --json'));

  audit
    .command('verify')
    .description("recompute every room's audit hash chain; exit 1 naming the first row altered, missing or out of order")
    .option('--digest <file|json|->', 'also prove the log still extends this earlier `audit digest`')
    .option('--json', 'one JSON object: ok, rows, rooms, first, problems, digest')
    .addHelpText('after', examples('room-sync audit verify', 'room-sync audit verify --digest audit-digest-2026-12-01.json'))
    .action(async (options: { digest?: string; json?: boolean }) => {
      const config = context.config();
      await refusing(context, 'audit verify', async () => {
        const digest = options.digest === undefined ? undefined : await readDigestArgument(options.digest);
        const result = await withUnifiedDb(config, (db) =>
          verifyAuditLog(db, { ...(digest ? { digest } : {}), onProgress: progressPrinter('verifying conflict_audit') }),
        );
        if (options.json) process.stdout.write(`${JSON.stringify(verifyJson(result))}\n`);
        else printVerifyResult(result);
        context.exitWith(result.ok ? 0 : 1);
      });
    });

  audit
    .command('digest')
    .description("print a digest of the audit log (every room's chain head and row count, JSON) to keep outside the database")
    .addHelpText(
      'after',
      '\nThe JSON goes to stdout, its fingerprint (v1:<rows>:<sha256>) to stderr as well; keep both. Exit 1, and no\n' +
        'digest, when the log is not intact.\n' +
        examples('room-sync audit digest > audit-digest-$(date +%F).json', 'room-sync audit verify --digest audit-digest-2026-12-01.json'),
    )
    .action(async () => {
      const config = context.config();
      const result = await withUnifiedDb(config, (db) => verifyAuditLog(db, { collectHeads: true, onProgress: progressPrinter('reading conflict_audit') }));
      if (!result.ok) {
        for (const problem of result.problems.slice(0, 20)) process.stderr.write(`${describeProblem(problem)}\n`);
        process.stderr.write(`room-sync audit digest: the log is not intact (${result.problems.length} room(s) broken): no digest taken; see \`room-sync audit verify\`\n`);
        context.exitWith(1);
        return;
      }
      const digest = buildDigest(result.heads, new Date());
      process.stdout.write(`${formatDigest(digest)}\n`);
      process.stderr.write(`digest of ${digest.rows} audit row(s) in ${digest.room_count} room(s): fingerprint ${digest.fingerprint}\n`);
    });

  audit
    .command('explain')
    .description('what unified_rooms held for a room at a moment (default now), and since when, from the field history')
    .option('--room <HOTEL/ROOM>', 'the room')
    .option('--at <timestamp>', 'ISO 8601 with a zone, e.g. 2026-12-01T10:00:00Z (default: now)')
    .option('--json', "the contract's JSON object")
    .addHelpText('after', examples('room-sync audit explain --room BER001/101 --at 2026-12-01T10:00:00+01:00', 'room-sync audit explain --room BER001/101 --json'))
    .action(async (options: { room?: string; at?: string; json?: boolean }) => {
      const config = context.config();
      await refusing(context, 'audit explain', async () => {
        const room = roomOption(options.room, 'audit explain');
        const at = options.at === undefined ? undefined : parseInstant(options.at);
        await withUnifiedDb(config, async (db) => {
          const explanation = await explainRoom(db, room, at ? { at } : {});
          if (options.json) {
            process.stdout.write(`${JSON.stringify(explanation)}\n`);
            return;
          }
          process.stdout.write(`${formatExplanation(explanation, await auditRowsBefore(db, room, at?.sql ?? null))}\n`);
        });
      });
    });

  audit
    .command('check')
    .description('recompute every unified row from its stored sources and the active policy; print each difference, exit 1 if any')
    .option('--room <HOTEL/ROOM>', 'that room only')
    .addHelpText('after', examples('room-sync audit check', 'room-sync audit check --room BER001/101'))
    .action(async (options: { room?: string }) => {
      const config = context.config();
      const room = options.room === undefined ? undefined : roomOption(options.room, 'audit check');
      const { policy, result } = await withUnifiedDb(config, async (db) => {
        const policy = await activePolicy(config, db);
        const result = await checkUnifiedRooms(db, policy, {
          ...(room ? { room } : {}),
          onDifference: (difference) => process.stdout.write(`${describeDifference(difference)}\n`),
        });
        return { policy, result };
      });
      if (room && result.rooms === 0 && result.differences === 0) {
        process.stderr.write(`room-sync audit check: unknown room ${options.room ?? ''}: no unified row and no stored sources\n`);
        context.exitWith(2);
        return;
      }
      process.stdout.write(
        `${result.differences === 0 ? 'ok' : 'DIFFERENT'}: ${result.rooms} unified row(s) checked against policy ${policy.policyVersion}; ` +
          `${result.differences} difference(s) in ${result.roomsDiffering} room(s)\n`,
      );
      context.exitWith(result.differences > 0 ? 1 : 0);
    });
};
