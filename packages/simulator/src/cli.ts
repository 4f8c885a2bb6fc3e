/**
 * @module
 * Command line: writes the synthetic data set in the real LLNL layout.
 *
 *   npm run simulate -- --count 16117 --seed 1 --out data/synthetic
 *   npm run simulate -- --count 100 --seed 7 --out /tmp/ds --noise-snr 30 --workers 2
 *   npm run simulate -- --count 2000 --seed 1 --out data/synthetic-fixed-ap --ap fixed
 *
 * Progress (rate, ETA) goes to stderr. Bad flags exit with status 2 and a message naming the flag and
 * the expected form; other failures (e.g. an unwritable folder) exit with status 1 and a one-line message.
 */

import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { InputError } from '@ecg-tmp/core';
import { isMainModule } from '@ecg-tmp/core/node';
import { generate } from './generate.ts';
import type { NoiseOptions } from './noise.ts';
import { createProgress } from './progress.ts';
import { VARIANTS, type Variant } from './scenarios.ts';
import { AP_MODES, type ApMode } from './simulator.ts';

export const USAGE = `Usage: npm run simulate -- --count N --seed S --out DIR [options]

Writes N ECG/Vm pairs (samples S:0 … S:N−1) as OUT/data_hearts_dd_0p2_<variant>/{pECGData,VmData}_*.npy.

  --count N              number of pairs (positive integer)
  --seed S               seed (integer 0 … 4294967295)
  --out DIR              output folder (created if missing)
  --start I              first sample index (default 0)
  --variant V            force one scenario: ${VARIANTS.join(', ')} (default: drawn per sample)
  --ap MODE              action potentials: drawn (per heart, default) or fixed (the fixed-AP variant:
                         every heart with the same nominal AP parameters, activation unchanged)
  --noise-snr DB         white noise on the electrodes at this SNR in dB (default: none)
  --baseline-wander MV   baseline wander amplitude in mV (default 0)
  --mains-hz HZ          mains frequency, 50 or 60 (default 50)
  --mains-mv MV          mains hum amplitude in mV (default 0)
  --workers K            worker threads (default: ${availableParallelism()}, the available parallelism)
  --quiet                no progress bar
  --help                 this text`;

