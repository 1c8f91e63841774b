// `room-sync replay`: replays recorded workflow histories against the current workflow code.
// A run that no longer replays is a determinism break: deploying the code would fail that
// workflow's next task (and every room workflow in the same state). Ops use it to debug a
// room step by step; engineers to check a workflow change before it ships.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { historyFromJSON, historyToJSON, type History } from '@temporalio/common/lib/proto-utils.js';
// Default import: Node's ESM loader sees no named exports in @temporalio/proto (CommonJS, built at run time).
import proto, { type temporal } from '@temporalio/proto';
import { Worker, type ReplayWorkerOptions, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { Resources } from '../app/resources.js';
import { parseRoomKey } from '../app/room-lookup.js';
import type { AppConfig } from '../config/env.js';
import { roomKeyText } from '../domain/room.js';
import { roomOfWorkflowId, roomWorkflowId } from '../routing/room-routing.js';
import { bundlerOptions, workflowsPath } from '../workers/worker.js';
import { temporalWorkerModule } from '../workers/runtime.js';

const require = createRequire(import.meta.url);

export const replayUsage = `usage: room-sync replay --room HOTEL/ROOM [--run-id RUN]   every run of the room's workflow (or one)
       room-sync replay --workflow-id ID [--run-id RUN]   any workflow: its latest run (or the one named)
       room-sync replay --file history.json [--workflow-id ID]   a history exported by the Temporal UI or \`temporal workflow show -o json\``;

// ---- history JSON (the format of `temporal workflow show -o json` and the UI's download) ----------------

interface ProtoJson {
  toJson(type: unknown, message: unknown): unknown;
  fromJson(type: unknown, json: unknown, options: { ignoreUnknownFields: boolean }): unknown;
}
interface ProtoRoot {
  lookupType(name: string): unknown;
}

/**
 * The SDK's proto-utils check `type instanceof Type` against the protobufjs copy of
 * @temporalio/common, while the types come from @temporalio/proto's copy. When npm does
 * not dedupe the two (it does not here: the root protobufjs is 7.x for gRPC), every call
 * fails with "type must be a Type". Then we do what they do with @temporalio/proto's copy.
 */
function isSplitProtobufError(error: unknown): boolean {
  return error instanceof TypeError && error.message === 'type must be a Type';
}

let protoJson: { readonly codec: ProtoJson; readonly historyType: unknown } | null = null;
function protoJsonOfTemporalProto(): { readonly codec: ProtoJson; readonly historyType: unknown } {
  if (!protoJson) {
    const requireFromProto = createRequire(require.resolve('@temporalio/proto'));
    const root = require('@temporalio/proto') as ProtoRoot;
    protoJson = { codec: requireFromProto('protobufjs/ext/protojson') as ProtoJson, historyType: root.lookupType('temporal.api.history.v1.History') };
  }
  return protoJson;
}

/** Enum values of older exports (the UI's `WorkflowExecutionStarted`) in proto form, as the SDK's historyFromJSON accepts them. */
function withConstantCaseEnums(history: { events: Record<string, unknown>[] }): { events: Record<string, unknown>[] } {
  const constantCase = (value: string) => value.replace(/[^\b][A-Z]/g, (match) => `${match[0]}_${match[1]}`).toUpperCase();
  const fix = (object: Record<string, unknown>, attribute: string, prefix: string) => {
    const value = object[attribute];
    return typeof value === 'string' && !value.startsWith(prefix) ? { [attribute]: `${prefix}_${constantCase(value)}` } : {};
  };
  return {
    events: history.events.map((event) => {
      const key = Object.keys(event).find((name) => name.endsWith('EventAttributes'));
      if (!key) throw new TypeError(`Missing attributes in history event: ${JSON.stringify(event)}`);
      const attributes = (event[key] ?? {}) as Record<string, unknown>;
      const taskQueue = attributes['taskQueue'] as Record<string, unknown> | undefined;
      return {
        ...event,
        ...fix(event, 'eventType', 'EVENT_TYPE'),
        [key]: {
          ...attributes,
          ...(taskQueue ? { taskQueue: { ...taskQueue, ...fix(taskQueue, 'kind', 'TASK_QUEUE_KIND') } } : {}),
          ...fix(attributes, 'parentClosePolicy', 'PARENT_CLOSE_POLICY'),
          ...fix(attributes, 'workflowIdReusePolicy', 'WORKFLOW_ID_REUSE_POLICY'),
          ...fix(attributes, 'initiator', 'CONTINUE_AS_NEW_INITIATOR'),
          ...fix(attributes, 'retryState', 'RETRY_STATE'),
        },
      };
    }),
  };
}

/** A history from its JSON export; `historyFromJSON` of the SDK where it works. */
export function historyFromJson(json: unknown): History {
  try {
    return historyFromJSON(json);
  } catch (error) {
    if (!isSplitProtobufError(error)) throw error;
  }
  if (typeof json !== 'object' || json === null || !Array.isArray((json as { events?: unknown }).events)) {
    throw new TypeError('Invalid history, expected an object with an array of events');
  }
  const { codec, historyType } = protoJsonOfTemporalProto();
  return codec.fromJson(historyType, withConstantCaseEnums(json as { events: Record<string, unknown>[] }), { ignoreUnknownFields: true }) as History;
}

/** A history as `temporal workflow show -o json` writes it; `historyToJSON` of the SDK where it works. */
export function historyToJson(history: History): string {
  try {
    return historyToJSON(history);
  } catch (error) {
    if (!isSplitProtobufError(error)) throw error;
  }
  const { codec, historyType } = protoJsonOfTemporalProto();
  return JSON.stringify(codec.toJson(historyType, proto.temporal.api.history.v1.History.fromObject(history)), null, 2);
}

export async function readHistoryFile(file: string): Promise<History> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ReplayUsageError(`cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`, { showUsage: false });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ReplayUsageError(`${file} is not JSON: ${error instanceof Error ? error.message : String(error)}`, { showUsage: false });
  }
  try {
    return historyFromJson(json);
  } catch (error) {
    throw new ReplayUsageError(`${file} is not a workflow history: ${error instanceof Error ? error.message : String(error)}`, { showUsage: false });
  }
}

