/**
 * @module
 * Writes a data set: samples start … start+count−1 under one seed, spread over worker threads. Each
 * sample depends only on (seed, index), so the files are byte-identical for any worker count.
 */

import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { writeSample } from './output.ts';
import { createSimulator, type SimulateOptions } from './simulator.ts';

export interface GenerateOptions {
  readonly out: string;
  readonly count: number;
  readonly seed: number;
  /** First sample index (default 0). */
  readonly start?: number;
  /** Worker threads (default os.availableParallelism()); 1 runs in this thread. */
  readonly workers?: number;
  readonly simulate?: Omit<SimulateOptions, 'includeNodeVm'>;
  /** Called with the number of pairs just finished. */
  readonly onProgress?: (n: number) => void;
}

/** Message protocol between generate() and worker.ts. */
export type ToWorker = { type: 'job'; from: number; to: number } | { type: 'stop' };
export type FromWorker =
  | { type: 'ready' }
  | { type: 'done'; count: number }
  | { type: 'error'; message: string };
export interface WorkerConfig {
  readonly out: string;
  readonly seed: number;
  readonly simulate: Omit<SimulateOptions, 'includeNodeVm'>;
}

const CHUNK = 8;

/**
 * Starts worker.ts. Run from TypeScript sources (tsx, vitest) the worker is TypeScript too, so it starts
 * through worker-boot.mjs, which registers tsx's loader in the new thread first. Code bundled away from
 * the sources names the worker's own bundle in ECG_TMP_SIMULATOR_WORKER (benchmarks/gpu-run.ts).
 */
function spawnWorker(config: WorkerConfig): Worker {
  const bundled = process.env.ECG_TMP_SIMULATOR_WORKER;
  const fromSources = import.meta.url.endsWith('.ts');
  const entry = bundled
    ? pathToFileURL(resolve(bundled))
    : new URL(fromSources ? './worker-boot.mjs' : './worker.js', import.meta.url);
  return new Worker(entry, { workerData: config });
}

/**
 * Simulates and writes pairs start … start+count−1.
 * @example
 * await generate({ out: 'data/synthetic', count: 1000, seed: 1, workers: 2, onProgress: (n) => bar.tick(n) });
 */
export async function generate(options: GenerateOptions): Promise<void> {
  const { out, count, seed, start = 0, simulate = {}, onProgress } = options;
  const workers = Math.max(
    1,
    Math.min(options.workers ?? availableParallelism(), Math.ceil(count / CHUNK) || 1),
  );
  if (workers === 1) {
    const sim = createSimulator();
    const made = new Set<string>();
    for (let i = start; i < start + count; i++) {
      await writeSample(out, sim.simulate(seed, i, simulate), made);
      onProgress?.(1);
    }
    return;
  }
  let next = start;
  const end = start + count;
  const config: WorkerConfig = { out, seed, simulate };
  const pool = Array.from({ length: workers }, () => spawnWorker(config));
  try {
    await Promise.all(
      pool.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const feed = () => {
              if (next >= end) {
                w.postMessage({ type: 'stop' } satisfies ToWorker);
                resolve();
                return;
              }
              const from = next;
              next = Math.min(end, next + CHUNK);
              w.postMessage({ type: 'job', from, to: next } satisfies ToWorker);
            };
            w.on('message', (m: FromWorker) => {
              if (m.type === 'error') reject(new Error(m.message));
              else if (m.type === 'ready') feed();
              else {
                onProgress?.(m.count);
                feed();
              }
            });
            w.on('error', reject);
            w.on('exit', (code) => {
              if (code !== 0) reject(new Error(`simulator worker exited with code ${code}`));
            });
          }),
      ),
    );
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
}
