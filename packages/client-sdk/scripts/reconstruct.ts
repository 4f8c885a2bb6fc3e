/**
 * @module
 * `npm run reconstruct` — a recording in, one TMP reconstruction per beat out, with the SDK on WASM in
 * Node from the repository's models/ folder (or --models DIR, a copy of it).
 *
 *   npm run reconstruct -- packages/simulator/assets/real-ecg/s0010_re.hea         # WFDB, .dat beside it
 *   npm run reconstruct -- rec.edf --model cnn --out runs/reconstruct/rec
 *   npm run reconstruct -- rec.csv --rate 500 --units uV                         # a header row of leads
 *   npm run reconstruct -- window.npy                                            # [12, 500] or [B, 12, 500]
 *
 * RECORD is a WFDB header (.hea, or a .dat with its .hea beside it), an .edf, a .csv, or a .npy. A .csv
 * with --rate is a recording (a header row naming the leads, one row per sample); without it, one
 * 12 × 500 window as `reconstruct()` takes (today's format). A .npy of [12, 500] or [B, 12, 500] is B
 * windows; [12, T] or [1, 12, T] with T ≠ 500 is a recording in LEAD_NAMES order at --rate (default
 * 1000). Recordings are filtered, their beats detected and aligned by @ecg-tmp/core, each beat
 * reconstructed by reconstructRecording; a window is reconstructed as it is.
 *
 * Written to --out (default runs/reconstruct/<record>):
 *   tmp.npy      [beats, 75, 500] float32, mV
 *   beats.json   the record, the model, and per beat: onset and window start (ms from the record's
 *                start; null for a window file), RR interval, noise, activation and repolarisation time
 *                per site (ms; null where a site never activates, or is not back below −60 mV by
 *                500 ms), the in-distribution check (status, distance, the farthest features, the
 *                message; 'not-checked' for a model without training-set statistics, never "in
 *                range"), and a count of beats per status; the skipped QRS with why
 * Bad arguments: the usage and exit code 2. A file that cannot be used, an unknown model, no beats:
 * a message naming what is wrong and exit code 1, nothing written.
 */

import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  InputError,
  LEAD_NAMES,
  type LeadName,
  N_LEADS,
  N_SITES,
  N_STEPS,
  parseEcgCsv,
  QRS_ONSET_IN_WINDOW_MS,
  type Recording,
} from '@ecg-tmp/core';
import {
  isMainModule,
  RECORDING_EXTENSIONS,
  readNpyFile,
  readRecordingFile,
  writeNpyFile,
} from '@ecg-tmp/core/node';
import {
  activationTimes,
  type BeatReconstruction,
  createReconstructor,
  type InDistribution,
  memoryStore,
  type Reconstructor,
  ReconstructorError,
  reconstructRecording,
  repolarisationTimes,
  type SkippedBeatEvent,
} from '../src/index.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const EXTENSIONS = [...RECORDING_EXTENSIONS, '.npy'] as const;
const DEFAULT_MODEL = 'cnn-lstm';

const USAGE = `usage: npm run reconstruct -- RECORD [--model NAME] [--version V] [--rate HZ] [--units mV|uV|V] [--out DIR] [--models DIR]
  RECORD      a WFDB .hea (its .dat beside it), an .edf, a .csv (with --rate: a recording with a header
              row of leads; without: one 12 × 500 window), or a .npy ([12, 500] / [B, 12, 500] windows,
              [12, T] a recording at --rate, default 1000 Hz)
  --model     ${DEFAULT_MODEL} (default), cnn, transformer, or any model in the models folder
  --version   a version or alias (default stable)
  --out       where tmp.npy and beats.json go (default runs/reconstruct/<record>)
  --models    a models/ folder (default the repository's)`;

/** Where the CLI prints; tests pass their own. */
export interface Io {
  log(line: string): void;
  error(line: string): void;
}

const consoleIo: Io = { log: (l) => console.log(l), error: (l) => console.error(l) };

/** A failure to report in one line, with exit code 1. */
class CliError extends Error {}

/** fetch for file: URLs, so the SDK's modelsUrl can name a local folder (404 for a missing file). */
const fileFetch: typeof fetch = async (input) => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  try {
    return new Response(new Uint8Array(await readFile(fileURLToPath(url))));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return new Response('not found', { status: 404 });
  }
};

/** What was read: a recording to find beats in, or windows ready for the model. */
type Input =
  | { readonly kind: 'recording'; readonly recording: Recording; readonly format: string }
  | {
      readonly kind: 'windows';
      readonly windows: Float32Array;
      readonly count: number;
      readonly format: string;
    };

