/** The entry point node:cluster runs for each worker (set by master.ts through cluster.setupPrimary). */
import { runWorker } from './worker.js';

await runWorker();