/** A mistake in the command line: printed without a stack trace, exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface CliOptions {
  readonly count: number;
  readonly seed: number;
  readonly out: string;
  readonly start: number;
  readonly variant?: Variant;
  readonly ap?: ApMode;
  readonly noise?: NoiseOptions;
  readonly workers: number;
  readonly quiet: boolean;
}

function integer(flag: string, text: string | undefined, min: number, max: number, form: string): number {
  if (text === undefined || !/^\d+$/.test(text.trim()) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`--${flag} expects ${form}, got '${text ?? ''}'`);
  }
  return Number(text);
}

function real(flag: string, text: string, min: number, form: string): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || v < min)
    throw new UsageError(`--${flag} expects ${form}, got '${text}'`);
  return v;
}

/** Parses and validates the arguments (without the node and script paths). Returns null for --help. */
export function parseCli(argv: readonly string[]): CliOptions | null {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        count: { type: 'string' },
        seed: { type: 'string' },
        out: { type: 'string' },
        start: { type: 'string' },
        variant: { type: 'string' },
        ap: { type: 'string' },
        'noise-snr': { type: 'string' },
        'baseline-wander': { type: 'string' },
        'mains-hz': { type: 'string' },
        'mains-mv': { type: 'string' },
        workers: { type: 'string' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }));
  } catch (err) {
    // node:util's messages name the flag ("Unknown option '--x'", "Option '--count <value>' argument missing").
    throw new UsageError((err as Error).message.split('\n')[0]!.replace(/\. To specify.*$/, ''));
  }
  if (values.help) return null;
  const str = (k: string) => values[k] as string | undefined;
  for (const required of ['count', 'seed', 'out']) {
    if (str(required) === undefined) throw new UsageError(`--${required} is required`);
  }
  const variant = str('variant');
  if (variant !== undefined && !(VARIANTS as readonly string[]).includes(variant)) {
    throw new UsageError(`--variant expects one of ${VARIANTS.join(', ')}, got '${variant}'`);
  }
  const ap = str('ap');
  if (ap !== undefined && !(AP_MODES as readonly string[]).includes(ap)) {
    throw new UsageError(`--ap expects one of ${AP_MODES.join(', ')}, got '${ap}'`);
  }
  const noise: NoiseOptions = {};
  const snr = str('noise-snr');
  if (snr !== undefined)
    Object.assign(noise, {
      snrDb: real('noise-snr', snr, Number.NEGATIVE_INFINITY, 'a number of dB (e.g. 30)'),
    });
  const wander = str('baseline-wander');
  if (wander !== undefined)
    Object.assign(noise, { baselineWanderMv: real('baseline-wander', wander, 0, 'an amplitude in mV ≥ 0') });
  const hz = str('mains-hz');
  if (hz !== undefined) {
    if (hz !== '50' && hz !== '60') throw new UsageError(`--mains-hz expects 50 or 60, got '${hz}'`);
    Object.assign(noise, { mainsHz: Number(hz) });
  }
  const mains = str('mains-mv');
  if (mains !== undefined)
    Object.assign(noise, { mainsMv: real('mains-mv', mains, 0, 'an amplitude in mV ≥ 0') });
  const out = str('out')!;
  if (out.trim() === '') throw new UsageError(`--out expects a folder path, got ''`);
  const count = integer('count', str('count'), 1, 1e9, 'a positive integer (number of pairs)');
  const start =
    str('start') === undefined ? 0 : integer('start', str('start'), 0, 0xffffffff, 'a sample index ≥ 0');
  if (start + count - 1 > 0xffffffff) {
    throw new UsageError(
      `--start + --count must stay below 4294967296 sample indices, got ${start} + ${count}`,
    );
  }
  return {
    count,
    seed: integer('seed', str('seed'), 0, 0xffffffff, 'an integer from 0 to 4294967295'),
    out: resolve(out),
    start,
    ...(variant ? { variant: variant as Variant } : {}),
    ...(ap ? { ap: ap as ApMode } : {}),
    ...(Object.keys(noise).length > 0 ? { noise } : {}),
    workers:
      str('workers') === undefined
        ? availableParallelism()
        : integer('workers', str('workers'), 1, 1024, 'a positive integer (worker threads)'),
    quiet: values.quiet === true,
  };
}

/**
 * Runs the CLI and returns the exit status (0 ok, 1 failure, 2 bad usage).
 * @example
 * process.exitCode = await main(['--count', '10', '--seed', '1', '--out', '/tmp/ds']);
 */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  let opts: CliOptions | null;
  try {
    opts = parseCli(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`error: ${err.message}\nRun with --help for usage.\n`);
    return 2;
  }
  if (opts === null) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const progress = createProgress(opts.count, { enabled: !opts.quiet });
  try {
    await generate({
      out: opts.out,
      count: opts.count,
      seed: opts.seed,
      start: opts.start,
      workers: opts.workers,
      simulate: {
        ...(opts.variant ? { variant: opts.variant } : {}),
        ...(opts.ap ? { ap: opts.ap } : {}),
        ...(opts.noise ? { noise: opts.noise } : {}),
      },
      onProgress: (n) => progress.tick(n),
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // User-facing failures (file system, bad input) get one line; anything else is a bug: keep the stack.
    if (
      err instanceof InputError ||
      typeof e.code === 'string' ||
      /^(EACCES|ENOSPC|EEXIST|ENOTDIR|EROFS)/.test(e.message)
    ) {
      process.stderr.write(`\nerror: ${e.message}\n`);
      return 1;
    }
    throw err;
  }
  progress.done();
  process.stderr.write(`wrote ${opts.count} pairs to ${opts.out}\n`);
  return 0;
}

if (isMainModule(import.meta.url)) {
  process.exitCode = await main();
}
