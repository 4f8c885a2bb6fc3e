/**
 * @module
 * `npm run quickstart`: the whole data path on the embedded default.
 *   1. simulate a small synthetic set in the real on-disk layout (once; reused while it is complete),
 *   2. convert it into the training cache with the deterministic 80/10/10 split,
 *   3. evaluate the reference predictors on the test split under Exp I and Exp II,
 * then print the paper's five metrics and write them to runs/quickstart/report.json.
 *
 *   npm run quickstart                         # 400 pairs, seed 1
 *   npm run quickstart -- --count 2000 --seed 7
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { InputError, METRIC_NAMES, type Metrics } from '@ecg-tmp/core';
import { isMainModule } from '@ecg-tmp/core/node';
import { BASELINES, type BaselineName } from './baselines.ts';
import { openCache } from './data.ts';
import { EXPERIMENTS, evaluate } from './evaluate.ts';
import { ROOT, syntheticCache } from './synthetic.ts';

const NORMALISATION = { ecg: 'lead-range', tmp: 'vm-affine' } as const;

const USAGE =
  'usage: npm run quickstart -- [--count N (default 400)] [--seed S (default 1)] [--data DIR (default data)]';

function positiveInt(flag: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min) {
    throw new InputError('bad_value', `--${flag} must be an integer ≥ ${min}, got '${text}'`);
  }
  return n;
}

function table(rows: { name: string; exp: string; m: Metrics }[]): string {
  const head = ['predictor', 'experiment', ...METRIC_NAMES].map((h) => h.padEnd(11)).join('');
  const lines = rows.map(({ name, exp, m }) =>
    [name.padEnd(11), exp.padEnd(11), ...METRIC_NAMES.map((k) => m[k].toFixed(4).padEnd(11))].join(''),
  );
  return [head, ...lines].join('\n');
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  let count: number;
  let seed: number;
  let dataDir: string;
  let reportPath: string;
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: {
        count: { type: 'string' },
        seed: { type: 'string' },
        data: { type: 'string' },
        report: { type: 'string' },
      },
    });
    count = positiveInt('count', values.count, 400, 20);
    seed = positiveInt('seed', values.seed, 1, 0);
    dataDir = resolve(values.data ?? join(ROOT, 'data'));
    reportPath = resolve(values.report ?? join(ROOT, 'runs/quickstart/report.json'));
  } catch (err) {
    process.stderr.write(`start: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  // 1–2. Data: simulated and cached once, reused while the cache is complete.
  let cacheDir: string;
  try {
    cacheDir = await syntheticCache({
      count,
      seed,
      dataDir,
      log: (l) => process.stderr.write(`start: ${l}\n`),
    });
  } catch (err) {
    process.stderr.write(`start: ${(err as Error).message}\n`);
    return 1;
  }
  const cache = await openCache(cacheDir, { verify: true });
  process.stderr.write(
    `start: ${cache.train.count} train / ${cache.val.count} val / ${cache.test.count} test samples\n`,
  );

  // 3. Evaluation of the reference predictors (the trained models join this table later).
  const rows: { name: string; exp: string; m: Metrics }[] = [];
  for (const name of Object.keys(BASELINES) as BaselineName[]) {
    const predict = BASELINES[name](cache.train, NORMALISATION);
    const result = await evaluate(predict, cache.test, { normalisation: NORMALISATION });
    for (const exp of EXPERIMENTS) rows.push({ name, exp, m: result[exp]! });
  }
  process.stdout.write(`\nTest split, normalised scale (Exp I = full, Exp II = limited):\n${table(rows)}\n`);

  await mkdir(dirname(reportPath), { recursive: true });
  const report = { data: cacheDir, count, seed, normalisation: NORMALISATION, results: rows };
  await writeFile(reportPath, `${JSON.stringify(report, null, 2)}\n`);
  process.stderr.write(`start: wrote ${reportPath}\n`);
  return 0;
}

if (isMainModule(import.meta.url)) {
  try {
    process.exitCode = await main();
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    process.stderr.write(`start: ${err.message}\n`);
    process.exitCode = 1;
  }
}
