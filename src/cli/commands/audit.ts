// `audit verify|digest|explain|check|archive`: what legal and ops run against conflict_audit and the unified view.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
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
import { ArchiveError, parseMonth } from '../../audit/archive-format.js';
import {
  archiveAuditMonths,
  archivedAuditOf,
  archivedAuditRows,
  archivedHistoryOf,
  checkArchiveFolder,
  readManifest,
  type ArchiveCheck,
  type ArchiveProgress,
  type ArchiveResult,
} from '../../audit/archive.js';
import { projectRoot } from '../../setup/source-schemas.js';
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

/** Progress of `audit archive` on stderr: nothing for the first 2 s of a month, then a line every 2 s. */
function archiveProgressPrinter(): (progress: ArchiveProgress) => void {
  return ({ table, month, step, rows, elapsedMs }) => {
    process.stderr.write(`${step} ${table} ${month}: ${rows.toLocaleString('en')} rows (${Math.round(elapsedMs / 1000)} s)\n`);
  };
}

/** The version the archive manifest records: the checkout's package.json. */
async function toolVersion(): Promise<string> {
  try {
    const content = JSON.parse(await readFile(join(projectRoot, 'package.json'), 'utf8')) as { version?: unknown };
    return typeof content.version === 'string' ? content.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

function printArchiveResult(result: ArchiveResult, before: string): void {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  for (const file of result.archived) {
    out(`archived ${file.table} ${file.month}: ${file.rows} row(s) to ${file.file} (sha256 ${file.sha256}), read back and checked; detached as ${file.detached_as}`);
  }
  for (const month of result.skipped) out(`skipped ${month.table} ${month.month}: ${month.reason}`);
  for (const table of result.dropped) out(`dropped ${table}: wholly outside the retention window (its archive file is what remains)`);
  out(`${result.archived.length === 0 ? `nothing left to archive before ${before}` : `${result.archived.length} month partition(s) archived`}; manifest ${result.manifest}`);
}

function printArchiveProblems(check: ArchiveCheck, dir: string): void {
  for (const problem of check.problems) process.stdout.write(`archive file ${problem.file}: ${problem.problem}\n`);
  process.stdout.write(`NOT INTACT: ${check.problems.length} problem(s) in the archive ${dir}; first file named: ${check.problems[0]?.file ?? '?'}\n`);
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
    if (error instanceof DigestError || error instanceof ExplainError || error instanceof ArchiveError) {
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
    .description("legal's tools: the conflict audit's integrity, what a room showed when, the unified view against its sources, cold storage")
    .addHelpText('after', examples('room-sync audit verify', 'room-sync audit explain --room BER001/101 --at 2026-12-01T10:00:00Z --json'));

  audit
    .command('verify')
    .description("recompute every room's audit hash chain; exit 1 naming the first row altered, missing or out of order")
    .option('--digest <file|json|->', 'also prove the log still extends this earlier `audit digest`')
    .option('--archive <dir>', 'walk the chains from the archived months in DIR (`audit archive`) on into the live rows; its files are checked first')
    .option('--json', 'one JSON object: ok, rows, rooms, first, problems, digest (and archive_problems with --archive)')
    .addHelpText(
      'after',
      examples('room-sync audit verify', 'room-sync audit verify --digest audit-digest-2026-12-01.json', 'room-sync audit verify --archive /srv/audit-archive'),
    )
    .action(async (options: { digest?: string; archive?: string; json?: boolean }) => {
      const config = context.config();
      await refusing(context, 'audit verify', async () => {
        const digest = options.digest === undefined ? undefined : await readDigestArgument(options.digest);
        const archiveDir = options.archive;
        const outcome = await withUnifiedDb(config, async (db) => {
          let archive: ArchiveCheck | null = null;
          if (archiveDir !== undefined) {
            archive = await checkArchiveFolder(db, archiveDir, (file, rows) => process.stderr.write(`checking ${file}: ${rows.toLocaleString('en')} rows\n`));
            if (archive.problems.length > 0) return { archive, result: null };
          }
          const result = await verifyAuditLog(db, {
            ...(digest ? { digest } : {}),
            ...(archive && archiveDir !== undefined ? { archive: archivedAuditRows(archiveDir, archive.manifest) } : {}),
            onProgress: progressPrinter(archive ? 'verifying the archive and conflict_audit' : 'verifying conflict_audit'),
          });
          return { archive, result };
        });
        const { archive, result } = outcome;
        if (result === null) {
          if (options.json) process.stdout.write(`${JSON.stringify({ ok: false, archive_problems: archive?.problems ?? [] })}\n`);
          else if (archive) printArchiveProblems(archive, archiveDir ?? '');
          context.exitWith(1);
          return;
        }
        if (options.json) {
          const archived = archive ? { archive: { files: archive.files, rows: archive.rows }, archive_problems: [] } : {};
          process.stdout.write(`${JSON.stringify({ ...verifyJson(result), ...archived })}\n`);
        } else {
          if (archive) process.stdout.write(`ok: the archive's ${archive.files} file(s) match their manifest and the database's record (${archive.rows} rows)\n`);
          printVerifyResult(result);
        }
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
    .option('--archive <dir>', 'also read the archived months in DIR (`audit archive`), for a moment whose history was archived')
    .option('--json', "the contract's JSON object")
    .addHelpText(
      'after',
      examples(
        'room-sync audit explain --room BER001/101 --at 2026-12-01T10:00:00+01:00',
        'room-sync audit explain --room BER001/101 --json',
        'room-sync audit explain --room BER001/101 --at 2025-03-14T09:00:00Z --archive /srv/audit-archive --json',
      ),
    )
    .action(async (options: { room?: string; at?: string; archive?: string; json?: boolean }) => {
      const config = context.config();
      await refusing(context, 'audit explain', async () => {
        const room = roomOption(options.room, 'audit explain');
        const at = options.at === undefined ? undefined : parseInstant(options.at);
        const manifest = options.archive === undefined ? null : await readManifest(options.archive);
        const archivedHistory = manifest && options.archive !== undefined ? await archivedHistoryOf(options.archive, manifest, room) : undefined;
        await withUnifiedDb(config, async (db) => {
          const explanation = await explainRoom(db, room, { ...(at ? { at } : {}), ...(archivedHistory ? { archivedHistory } : {}) });
          if (options.json) {
            process.stdout.write(`${JSON.stringify(explanation)}\n`);
            return;
          }
          const archivedAudit = manifest && options.archive !== undefined ? await archivedAuditOf(options.archive, manifest, room) : [];
          process.stdout.write(`${formatExplanation(explanation, await auditRowsBefore(db, room, at?.sql ?? null, 5, archivedAudit))}\n`);
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
  audit
    .command('archive')
    .description('export every whole month of the audit tables before MONTH to DIR (gzip JSON Lines, manifest), check it, then detach it')
    .requiredOption('--before <YYYY-MM>', 'archive the months strictly before this one (at most the previous month)')
    .requiredOption('--to <dir>', 'the archive folder (created if missing); re-running skips the months already archived into it')
    .option('--json', 'one JSON object: archived files, skipped months, dropped tables, manifest path')
    .addHelpText(
      'after',
      '\nRun with the owner URL (UNIFIED_DATABASE_URL as for migrate). Each month is exported, read back and compared\n' +
        'with the database before it is detached into the schema audit_archive; detached months are dropped only once\n' +
        'wholly older than AUDIT_RETENTION_YEARS (default 7). Exit 2, and nothing changed, for a month in the future or the\n' +
        'current one, a folder that cannot be written, or rows of those months in the DEFAULT partition.\n' +
        examples('room-sync audit archive --before 2026-01 --to /srv/audit-archive', 'room-sync audit verify --archive /srv/audit-archive'),
    )
    .action(async (options: { before: string; to: string; json?: boolean }) => {
      const config = context.config();
      await refusing(context, 'audit archive', async () => {
        const before = parseMonth(options.before);
        const version = await toolVersion();
        const result = await withUnifiedDb(config, (db) =>
          archiveAuditMonths(db, { before, dir: options.to, retentionYears: config.AUDIT_RETENTION_YEARS, toolVersion: version, onProgress: archiveProgressPrinter() }),
        );
        if (options.json) process.stdout.write(`${JSON.stringify(result)}\n`);
        else printArchiveResult(result, before);
      });
    });
};
