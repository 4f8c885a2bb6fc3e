/**
 * @module
 * Where a reconstructed upstroke sits in time, read at several levels. core's activationTimes takes the
 * first crossing of 0 mV; the simulator's upstroke is a 1 ms step from rest (about −85 mV) to +20…+30 mV,
 * so on the truth every level gives the same time, but on a reconstruction whose upstroke is a ramp each
 * level reads a different time. This measures, for each shipped stable model on the test split (held out
 * from training and from every choice of weights), the error and the bias (predicted − true) of the
 * activation time read at −50, −30 and 0 mV and at the steepest rise, and how wide the predicted rise
 * from −75 to 0 mV is. A ramp centred on the true time is late at 0 mV and early at −50 mV; a late
 * model is late at every level. `byTrueTime` splits the sites by their true activation time (20 ms bins):
 * how wide the drawn rise is and how far off it is at −30 and 0 mV, early sites against late ones.
 *
 * The models run as a user runs them: the SDK on WASM from models/ (the stable versions), the raw ECG in
 * mV in, the TMP in mV out. The test split is the default set's (16,117 pairs, seed 1), made on a fresh
 * clone by the trainer's syntheticCache (~10 min) if it is not there.
 *
 *   npm run bench:upstroke                                   # cnn-lstm and cnn, the first 400 test pairs
 *   npm run bench:upstroke -- --models transformer --limit 200
 * Writes benchmarks/results/upstroke-<model>.json.
 */

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { N_LEADS, N_SITES, N_STEPS } from '@ecg-tmp/core';
import { createReconstructor, memoryStore } from '../packages/client-sdk/src/index.ts';
import { loadCacheSplit, readCacheIndex } from '../packages/trainer/src/data.ts';
import { ROOT, syntheticCache } from '../packages/trainer/src/synthetic.ts';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'cnn-lstm,cnn' },
    limit: { type: 'string', default: '400' },
  },
});
const limit = Number(values.limit);
if (!Number.isSafeInteger(limit) || limit < 1)
  throw new Error(`--limit must be a whole number ≥ 1, got ${values.limit}`);

const BIN_MS = 20;
/** Sites activating at or after this (ms) share the last bin. */
const BIN_LAST = 120;

/** How one level reads a site's trace: the step (ms) of its upstroke, or −1 when there is none. */
type Reader = (trace: Float32Array) => number;

const crossing =
  (levelMv: number): Reader =>
  (trace) =>
    trace.findIndex((v) => v > levelMv);

/** The steepest one-step rise within the 60 ms before the first 0 mV crossing (the first upstroke). */
const steepest: Reader = (trace) => {
  const at = trace.findIndex((v) => v > 0);
  if (at < 0) return -1;
  let best = -1;
  let rise = 0;
  for (let k = Math.max(1, at - 60); k <= at; k++) {
    const d = trace[k]! - trace[k - 1]!;
    if (d > rise) [best, rise] = [k, d];
  }
  return best;
};

const READERS: Readonly<Record<string, Reader>> = {
  '−50 mV crossing': crossing(-50),
  '−30 mV crossing': crossing(-30),
  '0 mV crossing (core activationTimes)': crossing(0),
  'steepest rise before 0 mV': steepest,
};

/** The local file system as the SDK's fetch: models/ served from disk. */
const fileFetch: typeof fetch = async (input) => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  try {
    return new Response(new Uint8Array(await readFile(fileURLToPath(url))));
  } catch {
    return new Response('not found', { status: 404 });
  }
};

const dir = await syntheticCache({
  count: 16117,
  seed: 1,
  dataDir: join(ROOT, 'data'),
  log: (line) => console.log(line),
});
const test = await loadCacheSplit(dir, await readCacheIndex(dir), 'test');
const pairs = Math.min(limit, test.count);
const ecgSize = N_LEADS * N_STEPS;
const vmSize = N_SITES * N_STEPS;

