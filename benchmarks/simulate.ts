/**
 * Simulator throughput: pairs/second writing the real layout, with one worker and with all workers,
 * and the projected time for the full 16,117-pair set. Writes benchmarks/results/simulate.md.
 *
 *   npm run bench:simulate                 # default 300 pairs on 1 worker, 1200 on all
 *   npm run bench:simulate -- 100 400      # smaller run
 *   npm run bench:simulate -- --full       # also time the whole 16,117-pair set (5.2 GB, ~2 min)
 *
 * The output goes to a temporary folder that is removed afterwards. Timings include starting the
 * workers (each loads the mesh and builds the lead field) and writing the .npy files.
 */

import { execSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSimulator, generate } from '../packages/simulator/src/index.ts';

const FULL_SET = 16_117;
const args = process.argv.slice(2);
const full = args.includes('--full');
const [oneCount = 300, allCount = 1200] = args.filter((a) => !a.startsWith('--')).map(Number);
const workers = availableParallelism();

async function run(count: number, k: number, seed: number): Promise<number> {
  const out = await mkdtemp(join(tmpdir(), 'ecg-bench-'));
  try {
    const t0 = performance.now();
    await generate({ out, count, seed, workers: k });
    return count / ((performance.now() - t0) / 1000);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

// Compute only (no files), one thread: where the time goes.
const t0 = performance.now();
const sim = createSimulator();
const setupMs = performance.now() - t0;
const t1 = performance.now();
for (let i = 0; i < 200; i++) sim.simulate(1, i);
const simulateMs = (performance.now() - t1) / 200;

const one = await run(oneCount, 1, 2);
const all = await run(allCount, workers, 3);
const fullRate = full ? await run(FULL_SET, workers, 4) : undefined;
const nproc = execSync('nproc').toString().trim();
const cpu = cpus()[0]?.model ?? 'unknown';
const minutes = (rate: number) => (FULL_SET / rate / 60).toFixed(1);
const report = `# Simulator throughput

Measured by \`npm run bench:simulate\` (benchmarks/simulate.ts): pairs generated and written as .npy
(pECGData 500×10 + VmData 500×75, float64) per second, worker start-up included.

| | value |
|---|---|
| date | ${new Date().toISOString()} |
| machine | nproc ${nproc}, ${cpu} |
| node | ${process.version} |
| simulator setup (mesh + lead field) | ${setupMs.toFixed(0)} ms |
| simulate() only, 1 thread | ${simulateMs.toFixed(2)} ms/pair (${(1000 / simulateMs).toFixed(0)} pairs/s) |
| 1 worker (main thread), ${oneCount} pairs | **${one.toFixed(1)} pairs/s** → 16,117 pairs in ${minutes(one)} min |
| ${workers} worker threads, ${allCount} pairs | **${all.toFixed(1)} pairs/s** → 16,117 pairs in ${minutes(all)} min |
${fullRate === undefined ? '' : `| ${workers} worker threads, the full ${FULL_SET} pairs | **${fullRate.toFixed(1)} pairs/s**, ${minutes(fullRate)} min measured |\n`}
Target: the full 16,117-pair set in under 10 minutes (≥ 27 pairs/s) on 2 cores.
`;
await writeFile(new URL('results/simulate.md', import.meta.url), report);
process.stdout.write(report);
