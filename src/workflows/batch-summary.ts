import type { SourceChange } from '../mapping/change.js';

/** One line for the apply's marker in the Temporal UI: which sources, how many changes, which positions. */
export function describeBatch(changes: readonly SourceChange[], isRetry: boolean): string {
  const bySource = new Map<string, SourceChange[]>();
  for (const change of changes) bySource.set(change.source, [...(bySource.get(change.source) ?? []), change]);
  const parts = [...bySource.entries()].map(([source, list]) => {
    const kinds = list.some((change) => change.kind === 'legacy-hotel') ? ' (property)' : '';
    const last = list.at(-1)?.position ?? '';
    return `${source} ${list.length}${kinds} to ${last}`;
  });
  return `${isRetry ? 'retry dead letters: ' : 'apply '}${parts.join(', ') || 'nothing'}`;
}
