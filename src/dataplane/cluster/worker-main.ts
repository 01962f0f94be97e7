// Entry point of a forked proxy worker (see cluster/primary.ts).
import { runWorker } from './worker.js'

await runWorker()
