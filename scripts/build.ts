// `npm run build`: the CLI as one ES module, dist/room-sync.mjs (packages stay in node_modules).
// `npm start` runs it, as a deployed worker should: through tsx a process carries tsx's loader
// thread and every transpiled source, some 45 MiB of a worker's resident set (docs/capacity.md, Memory).
import { join } from 'node:path';
import { projectRoot } from '../src/setup/source-schemas.js';
import { buildCli } from './room-sync-entry.js';

const outfile = await buildCli(join(projectRoot, 'dist'));
process.stderr.write(`built ${outfile}\n`);
