import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { policySchema, type Policy, type PolicyDocument } from './schema.js';

export class PolicyError extends Error {
  override readonly name = 'PolicyError';
}

/** Stable JSON (sorted keys) so formatting and comments never change the version. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, inner]) => `${JSON.stringify(key)}:${canonicalJson(inner)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** sha256 of the canonical document: the same rules give the same hash, whatever the formatting. */
export function policyContentHash(document: PolicyDocument): string {
  return createHash('sha256').update(canonicalJson(document)).digest('hex');
}

export function policyVersionOf(document: PolicyDocument): string {
  return `${document.version ?? document.name}@${policyContentHash(document).slice(0, 12)}`;
}

/** The document a policy was parsed from, without the derived version. */
export function policyDocumentOf(policy: Policy): PolicyDocument {
  const { policyVersion: _version, ...document } = policy;
  return document;
}

/** Validates a parsed document; errors name the file and the field. */
export function parsePolicy(content: unknown, origin: string): Policy {
  const parsed = policySchema.safeParse(content);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  ${origin}: ${issue.path.join('.') || '(top level)'}: ${issue.message}`);
    throw new PolicyError(`invalid precedence policy:\n${problems.join('\n')}`);
  }
  return { ...parsed.data, policyVersion: policyVersionOf(parsed.data) };
}

export async function loadPolicy(file: string): Promise<Policy> {
  return (await loadPolicyFile(file)).policy;
}

/** A policy file, validated, with its text as written (comments included). */
export async function loadPolicyFile(file: string): Promise<{ readonly policy: Policy; readonly text: string }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new PolicyError(`cannot read precedence policy ${file}`, { cause: error });
  }
  let content: unknown;
  try {
    content = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new PolicyError(`${file}: not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return { policy: parsePolicy(content, file), text };
}
