import pino from 'pino';
import { redacted, redactValue, scrubString, describeError } from './redact.js';

/**
 * Named loggers with structured fields, one line per event, on stderr (stdout is for the status line).
 * Two forms: readable (the default: `time LEVEL name: message key=value ...`) and, with
 * `LOG_FORMAT=json`, one JSON object per line from pino (`level`, `time`, `logger`, `msg` and
 * the fields), for log shippers. Both go through the redaction layer (./redact.ts) first, so
 * no database password, routing key or webhook token reaches a line.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'pretty' | 'json';
export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  child(name: string): Logger;
}

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
let threshold: LogLevel = (process.env['LOG_LEVEL'] as LogLevel | undefined) ?? 'info';
let format: LogFormat = process.env['LOG_FORMAT'] === 'json' ? 'json' : 'pretty';
const sinks: ((line: string) => void)[] = [];

export function setLogLevel(level: LogLevel): void {
  threshold = level;
}

export function setLogFormat(next: LogFormat): void {
  format = next;
}

export function logFormat(): LogFormat {
  return format;
}

/** Lets `npm start` keep its status line intact while log lines scroll above it. */
export function addLogSink(sink: (line: string) => void): () => void {
  sinks.push(sink);
  return () => sinks.splice(sinks.indexOf(sink), 1);
}

function emit(line: string): void {
  if (sinks.length > 0) for (const sink of sinks) sink(line);
  else process.stderr.write(`${line}\n`);
}

/** pino writes one serialized object per call; the line goes where the readable form goes. */
const destination = {
  write(chunk: string): void {
    emit(chunk.endsWith('\n') ? chunk.slice(0, -1) : chunk);
  },
};

/** pino's own redaction, behind ours: fields that are secret by name, at the top and one level down. */
const redactPaths = ['password', 'routingKey', 'routing_key', 'token', 'secret', 'authorization', 'apiKey', 'api_key', 'headers.authorization', 'headers.cookie'].flatMap(
  (path) => (path.includes('.') ? [path] : [path, `*.${path}`]),
);

let root: pino.Logger | null = null;
const children = new Map<string, pino.Logger>();

function pinoFor(name: string): pino.Logger {
  root ??= pino(
    {
      level: 'debug', // the threshold is applied before pino, so setLogLevel works for both forms
      base: null, // no pid or hostname: the logger name and the fields say what a shipper needs
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: redactPaths, censor: redacted },
    },
    destination,
  );
  let child = children.get(name);
  if (!child) {
    child = root.child({ logger: name });
    children.set(name, child);
  }
  return child;
}

/** Keys pino writes itself; a field of the same name is kept beside them, not over them. */
const reservedKeys = new Set(['level', 'time', 'msg', 'logger']);

function formatValue(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(describeError(value));
  if (typeof value === 'string') return /[\s"=]/.test(value) ? JSON.stringify(value) : value;
  return JSON.stringify(value) ?? String(value);
}

export function createLogger(name: string): Logger {
  const write = (level: LogLevel, message: string, fields: LogFields = {}) => {
    if (order[level] < order[threshold]) return;
    const safeMessage = scrubString(message);
    const safeFields = redactValue(fields) as Record<string, unknown>;
    if (format === 'json') {
      const merged: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(safeFields)) merged[reservedKeys.has(key) ? `${key}_` : key] = value;
      pinoFor(name)[level](merged, safeMessage);
      return;
    }
    const rendered = Object.entries(safeFields)
      .map(([key, value]) => `${key}=${formatValue(value)}`)
      .join(' ');
    emit(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${name}: ${safeMessage}${rendered ? ` ${rendered}` : ''}`);
  };
  return {
    debug: (message, fields) => write('debug', message, fields),
    info: (message, fields) => write('info', message, fields),
    warn: (message, fields) => write('warn', message, fields),
    error: (message, fields) => write('error', message, fields),
    child: (childName) => createLogger(`${name}.${childName}`),
  };
}
