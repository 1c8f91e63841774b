// @serial: restarts the PostgreSQL server every other suite uses
// `npm run faults` scenario 4 with a small load: the PostgreSQL server crash-restarted under
// load; the pipeline reconnects by itself and every committed change is audited exactly once.
import { faultTest } from '../support/fault-scenario.js';

faultTest(4);
