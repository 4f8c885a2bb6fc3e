/**
 * @module
 * A training run on the lent GPU machine in one device call: the trainer on WebGPU (Dawn over the NVIDIA
 * card), making its data set there first (the simulator on every core: the set cannot be carried), for a
 * fixed number of minutes, then a clean stop with a checkpoint that comes back through $OUT.
 *
 *   bash ../shared/gpu/pack.sh benchmarks/gpu-run.ts packages/simulator/src/worker.ts
 *   device tool, carry [".gpu"], timeout_s 600:
 *     bash .gpu/run.sh .gpu/gpu-run.mjs --minutes 6 --copy models/trained/transformer-unrolled -- --resume --backend webgpu
 *   then, here: cp <files_at>/run/* models/trained/transformer-unrolled/ (the run goes on from there,
 *   on webgpu; `--resume --backend wasm` brings it back to the CPU).
 *
 *   --minutes M   training time after the data is ready (the trainer stops between steps and checkpoints)
 *   --copy DIR    a run folder to continue: its checkpoint.bin, best.bin and log.jsonl are copied into
 *                 $OUT/run first, so the run's files come back whatever happens
 *   -- ARGS       the trainer's flags (npm run train -- ARGS), --out $OUT/run added
 *
 * Writes $OUT/gpu-run.json: the adapter, how long the data and the training took, the steps done and
 * samples per second (from the run's log). Runs here too (node .gpu/gpu-run.mjs …, SwiftShader), which
 * is how it is tested before a device call.
 */

import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

// Set before the trainer's modules load (they are imported below, after this): the repository root for
// code bundled into .gpu/, and the simulator worker's own bundle beside this one.
process.env.ECG_TMP_ROOT ??= process.cwd();
process.env.ECG_TMP_SIMULATOR_WORKER ??= join(dirname(new URL(import.meta.url).pathname), 'worker.mjs');

const dash = process.argv.indexOf('--');
const own = dash < 0 ? process.argv.slice(2) : process.argv.slice(2, dash);
const trainArgs = dash < 0 ? [] : process.argv.slice(dash + 1);
const { values } = parseArgs({
  args: own,
  options: { minutes: { type: 'string', default: '6' }, copy: { type: 'string' } },
});
const minutes = Number(values.minutes);
if (!(minutes > 0)) throw new Error(`--minutes must be a positive number, got ${values.minutes}`);
const outRoot = resolve(process.env.OUT ?? 'runs/gpu-run');
const runDir = join(outRoot, 'run');
await mkdir(runDir, { recursive: true });
if (values.copy !== undefined) {
  for (const file of ['checkpoint.bin', 'best.bin', 'log.jsonl'])
    await copyFile(join(resolve(values.copy), file), join(runDir, file)).catch(
      (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT' || file === 'checkpoint.bin') throw err;
      },
    );
}

const started = Date.now();
const { main } = await import('../packages/trainer/src/cli.ts');
const { syntheticCache, ROOT } = await import('../packages/trainer/src/synthetic.ts');
const { readCheckpointState } = await import('../packages/trainer/src/checkpoint.ts');

// The data first, timed apart from the training: what a resumed run reads, else what the flags say.
interface Stored {
  step: number;
  config: { data: string; syntheticCount: number; syntheticAp: 'drawn' | 'fixed'; batch: number };
}
const copied =
  values.copy === undefined ? undefined : readCheckpointState<Stored>(join(runDir, 'checkpoint.bin'));
const stored = copied?.config;
const flag = (name: string) => {
  const i = trainArgs.indexOf(`--${name}`);
  return i < 0 ? undefined : trainArgs[i + 1];
};
const data = stored?.data ?? flag('data') ?? 'synthetic';
if (data === 'synthetic') {
  await syntheticCache({
    count: stored?.syntheticCount ?? Number(flag('synthetic-count') ?? 2000),
    seed: 1,
    ap: stored?.syntheticAp ?? (flag('synthetic-ap') as 'drawn' | 'fixed' | undefined) ?? 'drawn',
    dataDir: join(ROOT, 'data'),
    log: (line) => process.stderr.write(`gpu-run: ${line}\n`),
  });
}
const dataSeconds = (Date.now() - started) / 1000;
process.stderr.write(`gpu-run: data ready in ${dataSeconds.toFixed(0)} s; training for ${minutes} min\n`);

// The trainer stops between steps on SIGINT and writes its checkpoint.
const trainStarted = Date.now();
const timer = setTimeout(() => process.kill(process.pid, 'SIGINT'), minutes * 60_000);
const code = await main([...trainArgs, '--out', runDir]);
clearTimeout(timer);
const trainSeconds = (Date.now() - trainStarted) / 1000;

const log = (await readFile(join(runDir, 'log.jsonl'), 'utf8').catch(() => ''))
  .trim()
  .split('\n')
  .filter((l) => l !== '')
  .map((l) => JSON.parse(l) as Record<string, unknown>);
const firstStep = copied?.step ?? 0;
const after = readCheckpointState<Stored>(join(runDir, 'checkpoint.bin'));
const lastStep = after.step;
const batch = after.config.batch;
const record = {
  bench: 'gpu-run',
  args: trainArgs,
  exitCode: code,
  dataSeconds,
  trainSeconds,
  firstStep,
  lastStep,
  // Validation and checkpoints included: what a run gets per second of training time.
  samplesPerSecond: ((lastStep - firstStep) * batch) / trainSeconds,
  lastLogged: log.at(-1) ?? null,
  date: new Date().toISOString(),
};
await writeFile(join(outRoot, 'gpu-run.json'), `${JSON.stringify(record, null, 2)}\n`);
process.stderr.write(`gpu-run: ${JSON.stringify(record)}\n`);
process.exit(code === 130 ? 0 : code);
