import { fieldNames, type FieldName, type SourceName } from '../domain/room.js';
import { isNewer } from '../domain/position.js';
import type { LegacyHotel, SourceChange } from '../mapping/change.js';
import type { Policy } from '../policy/schema.js';
import { sameFieldValue, sourceFieldValues, type FieldValue, type RoomSources } from './field-values.js';
import { needsReResolution, type StoredResolution } from './re-resolution.js';
import { hotelClassOf, resolveRoom, type ResolvedRoom } from './resolve.js';

/** What raised an audit row: a source's change, or the activation of a policy that re-resolved the room. */
export type TriggerSource = SourceName | 'policy';

/** One audit row's content: a field whose two source values are both present and differ after a change. */
export interface Conflict {
  readonly field: FieldName;
  readonly legacyValue: FieldValue;
  readonly cloudValue: FieldValue;
  readonly winningValue: FieldValue;
  readonly winningSource: SourceName;
  readonly rule: string;
  readonly hotelClass: string;
  readonly legacyPosition: string | null;
  readonly legacyHotelPosition: string | null;
  readonly cloudPosition: string | null;
  /** What raised it: a room row's position, the legacy property's, or (source `policy`) the policy's activation. */
  readonly triggerSource: TriggerSource;
  readonly triggerPosition: string;
}

export interface AppliedChanges {
  readonly sources: RoomSources;
  readonly resolved: ResolvedRoom;
  readonly conflicts: readonly Conflict[];
  readonly applied: number;
  /** Duplicates and changes older than what is stored: they change nothing. */
  readonly ignored: number;
  /** The current policy decides the stored room differently from the one its row was resolved with. */
  readonly reResolved: boolean;
}

export interface ResolutionContext {
  /** The room's unified row as last resolved; null for a room without one. */
  readonly resolvedWith: StoredResolution | null;
  /** The current policy's activation (policy_versions.id): the trigger position of a re-resolution's audit rows. */
  readonly policyActivation: string;
}

/**
 * The audit rows of one step: the fields whose two source values are both present and
 * differ, among those the step changed. A re-resolution (`changed: 'all'`: the hotel's
 * class or the policy changed) changes every field's decision, so every differing field counts.
 */
function conflictsAfter(
  policy: Policy,
  before: RoomSources,
  after: RoomSources,
  changed: SourceName | 'all',
  trigger: { readonly source: TriggerSource; readonly position: string; readonly reason?: string | undefined },
): Conflict[] {
  const changedBefore = changed === 'all' ? null : sourceFieldValues(before, changed);
  const changedAfter = changed === 'all' ? null : sourceFieldValues(after, changed);
  const legacy = sourceFieldValues(after, 'legacy');
  const cloud = sourceFieldValues(after, 'cloud');
  const resolved = resolveRoom(policy, after);
  const conflicts: Conflict[] = [];
  for (const field of fieldNames) {
    if (changedBefore && changedAfter && sameFieldValue(changedBefore[field], changedAfter[field])) continue;
    const legacyValue = legacy[field];
    const cloudValue = cloud[field];
    if (legacyValue === null || cloudValue === null || sameFieldValue(legacyValue, cloudValue)) continue;
    const decision = resolved.decisions[field];
    conflicts.push({
      field,
      legacyValue,
      cloudValue,
      winningValue: decision.source === 'legacy' ? legacyValue : cloudValue,
      winningSource: decision.source,
      rule: withReason(decision.rule, trigger.reason),
      hotelClass: resolved.hotelClass,
      legacyPosition: after.legacy?.position ?? null,
      legacyHotelPosition: after.legacyHotel?.position ?? null,
      cloudPosition: after.cloud?.position ?? null,
      triggerSource: trigger.source,
      triggerPosition: trigger.position,
    });
  }
  return conflicts;
}

/** A rule as written to the audit and the field history: with the reason, when the change had one (a reconcile's repair). */
export function withReason(rule: string, reason: string | undefined): string {
  return reason === undefined ? rule : `${rule} (${reason})`;
}

/** A step of one source's log: a room change, or the legacy property as last recorded. */
type Step =
  | { readonly kind: 'room'; readonly change: Extract<SourceChange, { kind: 'room' }>; readonly arrival: number }
  | { readonly kind: 'hotel'; readonly hotel: LegacyHotel; readonly arrival: number };

const stepSource = (step: Step): SourceName => (step.kind === 'room' ? step.change.source : 'legacy');
const stepPosition = (step: Step): string => (step.kind === 'room' ? step.change.position : step.hotel.position);
/** The commit LSN part of a position: changes sharing it were committed together. */
const commitOf = (position: string): string => position.slice(0, position.indexOf(':'));

function byPosition(a: Step, b: Step): number {
  const pa = stepPosition(a);
  const pb = stepPosition(b);
  if (pa !== pb) return pa < pb ? -1 : 1;
  // At one position (the snapshot's consistent point) the property precedes its rooms.
  return a.kind === b.kind ? 0 : a.kind === 'hotel' ? -1 : 1;
}