// ---- replaying ------------------------------------------------------------------------------------------

/** One run to replay: its history, and the ids it is reported (and replayed) under. */
export interface RunToReplay {
  readonly workflowId: string;
  readonly runId: string;
  readonly history: History;
}

export interface RunReplayOutcome {
  readonly workflowId: string;
  readonly runId: string;
  readonly events: number;
  /** Unset when the run replayed. */
  readonly error?: Error;
  /** The event the code diverged at, when the error names one. */
  readonly divergingEvent?: string;
}

export type ReplayCode = { readonly workflowBundle: WorkflowBundleWithSourceMap } | { readonly workflowsPath: string };

function replayOptions(code: ReplayCode): ReplayWorkerOptions {
  if ('workflowBundle' in code) return { workflowBundle: code.workflowBundle };
  return { workflowsPath: code.workflowsPath, bundlerOptions };
}

/**
 * Replays the runs one after another on one replay worker (Worker.runReplayHistories), with
 * the current workflow code unless told otherwise. Histories are fetched as the worker asks.
 */
export async function replayRuns(
  runs: Iterable<RunToReplay> | AsyncIterable<RunToReplay>,
  code: ReplayCode = { workflowsPath },
  onOutcome: (outcome: RunReplayOutcome) => void = () => undefined,
): Promise<RunReplayOutcome[]> {
  const replayed: RunToReplay[] = [];
  async function* histories() {
    for await (const run of runs) {
      replayed.push(run);
      yield { workflowId: run.workflowId, history: run.history };
    }
  }
  const outcomes: RunReplayOutcome[] = [];
  for await (const result of Worker.runReplayHistories(replayOptions(code), histories())) {
    const run = replayed[outcomes.length];
    const history = run?.history ?? { events: [] };
    const events = history.events?.length ?? 0;
    const base = { workflowId: result.workflowId, runId: run?.runId ?? result.runId, events };
    const diverging = result.error ? divergingEventOf(result.error, history) : undefined;
    const outcome: RunReplayOutcome = result.error ? { ...base, error: result.error, ...(diverging ? { divergingEvent: diverging } : {}) } : base;
    outcomes.push(outcome);
    onOutcome(outcome);
  }
  return outcomes;
}

export function isDeterminismViolation(error: unknown): boolean {
  return error instanceof Error && error.name === 'DeterminismViolationError';
}

/**
 * The event the code diverged at, as core's message names it: `HistoryEvent(id: 7, …)`, or
 * by command sequence, `Missing associated machine for LocalActivity(1)` (the history's
 * marker of local activity 1 has no command left to match: the code now does something else there).
 */
