// First: it sets how the shared workflow context captures stacks before anything else runs there.
import './stack-traces.js';
export { roomWorkflow } from './room.js';
export { roomGroupWorkflow } from './room-group.js';
export { lagMonitorWorkflow } from './lag-monitor.js';
export { alertOutboxWorkflow } from './alert-outbox.js';
export { reResolutionWorkflow } from './re-resolution.js';
export { scheduledReconcileWorkflow } from './reconcile.js';