/** One source's steps in log order, cut into transactions; each knows its earliest arrival. */
function transactionsOf(steps: Step[]): { steps: Step[]; arrival: number }[] {
  const transactions: { steps: Step[]; arrival: number }[] = [];
  for (const step of [...steps].sort(byPosition)) {
    const last = transactions.at(-1);
    const lastStep = last?.steps.at(-1);
    if (last && lastStep && commitOf(stepPosition(lastStep)) === commitOf(stepPosition(step))) {
      last.steps.push(step);
      last.arrival = Math.min(last.arrival, step.arrival);
    } else {
      transactions.push({ steps: [step], arrival: step.arrival });
    }
  }
  return transactions;
}

/**
 * Log order within each source, transactions kept whole, and between the two sources
 * the order in which their transactions arrived: signals may overtake each other,
 * positions may not, and no audit row may show a state a source never committed.
 */
export function orderTransactions(changes: readonly SourceChange[], pendingHotel: LegacyHotel | null): Step[][] {
  const steps: Step[] = [];
  changes.forEach((change, arrival) => {
    if (change.kind === 'room') steps.push({ kind: 'room', change, arrival });
  });
  if (pendingHotel) {
    // The property arrives with its own signal, or (the signal still in flight) no later than
    // the first legacy room change after it in the log.
    const signalled = changes.findIndex((change) => change.kind === 'legacy-hotel' && change.position === pendingHotel.position);
    const before = steps.filter((step) => stepSource(step) === 'legacy' && stepPosition(step) >= pendingHotel.position);
    const arrival = signalled >= 0 ? signalled : Math.min(changes.length, ...before.map((step) => step.arrival));
    steps.push({ kind: 'hotel', hotel: pendingHotel, arrival });
  }
  const legacy = transactionsOf(steps.filter((step) => stepSource(step) === 'legacy'));
  const cloud = transactionsOf(steps.filter((step) => stepSource(step) === 'cloud'));
  const ordered: Step[][] = [];
  let l = 0;
  let c = 0;
  while (l < legacy.length || c < cloud.length) {
    const nextLegacy = legacy[l];
    const nextCloud = cloud[c];
    if (nextLegacy && (!nextCloud || nextLegacy.arrival <= nextCloud.arrival)) {
      ordered.push(nextLegacy.steps);
      l += 1;
    } else if (nextCloud) {
      ordered.push(nextCloud.steps);
      c += 1;
    }
  }
  return ordered;
}

/**
 * Folds a batch of changes into a room's stored source values, a source transaction at
 * a time in log order, and lists the conflicts each transaction raised. Pure: the
 * activity does the I/O. `currentLegacyHotel` is the legacy property as the legacy
 * connector last recorded it. With `context`, a room whose row the current policy decides
 * differently from the policy it was resolved with is re-resolved first (an empty batch
 * may do only that), its differing fields audited under the policy's activation.
 */
export function applyChanges(
  policy: Policy,
  stored: RoomSources,
  changes: readonly SourceChange[],
  currentLegacyHotel: LegacyHotel | null,
  context: ResolutionContext | null = null,
): AppliedChanges {
  let sources = stored;
  const conflicts: Conflict[] = [];
  let applied = 0;
  let ignored = 0;
  const pendingHotel =
    currentLegacyHotel && isNewer(currentLegacyHotel.position, stored.legacyHotel?.position ?? null) ? currentLegacyHotel : null;

  const reResolved = context !== null && needsReResolution(policy, stored, context.resolvedWith);
  if (context && reResolved) {
    conflicts.push(...conflictsAfter(policy, stored, stored, 'all', { source: 'policy', position: context.policyActivation }));
  }

  for (const transaction of orderTransactions(changes, pendingHotel)) {
    const before = sources;
    let trigger: { source: SourceName; position: string; reason?: string | undefined } | null = null;
    for (const step of transaction) {
      if (step.kind === 'hotel') {
        sources = { ...sources, legacyHotel: step.hotel };
        trigger = { source: 'legacy', position: step.hotel.position, reason: step.hotel.reason };
        continue;
      }
      const { change } = step;
      if (!isNewer(change.position, sources[change.source]?.position ?? null)) {
        ignored += 1;
        continue;
      }
      const record = { position: change.position, commitTime: change.commitTime, values: change.values, ...(change.reason === undefined ? {} : { reason: change.reason }) };
      sources = { ...sources, [change.source]: record };
      trigger = { source: change.source, position: change.position, reason: change.reason ?? trigger?.reason };
      applied += 1;
    }
    // A transaction is atomic in its source: its conflicts are judged on its outcome alone.
    // One that moves the hotel to another class re-resolves every field of the room.
    if (trigger) {
      const classChanged = hotelClassOf(policy, before.legacyHotel) !== hotelClassOf(policy, sources.legacyHotel);
      conflicts.push(...conflictsAfter(policy, before, sources, classChanged ? 'all' : trigger.source, trigger));
    }
  }

  return { sources, resolved: resolveRoom(policy, sources), conflicts, applied, ignored, reResolved };
}
