/** Named loggers with structured fields, one line per event, on stderr (stdout is for the status line). */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
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
const sinks: ((line: string) => void)[] = [];

export function setLogLevel(level: LogLevel): void {
  threshold = level;
}

/** Lets `npm start` keep its status line intact while log lines scroll above it. */
export function addLogSink(sink: (line: string) => void): () => void {
  sinks.push(sink);
  return () => sinks.splice(sinks.indexOf(sink), 1);
}

function formatValue(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(value.cause instanceof Error ? `${value.message} (cause: ${value.cause.message})` : value.message);
  if (typeof value === 'string') return /[\s"=]/.test(value) ? JSON.stringify(value) : value;
  return JSON.stringify(value) ?? String(value);
}

export function createLogger(name: string): Logger {
  const write = (level: LogLevel, message: string, fields: LogFields = {}) => {
    if (order[level] < order[threshold]) return;
    const rendered = Object.entries(fields)
      .map(([key, value]) => `${key}=${formatValue(value)}`)
      .join(' ');
    const line = `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${name}: ${message}${rendered ? ` ${rendered}` : ''}`;
    if (sinks.length > 0) for (const sink of sinks) sink(line);
    else process.stderr.write(`${line}\n`);
  };
  return {
    debug: (message, fields) => write('debug', message, fields),
    info: (message, fields) => write('info', message, fields),
    warn: (message, fields) => write('warn', message, fields),
    error: (message, fields) => write('error', message, fields),
    child: (childName) => createLogger(`${name}.${childName}`),
  };
}