await mkdir(join(ROOT, 'benchmarks/results'), { recursive: true });
for (const model of (values.models ?? '').split(',')) {
  const r = await createReconstructor({
    model,
    modelsUrl: pathToFileURL(join(ROOT, 'models/')).href,
    fetch: fileFetch,
    device: 'wasm',
    cache: memoryStore(),
  });
  const sums = Object.fromEntries(
    Object.keys(READERS).map((k) => [k, { n: 0, abs: 0, signed: 0, missed: 0 }]),
  );
  const widths: number[] = [];
  /** Per 20 ms bin of the true activation time: the rise widths and the summed |errors| at −30 and 0 mV. */
  const bins = new Map<number, { widths: number[]; mid: number; zero: number }>();
  for (let i = 0; i < pairs; i++) {
    const { tmp } = await r.reconstruct(test.ecg.slice(i * ecgSize, (i + 1) * ecgSize));
    for (let s = 0; s < N_SITES; s++) {
      const truth = test.vm.subarray(i * vmSize + s * N_STEPS, i * vmSize + (s + 1) * N_STEPS);
      const predicted = tmp.subarray(s * N_STEPS, (s + 1) * N_STEPS);
      for (const [name, read] of Object.entries(READERS)) {
        const [t, p, sum] = [read(truth), read(predicted), sums[name]!];
        if (t < 0 || p < 0) {
          if (t !== p) sum.missed++;
          continue;
        }
        sum.n++;
        sum.abs += Math.abs(p - t);
        sum.signed += p - t;
      }
      const [from, to] = [crossing(-75)(predicted), crossing(0)(predicted)];
      if (from >= 0 && to >= from) widths.push(to - from);
      const [at, mid] = [crossing(0)(truth), crossing(-30)(predicted)];
      if (at >= 0 && mid >= 0 && from >= 0 && to >= from) {
        const key = Math.min(BIN_LAST, Math.floor(at / BIN_MS) * BIN_MS);
        const bin = bins.get(key) ?? { widths: [], mid: 0, zero: 0 };
        bin.widths.push(to - from);
        bin.mid += Math.abs(mid - at);
        bin.zero += Math.abs(to - at);
        bins.set(key, bin);
      }
    }
  }
  const median = (a: number[]) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)] ?? null;
  widths.sort((a, b) => a - b);
  const quantile = (q: number) => widths[Math.min(widths.length - 1, Math.floor(q * widths.length))] ?? null;
  const result = {
    model,
    version: r.manifest.version,
    data: 'synthetic-d3-s1-n16117, test split',
    pairs,
    sites: pairs * N_SITES,
    riseMs: {
      description: 'predicted −75 → 0 mV rise (the truth: 1 ms)',
      p10: quantile(0.1),
      median: quantile(0.5),
      p90: quantile(0.9),
    },
    levels: Object.fromEntries(
      Object.entries(sums).map(([name, s]) => [
        name,
        {
          maeMs: s.n === 0 ? null : s.abs / s.n,
          biasMs: s.n === 0 ? null : s.signed / s.n,
          sites: s.n,
          missed: s.missed,
        },
      ]),
    ),
    byTrueTime: {
      description: `sites by true activation time (${BIN_MS} ms bins, the last open-ended): the predicted −75 → 0 mV rise and the activation MAE read at −30 and at 0 mV`,
      bins: [...bins]
        .sort((a, b) => a[0] - b[0])
        .map(([fromMs, b]) => ({
          fromMs,
          sites: b.widths.length,
          riseMedianMs: median(b.widths),
          maeAtMinus30Ms: b.mid / b.widths.length,
          maeAt0Ms: b.zero / b.widths.length,
        })),
    },
    time: new Date().toISOString(),
  };
  await r.dispose();
  const file = join(ROOT, `benchmarks/results/upstroke-${model}.json`);
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(
    `${model} ${result.version}, ${pairs} test pairs: predicted −75 → 0 mV rise median ${result.riseMs.median} ms`,
  );
  for (const [name, l] of Object.entries(result.levels)) {
    console.log(
      `  ${name.padEnd(38)} MAE ${l.maeMs?.toFixed(2)} ms, bias ${l.biasMs?.toFixed(2)} ms${l.missed > 0 ? `, ${l.missed} sites activated in only one` : ''}`,
    );
  }
  for (const b of result.byTrueTime.bins)
    console.log(
      `  true activation ${String(b.fromMs).padStart(3)}${b.fromMs === BIN_LAST ? '+' : `–${b.fromMs + BIN_MS}`} ms: ${b.sites} sites, rise ${b.riseMedianMs} ms, MAE at −30 mV ${b.maeAtMinus30Ms.toFixed(2)}, at 0 mV ${b.maeAt0Ms.toFixed(2)} ms`,
    );
  console.log(`  wrote ${file}`);
}
