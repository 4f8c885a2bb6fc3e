/**
 * `npm run bench:gemm` — GFLOPS of our WebAssembly SIMD GEMM (packages/trainer/src/gemm) against
 * tfjs-backend-wasm's own BatchMatMul, side by side in one process, on the products the models run at
 * batch 32 × 500 steps (M = 16,000 rows): forward x·W, input gradient dy·Wᵀ, weight gradient xᵀ·dy.
 *
 *   npm run bench:gemm                    # every shape, 1 and 2 threads
 *   npm run bench:gemm -- --reps 2
 *
 * Columns: `raw` is the kernel on arrays already in its memory's reach (Gemm.matmul: copies in and out
 * included), `tfjs` the same kernel installed as the wasm backend's BatchMatMul and timed through
 * tf.matMul (operands read from and the product written to tfjs's heap), `stock` tfjs-wasm's BatchMatMul
 * through tf.matMul. Writes benchmarks/results/gemm.{json,md}.
 */

import { writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';

process.env.ECG_TMP_GEMM = 'stock';
const { startBackend } = await import('../packages/trainer/src/backend.ts');
const { createGemm } = await import('../packages/trainer/src/gemm/gemm.ts');
const { installGemmKernels } = await import('../packages/trainer/src/gemm/tfjs-kernels.ts');

const { values } = parseArgs({ options: { reps: { type: 'string', default: '2' } } });
const reps = Number(values.reps);

interface Shape {
  readonly what: string;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly transposeA: boolean;
  readonly transposeB: boolean;
}

const ROWS = 32 * 500;
/** A layer's three products: forward, input gradient, weight gradient. */
const layer = (name: string, k: number, n: number): Shape[] => [
  { what: `${name} forward`, m: ROWS, n, k, transposeA: false, transposeB: false },
  { what: `${name} d(input)`, m: ROWS, n: k, k: n, transposeA: false, transposeB: true },
  { what: `${name} d(weight)`, m: k, n, k: ROWS, transposeA: true, transposeB: false },
];
const SHAPES: Shape[] = [
  // The reference measurement's shape (../shared/reference-measurements.md): 16000×384 · 384×256.
  ...layer('CNN-LSTM conv2 (k3, 128→256)', 384, 256),
  ...layer('CNN-LSTM conv1 (k3, 64→128)', 192, 128),
  ...layer('SqueezeNet fire7 squeeze (512→64)', 512, 64),
  ...layer('SqueezeNet fire7 expand3 (k3, 64→256)', 192, 256),
  ...layer('SqueezeNet stem (k3, 12→64)', 36, 64),
];

function gflops(s: Shape, seconds: number): number {
  return (2 * s.m * s.n * s.k) / seconds / 1e9;
}

function time(f: () => void): number {
  f();
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) f();
  return (performance.now() - t0) / 1000 / reps;
}

await startBackend('wasm');
const rows: Record<string, unknown>[] = [];
for (const s of SHAPES) {
  const aShape = s.transposeA ? [s.k, s.m] : [s.m, s.k];
  const bShape = s.transposeB ? [s.n, s.k] : [s.k, s.n];
  const a = tf.randomUniform(aShape, -1, 1, 'float32', 1);
  const b = tf.randomUniform(bShape, -1, 1, 'float32', 2);
  // The wasm backend runs a kernel synchronously, so the product is done when matMul returns; reading it
  // back (dataSync: ~4 ms per MB here) would time tfjs's readback rather than the kernel, and training
  // never reads a product back.
  const viaTfjs = () => tf.matMul(a, b, s.transposeA, s.transposeB).dispose();
  const stock = gflops(s, time(viaTfjs));
  const row: Record<string, unknown> = { ...s, stockGflops: stock };
  const aData = a.dataSync() as Float32Array;
  const bData = b.dataSync() as Float32Array;
  for (const threads of [1, 2]) {
    const gemm = createGemm({ threads });
    await gemm.started();
    const out = new Float32Array(s.m * s.n);
    const job = {
      a: aData,
      b: bData,
      m: s.m,
      n: s.n,
      k: s.k,
      transposeA: s.transposeA,
      transposeB: s.transposeB,
    };
    row[`raw${threads}Gflops`] = gflops(
      s,
      time(() => gemm.matmulInto(job, out)),
    );
    await gemm.close();
    const installed = installGemmKernels({ threads });
    await installed.gemm.started();
    row[`tfjs${threads}Gflops`] = gflops(s, time(viaTfjs));
    await installed.uninstall();
  }
  tf.dispose([a, b]);
  rows.push(row);
  const f = (v: unknown) => (v as number).toFixed(1);
  process.stdout.write(
    `${s.what.padEnd(48)} ${`${s.m}×${s.k}·${s.k}×${s.n}`.padEnd(22)} stock ${f(row.stockGflops)}  ours raw ${f(row.raw1Gflops)} / ${f(row.raw2Gflops)}  via tfjs ${f(row.tfjs1Gflops)} / ${f(row.tfjs2Gflops)} GFLOPS (1 / 2 threads)\n`,
  );
}

const machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  node: process.version,
  date: new Date().toISOString(),
  loadAverage: loadavg(),
};
const results = new URL('./results/', import.meta.url);
await writeFile(new URL('gemm.json', results), `${JSON.stringify({ machine, reps, rows }, null, 2)}\n`);
const n = (v: unknown) => (v as number).toFixed(1);
const table = [
  '| product | M×K · K×N | stock tfjs-wasm | ours 1 thread (raw / via tfjs) | ours 2 threads (raw / via tfjs) | ours/stock (2 threads, via tfjs) |',
  '|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.what} | ${r.m}×${r.k} · ${r.k}×${r.n}${r.transposeA ? ' (Aᵀ)' : ''}${r.transposeB ? ' (Bᵀ)' : ''} | ${n(r.stockGflops)} | ${n(r.raw1Gflops)} / ${n(r.tfjs1Gflops)} | ${n(r.raw2Gflops)} / ${n(r.tfjs2Gflops)} | ${((r.tfjs2Gflops as number) / (r.stockGflops as number)).toFixed(1)}× |`,
  ),
];
await writeFile(
  new URL('gemm.md', results),
  `# bench:gemm — our WebAssembly SIMD GEMM vs tfjs-backend-wasm's BatchMatMul (GFLOPS)

\`npm run bench:gemm -- --reps ${reps}\` on ${machine.cpu} (${machine.cores} cores), Node ${machine.node}, ${machine.date.slice(0, 10)};
load average at the end ${machine.loadAverage.map((l) => l.toFixed(2)).join(', ')} (the cores are shared with other work:
compare within a row). Raw records: \`gemm.json\`.

${table.join('\n')}
`,
);
process.stdout.write('wrote benchmarks/results/gemm.{json,md}\n');