async function readInput(path: string, rate: number | undefined, units: string | undefined): Promise<Input> {
  const ext = extname(path).toLowerCase();
  if (!(EXTENSIONS as readonly string[]).includes(ext)) {
    throw new CliError(
      `${path}: unsupported file type '${ext || basename(path)}'. Expected one of: ${EXTENSIONS.join(', ')}`,
    );
  }
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new CliError(`${path} is not a file`);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`${path}: no such file`);
  }
  if (ext === '.npy') {
    const { shape, data } = await readNpyFile(path);
    const floats = data instanceof Float32Array ? data : Float32Array.from(data);
    const [a, b, c] = shape;
    if (shape.length === 2 && a === N_LEADS && b === N_STEPS)
      return { kind: 'windows', windows: floats, count: 1, format: 'npy window' };
    if (shape.length === 3 && b === N_LEADS && c === N_STEPS)
      return { kind: 'windows', windows: floats, count: a!, format: 'npy windows' };
    const steps =
      shape.length === 2 && a === N_LEADS
        ? b
        : shape.length === 3 && a === 1 && b === N_LEADS
          ? c
          : undefined;
    if (steps === undefined) {
      throw new CliError(
        `${path}: a .npy of shape [${shape.join(', ')}]; expected [12, 500] or [B, 12, 500] windows, or [12, T] / [1, 12, T] a recording`,
      );
    }
    const leads: Partial<Record<LeadName, Float32Array>> = {};
    LEAD_NAMES.forEach((name, l) => {
      leads[name] = floats.subarray(l * steps, (l + 1) * steps);
    });
    return {
      kind: 'recording',
      recording: { rate: rate ?? 1000, length: steps, leads, source: path, warnings: [] },
      format: 'npy recording',
    };
  }
  if (ext === '.csv' && rate === undefined) {
    const text = await readFile(path);
    try {
      return { kind: 'windows', windows: parseEcgCsv(text, path).ecg, count: 1, format: 'csv window' };
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      throw new CliError(
        `${err.message}. (Without --rate a .csv is one 12 × 500 window; for a recording give --rate HZ.)`,
      );
    }
  }
  const recording = await readRecordingFile(path, {
    ...(rate !== undefined ? { rate } : {}),
    ...(units !== undefined ? { units } : {}),
  });
  return { kind: 'recording', recording, format: ext === '.hea' || ext === '.dat' ? 'wfdb' : ext.slice(1) };
}

/** The model names a models folder offers (its aliases.json), to name them when one is unknown. */
async function modelNames(models: string): Promise<string[]> {
  try {
    return Object.keys(JSON.parse(await readFile(join(models, 'aliases.json'), 'utf8')));
  } catch (err) {
    throw new CliError(
      `${models}: not a models folder (no readable aliases.json: ${(err as Error).message})`,
    );
  }
}

const times = (values: Int32Array) => Array.from(values, (v) => (v < 0 ? null : v));

function median(values: readonly number[]): number | undefined {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? undefined : sorted[Math.floor(sorted.length / 2)];
}

const round = (v: number | null) => (v === null ? null : Number(v.toFixed(3)));

/** Beats per in-distribution status, every status present (0 when none). */
function countStatuses(checks: readonly InDistribution[]): Record<InDistribution['status'], number> {
  const counts = { 'in-range': 0, unusual: 0, 'out-of-range': 0, 'not-checked': 0, 'not-measurable': 0 };
  for (const c of checks) counts[c.status]++;
  return counts;
}

/** One line: beats per status, and the first unusual or out-of-range beat's message. */
function distributionSummary(beats: readonly Done[]): string {
  const counts = countStatuses(beats.map((b) => b.inDistribution));
  const parts = Object.entries(counts)
    .filter(([, n]) => n > 0)
    .map(([status, n]) => `${n} ${status}`);
  const flagged = beats.find(
    (b) => b.inDistribution.status === 'unusual' || b.inDistribution.status === 'out-of-range',
  );
  return (
    `in-distribution: ${parts.join(', ')}` +
    (flagged !== undefined ? `; beat ${flagged.index + 1}: ${flagged.inDistribution.message}` : '')
  );
}

/** A reconstructed beat as beats.json lists it: a window file's have no record time. */
type Done = Omit<BeatReconstruction, 'onsetMs' | 'startMs' | 'noise'> & {
  readonly onsetMs: number | null;
  readonly startMs: number | null;
  readonly noise: number | null;
};

