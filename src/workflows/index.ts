export { roomWorkflow } from './room.js';
export { roomGroupWorkflow } from './room-group.js';
export { lagMonitorWorkflow } from './lag-monitor.js';
export { reResolutionWorkflow } from './re-resolution.js';
