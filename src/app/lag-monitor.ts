import { syncRoleKey } from '../workflows/search-attributes.js';
import { monitorTaskQueue } from '../workers/task-queues.js';
import type { Client } from '@temporalio/client';
import type { AppConfig } from '../config/env.js';
import { channelsFromConfig } from '../monitoring/channels.js';
import { lagMonitorWorkflow } from '../workflows/lag-monitor.js';
import { lagMonitorWorkflowId, monitorSettingsSignal, type MonitorSettings } from '../workflows/messages.js';

export function monitorSettingsFromConfig(config: AppConfig): MonitorSettings {
  return {
    thresholds: {
      warnSeconds: config.LAG_WARN_SECONDS,
      pageSeconds: config.LAG_PAGE_SECONDS,
      clearRatio: config.LAG_CLEAR_RATIO,
      clearChecks: config.LAG_CLEAR_CHECKS,
    },
    checkIntervalSeconds: config.LAG_CHECK_INTERVAL_SECONDS,
    staleAfterSeconds: config.STALE_AFTER_SECONDS,
    validForSeconds: config.MONITOR_SILENCE_SECONDS,
    channelNames: channelsFromConfig(config).map((channel) => channel.name),
    catchupGraceSeconds: config.LAG_CATCHUP_GRACE_SECONDS,
  };
}

/**
 * Starts the monitor if it is not running, and hands a running one the current settings.
 * `taskQueue` is the rooms' task queue; the monitor runs on its own (monitorTaskQueue).
 */
export async function ensureLagMonitor(client: Client, taskQueue: string, settings: MonitorSettings, workflowId = lagMonitorWorkflowId): Promise<void> {
  // A monitor an earlier release started on the rooms' queue would wait there for activities no worker offers.
  const running = await client.workflow
    .getHandle(workflowId)
    .describe()
    .catch(() => null);
  if (running?.status.name === 'RUNNING' && running.taskQueue !== monitorTaskQueue(taskQueue)) {
    await client.workflow.getHandle(workflowId).terminate(`moved to task queue ${monitorTaskQueue(taskQueue)}`);
  }
  await client.workflow.signalWithStart(lagMonitorWorkflow, {
    workflowId,
    taskQueue: monitorTaskQueue(taskQueue),
    args: [{ settings }],
    signal: monitorSettingsSignal,
    signalArgs: [settings],
    typedSearchAttributes: [{ key: syncRoleKey, value: 'lag-monitor' }],
  });
}