/** Reconstructs B windows as they are, one beat each. */
async function reconstructWindows(r: Reconstructor, windows: Float32Array, count: number): Promise<Done[]> {
  const out: Done[] = [];
  const per = N_LEADS * N_STEPS;
  for (let b = 0; b < count; b++) {
    const ecg = windows.subarray(b * per, (b + 1) * per);
    const result = await r.reconstruct(ecg);
    out.push({
      status: 'beat',
      index: b,
      onsetMs: null,
      startMs: null,
      rrMs: null,
      noise: null,
      ecg,
      tmp: result.tmp,
      activationMs: activationTimes(result.tmp),
      repolarisationMs: repolarisationTimes(result.tmp),
      inDistribution: result.inDistribution[0]!,
      backend: result.backend,
      timings: result.timings,
    });
  }
  return out;
}

/** Runs the CLI on `argv` (without node and the script); resolves to the exit code. */
export async function main(argv: readonly string[], io: Io = consoleIo): Promise<number> {
  let args: ReturnType<typeof parse>;
  const parse = (a: readonly string[]) =>
    parseArgs({
      args: [...a],
      allowPositionals: true,
      strict: true,
      options: {
        model: { type: 'string', default: DEFAULT_MODEL },
        version: { type: 'string', default: 'stable' },
        rate: { type: 'string' },
        units: { type: 'string' },
        out: { type: 'string' },
        models: { type: 'string', default: join(ROOT, 'models') },
        help: { type: 'boolean', short: 'h' },
      },
    });
  try {
    args = parse(argv);
  } catch (err) {
    io.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = args;
  if (values.help) {
    io.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    io.error(
      `${positionals.length === 0 ? 'no RECORD given' : `one RECORD at a time, got ${positionals.join(', ')}`}\n${USAGE}`,
    );
    return 2;
  }
  const rate = values.rate === undefined ? undefined : Number(values.rate);
  if (rate !== undefined && !(rate > 0)) {
    io.error(`--rate must be a positive number of Hz, got '${values.rate}'\n${USAGE}`);
    return 2;
  }
  const path = positionals[0]!;
  const out = values.out ?? join('runs', 'reconstruct', basename(path, extname(path)));

  let r: Reconstructor | undefined;
  try {
    const input = await readInput(path, rate, values.units);
    const models = resolve(values.models);
    const known = await modelNames(models);
    if (!known.includes(values.model)) {
      throw new CliError(
        `unknown model '${values.model}'. Expected one of: ${known.join(', ')} (in ${models})`,
      );
    }
    r = await createReconstructor({
      model: values.model,
      version: values.version,
      modelsUrl: pathToFileURL(models).href,
      fetch: fileFetch,
      device: 'wasm',
      cache: memoryStore(),
    });

    const beats: Done[] = [];
    const skipped: SkippedBeatEvent[] = [];
    if (input.kind === 'windows') beats.push(...(await reconstructWindows(r, input.windows, input.count)));
    else {
      for await (const e of reconstructRecording(input.recording, { reconstructor: r })) {
        if (e.status === 'beat') beats.push(e);
        else skipped.push(e);
      }
    }
    if (beats.length === 0) {
      const why =
        skipped.length === 0
          ? 'no QRS was detected'
          : `${skipped.length} QRS detected, all skipped (${skipped.map((s) => `${s.atMs} ms ${s.reason}`).join(', ')})`;
      throw new CliError(`${path}: no beats found: ${why}`);
    }

    await mkdir(out, { recursive: true });
    const tmp = new Float32Array(beats.length * N_SITES * N_STEPS);
    for (const [i, b] of beats.entries()) tmp.set(b.tmp, i * N_SITES * N_STEPS);
    await writeNpyFile(join(out, 'tmp.npy'), tmp, [beats.length, N_SITES, N_STEPS]);
    const statusCounts = countStatuses(beats.map((b) => b.inDistribution));
    const window = input.kind === 'windows';
    const recording = input.kind === 'recording' ? input.recording : undefined;
    const count = input.kind === 'windows' ? input.count : beats.length;
    const report = {
      record: path,
      format: input.format,
      rateHz: recording?.rate ?? 1000,
      durationMs: recording !== undefined ? (recording.length * 1000) / recording.rate : count * N_STEPS,
      leads: {
        recorded:
          recording !== undefined ? LEAD_NAMES.filter((n) => recording.leads[n] !== undefined) : LEAD_NAMES,
        derived: recording !== undefined ? LEAD_NAMES.filter((n) => recording.leads[n] === undefined) : [],
      },
      warnings: recording?.warnings ?? [],
      model: r.model,
      version: r.version,
      backend: r.backend,
      tmp: { file: 'tmp.npy', shape: [beats.length, N_SITES, N_STEPS], units: 'mV', dtype: 'float32' },
      window: {
        ms: N_STEPS,
        qrsOnsetMs: QRS_ONSET_IN_WINDOW_MS,
        note: window
          ? 'windows reconstructed as given; no onsets (the file holds no record time)'
          : 'each window starts QRS_ONSET_IN_WINDOW_MS before its QRS onset, filtered, leads at 0 mV before it',
      },
      inDistribution: {
        statistics: r.manifest.inDistribution !== undefined,
        counts: statusCounts,
        note:
          r.manifest.inDistribution !== undefined
            ? `each beat's window scored against ${r.model} ${r.version}'s training-set statistics (${r.manifest.inDistribution.count} windows): in range up to distance ${r.manifest.inDistribution.unusual.toFixed(2)}, out of range beyond ${r.manifest.inDistribution.threshold.toFixed(2)}`
            : "the model's manifest carries no training-set statistics: every beat 'not-checked', never 'in range'",
      },
      beats: beats.map((b) => ({
        index: b.index,
        onsetMs: b.onsetMs,
        startMs: b.startMs,
        rrMs: b.rrMs,
        noise: b.noise === null ? null : Number(b.noise.toFixed(4)),
        activationMs: times(b.activationMs),
        repolarisationMs: times(b.repolarisationMs),
        inDistribution: {
          status: b.inDistribution.status,
          distance: round(b.inDistribution.distance),
          threshold: round(b.inDistribution.threshold),
          trainingFractionCloser: b.inDistribution.trainingFractionCloser,
          farthest: b.inDistribution.farthest.map((f) => ({
            feature: f.feature,
            label: f.label,
            shown: f.shown,
            z: round(f.z),
          })),
          message: b.inDistribution.message,
        },
      })),
      skipped: skipped.map(({ atMs, reason, detail }) => ({ atMs, reason, detail })),
    };
    // Per-site arrays on one line each: 75 numbers a line, not 75 lines.
    const json = JSON.stringify(report, null, 2).replace(/\[[\d\s,.\-nul]*\]/g, (a) => a.replace(/\s+/g, ''));
    await writeFile(join(out, 'beats.json'), `${json}\n`);

    const rr = beats.flatMap((b) => (b.rrMs === null ? [] : [b.rrMs]));
    const rrMedian = median(rr);
    const activated = beats.flatMap((b) => Array.from(b.activationMs).filter((v) => v >= 0));
    const repolarised = beats.flatMap((b) => Array.from(b.repolarisationMs).filter((v) => v >= 0));
    io.log(
      recording !== undefined
        ? `${path}: ${input.format}, ${report.leads.recorded.length} leads at ${recording.rate} Hz, ${(report.durationMs / 1000).toFixed(1)} s${report.leads.derived.length > 0 ? ` (${report.leads.derived.join(', ')} derived)` : ''}`
        : `${path}: ${count} window${count > 1 ? 's' : ''} of 12 × 500`,
    );
    io.log(
      `${beats.length} beat${beats.length > 1 ? 's' : ''}${recording !== undefined ? `, ${skipped.length} skipped${skipped.length > 0 ? ` (${skipped.map((s) => s.reason).join(', ')})` : ''}` : ''}` +
        (rrMedian !== undefined ? `; RR median ${rrMedian} ms (${Math.round(60_000 / rrMedian)} bpm)` : '') +
        `; ${r.model} ${r.version} on ${r.backend}, median ${median(beats.map((b) => b.timings.totalMs))!.toFixed(0)} ms a beat`,
    );
    io.log(
      `activation median ${median(activated) ?? '–'} ms, repolarisation median ${median(repolarised) ?? '–'} ms (all sites, all beats)`,
    );
    io.log(distributionSummary(beats));
    io.log(
      `wrote ${join(out, 'tmp.npy')} [${beats.length}, ${N_SITES}, ${N_STEPS}] and ${join(out, 'beats.json')}`,
    );
    return 0;
  } catch (err) {
    if (err instanceof CliError || err instanceof InputError || err instanceof ReconstructorError) {
      io.error(err.message);
      return 1;
    }
    throw err;
  } finally {
    await r?.dispose();
  }
}

if (isMainModule(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
