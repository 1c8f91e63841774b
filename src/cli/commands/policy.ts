// `policy apply|show|history`: precedence changes as reviewed configuration, recorded in policy_versions.
import { hostname, userInfo } from 'node:os';
import { ConfigError } from '../../config/env.js';
import {
  activePolicyView,
  applyPolicy,
  awaitReResolution,
  formatPreview,
  formatProgress,
  policyDiff,
  previewPolicy,
} from '../../app/policy-change.js';
import { Resources } from '../../app/resources.js';
import { listPolicyHistory } from '../../db/policy-repository.js';
import { formatPolicyDiff } from '../../policy/diff.js';
import { loadPolicy, loadPolicyFile } from '../../policy/load.js';
import { examples, withUnifiedDb, type CommandGroup } from '../context.js';

const out = (line: string) => process.stdout.write(`${line}\n`);

function operator(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return `unknown@${hostname()}`;
  }
}

export const registerPolicyCommands: CommandGroup = (program, context) => {
  const policy = program
    .command('policy')
    .description('the precedence policy in force: apply a reviewed file, show it, its history')
    .addHelpText('after', examples('room-sync policy apply policies/default.yaml --dry-run', 'room-sync policy show', 'room-sync policy history'));

  policy
    .command('apply')
    .description('validate FILE, print its diff against the active policy, record it and re-resolve every room it affects')
    .argument('<FILE>', 'a precedence policy (YAML or JSON)')
    .option('--dry-run', 'list the rooms whose unified values would change, and how; change nothing')
    .option('--no-wait', 'return once recorded, printing the re-resolution workflow id')
    .option('--by <NAME>', 'who applies it, recorded with it', operator())
    .option('--batch-size <N>', 'rooms scanned per batch; the affected ones are signalled together and waited for', (value) => {
      const size = Number(value);
      if (!Number.isInteger(size) || size < 1) throw new ConfigError(`--batch-size: expected a positive whole number, got ${JSON.stringify(value)}`);
      return size;
    })
    .addHelpText(
      'after',
      examples('room-sync policy apply policies/examples/cloud-rate-from-legacy.yaml --dry-run', 'room-sync policy apply policies/examples/cloud-rate-from-legacy.yaml'),
    )
    .action(async (file: string, options: { dryRun?: boolean; wait: boolean; by: string; batchSize?: number }) => {
      const config = context.config();
      // An invalid file is a PolicyError naming the file and the field: exit 2.
      const { policy: next, text } = await loadPolicyFile(file);
      const filePolicy = await loadPolicy(config.POLICY_FILE);
      const resources = new Resources(config);
      try {
        const db = resources.unified();
        const active = await activePolicyView(db, filePolicy);
        const activeName = active.record ? `${active.policy.policyVersion} (#${active.record.id})` : `${active.policy.policyVersion} (POLICY_FILE, not recorded yet)`;
        out(`active: ${activeName}`);
        out(`${file}: ${next.policyVersion}`);
        const diff = policyDiff(active, next);
        if (diff.length === 0) out('no difference in precedence');
        for (const line of formatPolicyDiff(diff)) out(`  ${line}`);
        if (options.dryRun) {
          for (const line of formatPreview(await previewPolicy(db, next, filePolicy))) out(line);
          out('dry run: nothing recorded, nothing changed');
          return;
        }
        const client = await resources.client();
        const applied = await applyPolicy(
          db,
          client,
          config.TEMPORAL_TASK_QUEUE,
          { policy: next, sourceText: text, sourceFile: file, appliedBy: options.by },
          filePolicy,
          options.batchSize ? { pageSize: options.batchSize } : {},
        );
        out(applied.recorded ? `recorded as the active policy (#${applied.record.id})` : `already the active policy (#${applied.record.id})`);
        out(`re-resolution workflow: ${applied.workflowId}`);
        if (!options.wait) return;
        const result = await awaitReResolution(client, applied.workflowId, { onProgress: (progress) => process.stderr.write(`${formatProgress(progress)}\n`) });
        out(formatProgress(result));
        if (result.state !== 'done') {
          process.stderr.write(`room-sync: policy #${applied.record.id} was superseded by #${result.supersededBy ?? '?'} before every room was re-resolved under it\n`);
          context.exitWith(1);
        }
      } finally {
        await resources.close();
      }
    });

  policy
    .command('show')
    .description('the active policy: version, when and by whom it was applied, and its content')
    .action(async () => {
      const config = context.config();
      const filePolicy = await loadPolicy(config.POLICY_FILE);
      await withUnifiedDb(config, async (db) => {
        const active = await activePolicyView(db, filePolicy);
        if (active.record === null) {
          const { text } = await loadPolicyFile(config.POLICY_FILE);
          out(`active: ${filePolicy.policyVersion} (POLICY_FILE ${config.POLICY_FILE}; no policy recorded yet)`);
          process.stdout.write(text);
          return;
        }
        const { record } = active;
        out(`active: ${record.version} (#${record.id}, applied ${record.appliedAt.toISOString()} by ${record.appliedBy}${record.sourceFile ? ` from ${record.sourceFile}` : ''})`);
        process.stdout.write(record.sourceText.endsWith('\n') ? record.sourceText : `${record.sourceText}\n`);
      });
    });

  policy
    .command('history')
    .description('every policy that became active, oldest first, each with its diff against the one before')
    .action(async () => {
      await withUnifiedDb(context.config(), async (db) => {
        const history = await listPolicyHistory(db);
        if (history.length === 0) out('no policy recorded yet (POLICY_FILE is active)');
        for (const record of history) {
          out(`#${record.id} ${record.appliedAt.toISOString()} ${record.version} by ${record.appliedBy}${record.sourceFile ? ` from ${record.sourceFile}` : ''}`);
          for (const line of formatPolicyDiff(record.diff)) out(`    ${line}`);
        }
      });
    });
};
