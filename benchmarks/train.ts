/**
 * `npm run bench:train` — training throughput (samples/s, forward + backward + Adam) of the three
 * models: our tfjs trainer on each backend, stock tf.layers on the same backend, and PyTorch on the same
 * machine, measured side by side in one run. Each measurement runs in its own process with a time cap.
 *
 *   npm run bench:train                                   # batch 32, wasm + webgpu, 20 s each
 *   npm run bench:train -- --batch 8 --backends wasm,webgpu,cpu --seconds 10 --timeout 300
 *
 * With ECG_TMP_GEMM=stock in the environment (passed on to the measuring processes) the wasm backend keeps
 * tfjs-wasm's own matMul kernels instead of our GEMM — the "before" of docs/performance.md — and the file
 * is train-<date>-tfjs-kernels.json.
 *
 * Writes benchmarks/results/train-<date>.json: an array with one record per (model, backend):
 * { model, backend, device, batch, oursSamplesPerSec, oursOnTfjsKernelsSamplesPerSec (the same models with
 * every fused op switched off — issue 9's "before"; wasm/cpu, --before-models), stockTfjsSamplesPerSec, pytorchSamplesPerSec,
 * pytorchBatch, pytorchThreads, notes, machine } (null where a side could not run — e.g. stock tfjs on wasm lacks
 * Conv2DBackpropFilter, tf.layers has no attention layer, PyTorch's Transformer batch does not fit).
 */

import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';

const run = promisify(execFile);
const HERE = fileURLToPath(new URL('.', import.meta.url));
const MODELS = ['squeezenet1d', 'cnn-lstm', 'transformer'] as const;

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '32' },
    backends: { type: 'string', default: 'wasm,webgpu' },
    seconds: { type: 'string', default: '20' },
    timeout: { type: 'string', default: '600' },
    models: { type: 'string', default: MODELS.join(',') },
    // The Transformer's "before" takes ~230 s a step at batch 32: left out unless asked for.
    'before-models': { type: 'string', default: 'squeezenet1d,cnn-lstm' },
  },
});
const batch = Number(values.batch);
const timeoutMs = Number(values.timeout) * 1000;

interface Side {
  samplesPerSec?: number;
  device?: string;
  error?: string;
}

/**
 * Every fused op of issue 9 switched off: our models on tfjs's own kernels (tfjs-wasm's matMul, convs as
 * pad + slices + matMul, the LSTM in JavaScript loops, Adam and attention as tfjs ops) — the "before".
 */
const BEFORE_ENV = {
  ECG_TMP_GEMM: 'stock',
  ECG_TMP_CONV: 'ops',
  ECG_TMP_LSTM: 'javascript',
  ECG_TMP_ADAM: 'ops',
  ECG_TMP_ATTENTION: 'ops',
};

async function measure(cmd: string, args: string[], env: Record<string, string> = {}): Promise<Side> {
  try {
    const { stdout } = await run(cmd, args, {
      timeout: timeoutMs,
      maxBuffer: 1 << 22,
      cwd: join(HERE, '..'),
      env: { ...process.env, ...env },
    });
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as Side;
  } catch (err) {
    const e = err as { killed?: boolean; message: string };
    return { error: e.killed ? `timed out after ${values.timeout} s` : e.message.split('\n')[0]! };
  }
}

// node with tsx's loader rather than npx: the time cap must kill the measuring process itself, not a
// wrapper that would leave it running beside the next measurement.
const tfjs = (side: string, backend: string, model: string, env: Record<string, string> = {}) =>
  measure(
    process.execPath,
    ['--import', 'tsx', join(HERE, 'train-step.ts'), side, backend, model, String(batch), values.seconds!],
    env,
  );

const threads = availableParallelism();
const records = [];
for (const model of values.models!.split(',')) {
  // PyTorch cannot hold the Transformer's attention maps for a large batch (~0.93 GB per sample).
  const torchBatch = model === 'transformer' ? Math.min(batch, 2) : batch;
  const torch = await measure('python3', [
    join(HERE, 'pytorch/bench_train.py'),
    '--model',
    model,
    '--batch',
    String(torchBatch),
    '--threads',
    String(threads),
    '--seconds',
    values.seconds!,
  ]);
  for (const backend of values.backends!.split(',')) {
    const ours = await tfjs('ours', backend, model);
    const before =
      ['wasm', 'cpu'].includes(backend) && values['before-models']!.split(',').includes(model)
        ? await tfjs('ours', backend, model, BEFORE_ENV)
        : { error: 'not measured (--before-models)' };
    const stock = await tfjs('stock', backend, model);
    const record = {
      model,
      backend,
      device: ours.device ?? stock.device ?? null,
      batch,
      gemm: process.env.ECG_TMP_GEMM === 'stock' ? 'tfjs-wasm kernels' : 'ours',
      oursSamplesPerSec: ours.samplesPerSec ?? null,
      oursOnTfjsKernelsSamplesPerSec: before.samplesPerSec ?? null,
      stockTfjsSamplesPerSec: stock.samplesPerSec ?? null,
      pytorchSamplesPerSec: torch.samplesPerSec ?? null,
      pytorchBatch: torchBatch,
      pytorchThreads: threads,
      notes: [
        ours.error && `ours: ${ours.error}`,
        before.error && `ours on tfjs kernels: ${before.error}`,
        stock.error && `stock: ${stock.error}`,
        torch.error && `pytorch: ${torch.error}`,
      ]
        .filter(Boolean)
        .join('; '),
    };
    records.push(record);
    const ratio =
      record.oursSamplesPerSec && record.pytorchSamplesPerSec
        ? record.oursSamplesPerSec / record.pytorchSamplesPerSec
        : null;
    process.stdout.write(
      `${model.padEnd(13)} ${backend.padEnd(7)} ours ${record.oursSamplesPerSec?.toFixed(2) ?? '—'} before ${record.oursOnTfjsKernelsSamplesPerSec?.toFixed(2) ?? '—'} stock ${record.stockTfjsSamplesPerSec?.toFixed(3) ?? '—'} pytorch ${record.pytorchSamplesPerSec?.toFixed(2) ?? '—'} samples/s; ours/pytorch ${ratio?.toFixed(3) ?? '—'}\n`,
    );
  }
}
const machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: threads,
  node: process.version,
  date: new Date().toISOString(),
};
await mkdir(join(HERE, 'results'), { recursive: true });
const suffix = process.env.ECG_TMP_GEMM === 'stock' ? '-tfjs-kernels' : '';
const file = join(HERE, 'results', `train-${machine.date.slice(0, 10)}${suffix}.json`);
await writeFile(
  file,
  `${JSON.stringify(
    records.map((r) => ({ ...r, machine })),
    null,
    2,
  )}\n`,
);
process.stdout.write(`wrote ${file}\n`);
