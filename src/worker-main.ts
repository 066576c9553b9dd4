/** The entry point node:cluster runs for each worker (set by master.ts through cluster.setupPrimary). */
import { builtinModules } from './modules.js';
import { runWorker } from './process/worker.js';

await runWorker(builtinModules);
