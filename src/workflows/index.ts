export { roomWorkflow } from './room.js';
