export { roomWorkflow } from './room.js';
export { lagMonitorWorkflow } from './lag-monitor.js';
