// One small case of each kind of process fault of `npm run faults` (bench/faults), with a
// small load: the pipeline as separate processes on its own databases and a Temporal dev
// server of its own (killed in 3), a fault under load, then convergence with every committed
// change audited exactly once. The PostgreSQL restart is in faults-postgres.test.ts (it must
// run alone); two connectors on one slot (8) and the long scenarios run in `npm run faults`.
import { faultTest } from '../support/fault-scenario.js';

for (const id of [1, 2, 3]) faultTest(id);
