// Entry point of a forked proxy worker (see cluster/primary.ts).
import { raiseHeapThresholds } from '../../heap-thresholds.js'

raiseHeapThresholds()
const { runWorker } = await import('./worker.js')
await runWorker()