function divergingEventOf(error: Error, history: History): string | undefined {
  const events = history.events ?? [];
  const byId = /HistoryEvent\(id: (\d+)/.exec(error.message) ?? /\bevent(?: id)?[ :#]+(\d+)/i.exec(error.message);
  if (byId?.[1]) {
    const id = Number(byId[1]);
    const event = events.find((candidate) => Number(candidate.eventId) === id);
    return event ? describeEvent(event) : `event ${id} (not in the history)`;
  }
  const localActivity = /LocalActivity\((\d+)\)/.exec(error.message);
  if (localActivity?.[1]) {
    const seq = Number(localActivity[1]);
    const marker = events.find((event) => {
      const data = decoded(event.markerRecordedEventAttributes?.details?.['data']?.payloads?.[0]) as { seq?: number } | undefined;
      return data?.seq === seq;
    });
    return marker ? describeEvent(marker) : `local activity ${seq} (no marker in the history)`;
  }
  return undefined;
}

/** Core's own words (`[TMPRL1100] Nondeterminism error: …`) out of the SDK's wrapping of them. */
export function coreMessageOf(error: Error): string {
  const inner = /message: "((?:[^"\\]|\\.)*)"/.exec(error.message);
  return inner?.[1] ?? error.message;
}

function decoded(payload: temporal.api.common.v1.IPayload | null | undefined): unknown {
  if (!payload) return undefined;
  try {
    return defaultPayloadConverter.fromPayload(payload);
  } catch {
    return undefined;
  }
}

/** `7 MARKER_RECORDED local activity applyRoomChanges "apply legacy 1 to …"`: what the history has there. */
export function describeEvent(event: temporal.api.history.v1.IHistoryEvent): string {
  const type = (proto.temporal.api.enums.v1.EventType[event.eventType ?? 0] ?? String(event.eventType)).replace(/^EVENT_TYPE_/, '');
  const parts = [`${String(event.eventId)} ${type}`];
  const marker = event.markerRecordedEventAttributes;
  if (marker) {
    const data = decoded(marker.details?.['data']?.payloads?.[0]) as { activity_type?: string; activityType?: string } | undefined;
    const activityType = data?.activity_type ?? data?.activityType;
    parts.push(activityType ? `local activity ${activityType}` : `marker ${marker.markerName ?? ''}`);
  }
  const activity = event.activityTaskScheduledEventAttributes;
  if (activity) parts.push(`activity ${activity.activityType?.name ?? ''}`);
  const timer = event.timerStartedEventAttributes;
  if (timer) parts.push(`timer ${timer.timerId ?? ''}`);
  const signal = event.workflowExecutionSignaledEventAttributes;
  if (signal) parts.push(`signal ${signal.signalName ?? ''}`);
  const summary = decoded(event.userMetadata?.summary);
  if (typeof summary === 'string') parts.push(JSON.stringify(summary));
  return parts.join(' ');
}

export function formatOutcome(outcome: RunReplayOutcome): string {
  const run = `${outcome.workflowId} ${outcome.runId} (${outcome.events} events)`;
  if (!outcome.error) return `ok ${run}`;
  const kind = isDeterminismViolation(outcome.error) ? 'DIVERGED' : 'FAILED';
  const lines = [`${kind} ${run}`, `  ${outcome.error.name}: ${coreMessageOf(outcome.error).split('\n').join('\n    ')}`];
  if (outcome.divergingEvent) lines.push(`  diverging event: ${outcome.divergingEvent}`);
  return lines.join('\n');
}

// ---- the command ----------------------------------------------------------------------------------------

/** Exit code 2: the command line names no runs, or runs that do not exist. */
export class ReplayUsageError extends Error {
  override readonly name = 'ReplayUsageError';
  readonly showUsage: boolean;
  constructor(message: string, { showUsage = true } = {}) {
    super(message);
    this.showUsage = showUsage;
  }
}

export interface ReplayArguments {
  readonly room?: string | undefined;
  readonly workflowId?: string | undefined;
  readonly runId?: string | undefined;
  readonly file?: string | undefined;
}

export interface ReplayOutput {
  out(line: string): void;
  err(line: string): void;
}

