import type { Client } from '@temporalio/client';
import type { Logger } from '../observability/logger.js';
import { retiredWorkflowTypes } from '../routing/room-routing.js';
import { retireRoomGroupSignal } from '../workflows/messages.js';

/**
 * Workflows of an earlier release that serialized several rooms: each is asked to apply
 * what it holds and complete, so an upgrade leaves no orphaned running workflows. Their
 * rooms' new changes already go to room workflows; the position guard orders the two.
 */
export async function retireRoomGroupWorkflows(client: Client, log: Logger): Promise<number> {
  const types = retiredWorkflowTypes.map((type) => `'${type}'`).join(', ');
  let retired = 0;
  for await (const execution of client.workflow.list({ query: `WorkflowType IN (${types}) AND ExecutionStatus = 'Running'` })) {
    await client.workflow.getHandle(execution.workflowId, execution.runId).signal(retireRoomGroupSignal);
    retired += 1;
  }
  if (retired > 0) log.info('asked room-group workflows of an earlier release to drain and complete', { workflows: retired });
  return retired;
}
