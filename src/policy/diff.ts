import { fieldNames } from '../domain/room.js';
import type { PolicyDocument } from './schema.js';

/** One setting two policies disagree on; `null` where a policy does not have it. */
export interface PolicyDiffEntry {
  /** Dotted path in the document: `classes.cloud-managed.rate`, `classification.codes.F`, `fallback`. */
  readonly path: string;
  readonly from: unknown;
  readonly to: unknown;
}

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

function leaves(value: unknown, path: string, into: Map<string, unknown>): void {
  if (isObject(value)) {
    for (const [key, inner] of Object.entries(value)) leaves(inner, path ? `${path}.${key}` : key, into);
  } else if (value !== undefined) {
    into.set(path, value);
  }
}

/** Document order: classes (class by class, field by field) first, they are what moves winners. */
function rank(path: string): [number, string] {
  if (path.startsWith('classes.')) {
    const field = path.slice(path.lastIndexOf('.') + 1);
    const index = (fieldNames as readonly string[]).indexOf(field);
    return [0, `${path.slice(0, path.lastIndexOf('.'))}#${index < 0 ? 9 : index}`];
  }
  return [path.startsWith('classification.') || path === 'fallback' ? 1 : 2, path];
}

/** Every setting that differs between two policies, per class and field; against `null`, every setting. */
export function diffPolicies(from: PolicyDocument | null, to: PolicyDocument): PolicyDiffEntry[] {
  const before = new Map<string, unknown>();
  const after = new Map<string, unknown>();
  if (from) leaves(from, '', before);
  leaves(to, '', after);
  const paths = [...new Set([...before.keys(), ...after.keys()])].sort((a, b) => {
    const [ra, ka] = rank(a);
    const [rb, kb] = rank(b);
    return ra - rb || (ka < kb ? -1 : ka > kb ? 1 : 0);
  });
  return paths
    .map((path) => ({ path, from: before.get(path) ?? null, to: after.get(path) ?? null }))
    .filter((entry) => JSON.stringify(entry.from) !== JSON.stringify(entry.to));
}

const shown = (value: unknown) => (value === null ? '(none)' : typeof value === 'string' ? value : JSON.stringify(value));

/** `class cloud-managed, rate: owner cloud -> legacy`; other settings by their path. */
export function formatPolicyDiff(entries: readonly PolicyDiffEntry[]): string[] {
  return entries.map(({ path, from, to }) => {
    const match = /^classes\.([^.]+)\.([^.]+)$/.exec(path);
    if (match) return `class ${match[1]}, ${match[2]}: owner ${shown(from)} -> ${shown(to)}`;
    return `${path}: ${shown(from)} -> ${shown(to)}`;
  });
}
