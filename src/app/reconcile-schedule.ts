import { ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleOptions } from '@temporalio/client';
import { sourceNames } from '../domain/room.js';
import { monitorTaskQueue } from '../workers/task-queues.js';
import { lagMonitorWorkflowId } from '../workflows/messages.js';
import { scheduledReconcileWorkflow } from '../workflows/reconcile.js';
import { syncRoleKey } from '../workflows/search-attributes.js';

export const reconcileScheduleId = 'room-sync-reconcile';

export interface ReconcileScheduleSettings {
  /** A cron expression (RECONCILE_SCHEDULE), or `off`: no schedule (an existing one is deleted). */
  readonly cron: string;
  readonly channelNames: readonly string[];
  readonly monitorWorkflowId?: string;
}

export type ScheduleOutcome = 'created' | 'updated' | 'deleted' | 'off';

/**
 * The Temporal Schedule that runs `scheduledReconcileWorkflow` (both sources, no repair) on the
 * monitor's task queue. Idempotent: created when missing, brought to the current settings when
 * present (two processes starting at once both end up with the one schedule).
 */
export async function ensureReconcileSchedule(client: Client, taskQueue: string, settings: ReconcileScheduleSettings, scheduleId = reconcileScheduleId): Promise<ScheduleOutcome> {
  const handle = client.schedule.getHandle(scheduleId);
  const exists = await handle.describe().then(
    () => true,
    (error: unknown) => {
      if (error instanceof ScheduleNotFoundError) return false;
      throw error;
    },
  );
  if (settings.cron === 'off') {
    if (!exists) return 'off';
    await handle.delete();
    return 'deleted';
  }
  const options = {
    scheduleId,
    spec: { cronExpressions: [settings.cron] },
    action: {
      type: 'startWorkflow' as const,
      workflowType: scheduledReconcileWorkflow,
      workflowId: `${scheduleId}-run`,
      taskQueue: monitorTaskQueue(taskQueue),
      args: [{ sources: [...sourceNames], channelNames: [...settings.channelNames], monitorWorkflowId: settings.monitorWorkflowId ?? lagMonitorWorkflowId }] as [Parameters<typeof scheduledReconcileWorkflow>[0]],
      typedSearchAttributes: [{ key: syncRoleKey, value: 'reconcile' }],
    },
    // A reconcile still running when the next is due: the next is skipped, never stacked.
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
    memo: { about: 'room-sync reconcile of both sources (no repair); drift raises a warning alert' },
  } satisfies ScheduleOptions;
  const update = () => handle.update((previous) => ({ ...previous, spec: options.spec, action: options.action, policies: { ...previous.policies, ...options.policies } }));
  if (exists) {
    await update();
    return 'updated';
  }
  try {
    await client.schedule.create(options);
    return 'created';
  } catch (error) {
    // Another process created it meanwhile.
    if (error instanceof Error && error.name === 'ScheduleAlreadyRunning') {
      await update();
      return 'updated';
    }
    throw error;
  }
}