const processOutput: ReplayOutput = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** Every run of a workflow, oldest first, from visibility; the latest run alone while visibility has none. */
async function listRuns(client: Client, workflowId: string): Promise<{ runId: string; startTime: number }[]> {
  const runs: { runId: string; startTime: number }[] = [];
  for await (const execution of client.workflow.list({ query: `WorkflowId = ${JSON.stringify(workflowId)}` })) {
    if (execution.workflowId === workflowId) runs.push({ runId: execution.runId, startTime: execution.startTime.getTime() });
  }
  if (runs.length === 0) {
    try {
      const latest = await client.workflow.getHandle(workflowId).describe();
      runs.push({ runId: latest.runId, startTime: latest.startTime.getTime() });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
  return runs.sort((a, b) => a.startTime - b.startTime);
}

const grpcNotFound = 5;

/** The client turns NOT_FOUND into WorkflowNotFoundError for describe, not for fetchHistory. */
function isNotFound(error: unknown): boolean {
  return error instanceof WorkflowNotFoundError || (typeof error === 'object' && error !== null && 'code' in error && error.code === grpcNotFound);
}

/** Histories one at a time, as the replay worker takes them: a room's runs can be many. */
async function* fetchRuns(client: Client, workflowId: string, runIds: readonly string[]): AsyncGenerator<RunToReplay> {
  for (const runId of runIds) yield { workflowId, runId, history: await fetchRun(client, workflowId, runId) };
}

async function fetchRun(client: Client, workflowId: string, runId: string): Promise<History> {
  try {
    return await client.workflow.getHandle(workflowId, runId).fetchHistory();
  } catch (error) {
    if (isNotFound(error)) throw new ReplayUsageError(`no run ${runId} of workflow ${workflowId}`, { showUsage: false });
    throw error;
  }
}

function runIdOf(history: History): string {
  return history.events?.[0]?.workflowExecutionStartedEventAttributes?.originalExecutionRunId ?? 'unknown-run';
}

/**
 * `room-sync replay`. Prints one line per run; 0 when every run replays, 1 when any
 * diverges (or fails), 2 for a usage error or a workflow with no runs.
 */
export async function commandReplay(config: AppConfig, args: ReplayArguments, output: ReplayOutput = processOutput, code: ReplayCode = { workflowsPath }): Promise<number> {
  let resources: Resources | null = null;
  await temporalWorkerModule(config.LOG_LEVEL);
  try {
    let workflowId = args.workflowId;
    if (args.room !== undefined) {
      const room = parseRoomKey([args.room]);
      if (room === null) throw new ReplayUsageError(`--room wants HOTEL/ROOM, not ${JSON.stringify(args.room)}`);
      if (workflowId !== undefined && workflowId !== roomWorkflowId(room)) throw new ReplayUsageError(`--room names ${roomWorkflowId(room)}, --workflow-id ${workflowId}: give one`);
      workflowId = roomWorkflowId(room);
    }
    let runs: AsyncIterable<RunToReplay> | RunToReplay[];
    if (args.file !== undefined) {
      if (args.runId !== undefined) throw new ReplayUsageError('--run-id does not go with --file: the file holds one run');
      const history = await readHistoryFile(args.file);
      runs = [{ workflowId: workflowId ?? 'replay', runId: runIdOf(history), history }];
    } else {
      if (workflowId === undefined) throw new ReplayUsageError('name the runs to replay');
      resources = new Resources(config);
      const client = await resources.client();
      const runIds = args.runId !== undefined ? [args.runId] : args.room !== undefined ? (await listRuns(client, workflowId)).map((run) => run.runId) : await latestRun(client, workflowId);
      if (runIds.length === 0) {
        const room = roomOfWorkflowId(workflowId);
        const hint = args.room !== undefined && room ? `: no workflow has served room ${roomKeyText(room)} (is the key right? \`room-sync room ${roomKeyText(room)}\`)` : '';
        throw new ReplayUsageError(`no runs of workflow ${workflowId} found in namespace ${config.TEMPORAL_NAMESPACE}${hint}`, { showUsage: false });
      }
      // A run named on the command line is fetched first, so a wrong id is a usage error, not a replay failure.
      runs = args.runId !== undefined ? [{ workflowId, runId: args.runId, history: await fetchRun(client, workflowId, args.runId) }] : fetchRuns(client, workflowId, runIds);
    }
    const outcomes = await replayRuns(runs, code, (outcome) => output.out(formatOutcome(outcome)));
    const broken = outcomes.filter((outcome) => outcome.error);
    if (broken.length > 0) {
      output.err(`${broken.length} of ${outcomes.length} run(s) do not replay with the current workflow code: a determinism break (a change needs patched()).`);
      return 1;
    }
    return 0;
  } catch (error) {
    if (error instanceof ReplayUsageError) {
      output.err(`room-sync replay: ${error.message}${error.showUsage ? `\n${replayUsage}` : ''}`);
      return 2;
    }
    throw error;
  } finally {
    await resources?.close();
  }
}

async function latestRun(client: Client, workflowId: string): Promise<string[]> {
  try {
    return [(await client.workflow.getHandle(workflowId).describe()).runId];
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
}
