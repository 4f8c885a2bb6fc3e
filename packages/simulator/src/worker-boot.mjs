// Entry of a worker thread when the simulator runs from its TypeScript sources (tsx, vitest): registers
// tsx's loader in this thread, then loads the real worker.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
