// The sync suite again under per-room routing (one workflow per room), the layout the
// design started from: every routing must give the same unified view and audit.
process.env['TEST_ROOM_ROUTING'] = 'per-room';
await import('./sync.test.js');
