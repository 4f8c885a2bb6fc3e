/**
 * @module
 * Worker thread of generate(): builds its own simulator once, then simulates and writes the index
 * ranges it is sent.
 */

import { parentPort, workerData } from 'node:worker_threads';
import type { FromWorker, ToWorker, WorkerConfig } from './generate.ts';
import { writeSample } from './output.ts';
import { createSimulator } from './simulator.ts';

const port = parentPort;
if (!port) throw new Error('worker.ts must run in a worker thread');
const config = workerData as WorkerConfig;
const sim = createSimulator();
const made = new Set<string>();
const send = (m: FromWorker) => port.postMessage(m);

port.on('message', async (m: ToWorker) => {
  if (m.type === 'stop') {
    port.close();
    return;
  }
  try {
    for (let i = m.from; i < m.to; i++)
      await writeSample(config.out, sim.simulate(config.seed, i, config.simulate), made);
    send({ type: 'done', count: m.to - m.from });
  } catch (err) {
    send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  }
});
send({ type: 'ready' });
