import type { LogLevel as TemporalLogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import type { Logger, LogLevel } from './logger.js';

const levels: Record<TemporalLogLevel, { readonly rank: number; readonly as: LogLevel }> = {
  TRACE: { rank: 0, as: 'debug' },
  DEBUG: { rank: 1, as: 'debug' },
  INFO: { rank: 2, as: 'info' },
  WARN: { rank: 3, as: 'warn' },
  ERROR: { rank: 4, as: 'error' },
};

/**
 * The Temporal SDK's own lines (worker state, the core's warnings, its retries) through our
 * logger instead of the SDK's DefaultLogger, so they are one JSON object per line under
 * LOG_FORMAT=json and pass the same redaction as ours. Lines below `minimum` are dropped:
 * the SDK's chatter only matters when something is wrong.
 */
export function temporalSdkLogger(log: Logger, minimum: TemporalLogLevel): TemporalLogger {
  const write = (level: TemporalLogLevel, message: string, meta?: LogMetadata) => {
    const { rank, as } = levels[level];
    if (rank < levels[minimum].rank) return;
    log[as](message, meta);
  };
  return {
    log: write,
    trace: (message, meta) => write('TRACE', message, meta),
    debug: (message, meta) => write('DEBUG', message, meta),
    info: (message, meta) => write('INFO', message, meta),
    warn: (message, meta) => write('WARN', message, meta),
    error: (message, meta) => write('ERROR', message, meta),
  };
}
