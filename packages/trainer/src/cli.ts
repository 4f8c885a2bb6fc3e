/**
 * @module
 * `npm run train` — trains one of the paper's models.
 *
 *   npm run train -- --model cnn-lstm --data synthetic --epochs 20 --out runs/lstm
 *   npm run train -- --model transformer --data data/llnl --backend webgpu --out runs/tf
 *   npm run train -- --out runs/lstm --resume          # continue where it stopped (Ctrl-C checkpoints)
 *   npm run train -- --out runs/lstm --resume --lr 3e-4 # a second phase: schedule flags may change
 *
 * Settings come from the model's preset (packages/trainer/presets/<model>.json: the paper's reference
 * training), then from flags. Bad flags or an unusable data folder: a message and exit code 2 before any
 * training. Ctrl-C: the current step finishes, a checkpoint is written, exit code 130.
 */

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ARCHITECTURES, type Architecture, InputError } from '@ecg-tmp/core';
import { isMainModule } from '@ecg-tmp/core/node';
import type { ApMode } from '@ecg-tmp/simulator';
import { BackendError, type BackendName } from './backend.ts';
import { readCheckpointState } from './checkpoint.ts';
import {
  DEFAULTS,
  type LossName,
  type OutputInit,
  preset,
  type Sampling,
  type Selection,
  type TrainConfig,
  validateConfig,
} from './config.ts';
import { readCacheIndex } from './data.ts';
import type { EncoderInput, OutputHead } from './models/transformer.ts';
import { CHECKPOINT_FILE, resolveDataset, type TrainEvent, train } from './train.ts';

const USAGE = `usage: npm run train -- --model squeezenet1d|cnn-lstm|transformer --out runs/<id>
  [--data synthetic|<cache dir>|<data set dir>] [--synthetic-count N] [--synthetic-ap drawn|fixed] [--epochs N] [--batch N]
  [--loss mse|huber] [--crossing-weight λ (a deviation: a hinge at 0 and −60 mV added to the loss)] [--backend wasm|webgpu|cpu] [--lr X] [--lr-milestones 50,100] [--lr-gamma X]
  [--grad-clip X] [--warmup-steps N] [--patience N] [--seed N] [--train-limit N] [--val-limit N]
  [--init-from RUN/best.bin (start from another run's weights: a fine-tune, fresh optimiser)]
  [--max-steps N] [--eval-every N] [--checkpoint-minutes X]
  cnn-lstm: [--lookahead MS] [--bidirectional (a deviation: 32 hidden units each way)]
    [--conv-channels 64,128,256 (the paper's; e.g. 64,128,128 is a deviation, the edge's cheaper variant)]
    [--lstm-hidden 64 (the paper's; e.g. 128 is a deviation: twice the LSTM's states)]
  transformer: [--output-init fit|default] [--output-head norm|projection] [--encoder-input prediction|embedding]
    [--free-run-limit N] [--select-by free-running-r2|val-loss]
    [--sampling none|parallel|free-running|unrolled] [--sampling-rate P] [--sampling-ramp-steps N]
    [--memory-variance λ (a regulariser keeping the encoder memory from being one constant)]
  npm run train -- --out runs/<id> --resume [schedule flags: --epochs --lr --lr-milestones --lr-gamma
    --warmup-steps --grad-clip --eval-every --patience --val-limit --max-steps --free-run-limit
    --sampling --sampling-rate --sampling-ramp-steps --memory-variance --checkpoint-minutes, --backend to move
    the run to another machine (weights, optimiser, RNG and data position carry over; not bit-for-bit), and --loss --huber-delta
    --crossing-weight for a fine-tune under another loss, --lookahead for a fine-tune to a lookahead; each change is logged]`;

const NUMBER_FLAGS = {
  'synthetic-count': 'syntheticCount',
  epochs: 'epochs',
  batch: 'batch',
  seed: 'seed',
  lr: 'lr',
  'lr-gamma': 'lrGamma',
  'huber-delta': 'huberDelta',
  'crossing-weight': 'crossingWeight',
  'grad-clip': 'gradClip',
  patience: 'patience',
  'train-limit': 'trainLimit',
  'val-limit': 'valLimit',
  'max-steps': 'maxSteps',
  'warmup-steps': 'warmupSteps',
  'eval-every': 'evalEvery',
  'sampling-rate': 'samplingRate',
  'sampling-ramp-steps': 'samplingRampSteps',
  'free-run-limit': 'freeRunLimit',
  'checkpoint-minutes': 'checkpointMinutes',
  lookahead: 'lookahead',
  'memory-variance': 'memoryVariance',
  'lstm-hidden': 'lstmHidden',
} as const satisfies Record<string, keyof TrainConfig>;

function number(flag: string, text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n))
    throw new InputError('bad_value', `--${flag} must be a number, got '${text}'`);
  return n;
}

/** The model of the run a --resume continues, from its checkpoint's header. */
function resumedModel(out: string): Architecture {
  const file = join(out, CHECKPOINT_FILE);
  if (!existsSync(file)) throw new InputError('bad_value', `--resume: ${out} has no ${CHECKPOINT_FILE}`);
  return readCheckpointState<{ config: { model: Architecture } }>(file).config.model;
}

/** Flags → a validated config (or, with --resume, just the run folder). */
export function parseTrainArgs(argv: readonly string[]): {
  config: TrainConfig;
  resume: boolean;
  /** The settings given as flags (with --resume: the changes asked of the resumed run). */
  overrides: Partial<TrainConfig>;
} {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      data: { type: 'string' },
      out: { type: 'string' },
      backend: { type: 'string' },
      loss: { type: 'string' },
      'lr-milestones': { type: 'string' },
      'output-init': { type: 'string' },
      'init-from': { type: 'string' },
      'output-head': { type: 'string' },
      'encoder-input': { type: 'string' },
      'select-by': { type: 'string' },
      'synthetic-ap': { type: 'string' },
      sampling: { type: 'string' },
      resume: { type: 'boolean' },
      bidirectional: { type: 'boolean' },
      'conv-channels': { type: 'string' },
      ...Object.fromEntries(Object.keys(NUMBER_FLAGS).map((k) => [k, { type: 'string' as const }])),
    },
  });
  if (positionals.length > 0) throw new InputError('bad_value', `unexpected argument '${positionals[0]}'`);
  if (values.out === undefined)
    throw new InputError('bad_value', '--out is required (the run folder, e.g. runs/lstm)');
  const resume = values.resume ?? false;
  // A resumed run is the model its checkpoint holds: its flags are checked against that model, and a
  // --model naming another is refused rather than ignored.
  const resumed = resume ? resumedModel(resolve(values.out)) : undefined;
  if (resumed !== undefined && values.model !== undefined && values.model !== resumed)
    throw new InputError(
      'bad_value',
      `--resume: ${values.out} is a ${resumed} run; --model ${values.model} cannot change that`,
    );
  const model = (resumed ?? values.model) as Architecture | undefined;
  if (model === undefined) throw new InputError('bad_value', '--model is required');
  const base = {
    ...DEFAULTS,
    ...(ARCHITECTURES.includes(model) ? preset(model) : {}),
    model,
    out: resolve(values.out),
  };
  const overrides: Partial<Record<keyof TrainConfig, unknown>> = {};
  for (const [flag, key] of Object.entries(NUMBER_FLAGS)) {
    const text = (values as Record<string, unknown>)[flag];
    if (typeof text === 'string') overrides[key] = number(flag, text);
  }
  if (values.data !== undefined)
    overrides.data = values.data === 'synthetic' ? 'synthetic' : resolve(values.data);
  if (values['synthetic-ap'] !== undefined) overrides.syntheticAp = values['synthetic-ap'] as ApMode;
  if (values.backend !== undefined) overrides.backend = values.backend as BackendName;
  if (values.loss !== undefined) overrides.loss = values.loss as LossName;
  if (values['output-init'] !== undefined) overrides.outputInit = values['output-init'] as OutputInit;
  if (values['init-from'] !== undefined) overrides.initFrom = resolve(values['init-from']);
  if (values['output-head'] !== undefined) overrides.outputHead = values['output-head'] as OutputHead;
  if (values['encoder-input'] !== undefined) overrides.encoderInput = values['encoder-input'] as EncoderInput;
  if (values.bidirectional === true) overrides.bidirectional = true;
  if (values['conv-channels'] !== undefined)
    overrides.convChannels = values['conv-channels'].split(',').map((t) => number('conv-channels', t));
  if (values['select-by'] !== undefined) overrides.selectBy = values['select-by'] as Selection;
  if (values.sampling !== undefined) overrides.sampling = values.sampling as Sampling;
  if (values['lr-milestones'] !== undefined) {
    const text = values['lr-milestones'];
    overrides.lrMilestones = text === '' ? [] : text.split(',').map((t) => number('lr-milestones', t));
  }
  return {
    config: validateConfig({ ...base, ...overrides } as TrainConfig),
    resume,
    overrides: overrides as Partial<TrainConfig>,
  };
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}

/** A one-line progress bar on a terminal; a line every 10 s otherwise. */
function progressPrinter(out: NodeJS.WriteStream): (e: TrainEvent) => void {
  let lastVal = '—';
  let lastLine = 0;
  let rate = 0;
  return (e) => {
    const s = e.state;
    if (e.kind === 'start') {
      if (s.bestVal !== null) lastVal = s.bestVal.toFixed(5);
      if (s.outputInit && s.step === 0) {
        const { r2, tokens, samples } = s.outputInit;
        out.write(
          `train: output LayerNorm fitted to ${tokens} training tokens (${samples} samples), R² ${r2.final.toFixed(3)} (alternation ${r2.alternation.toFixed(3)})\n`,
        );
      }
      if (s.initFrom && s.step === 0) {
        const f = s.initFrom;
        out.write(
          `train: starting from ${f.file} (step ${f.step} of a run on ${f.syntheticAp === 'fixed' ? 'the fixed-AP variant' : 'drawn APs'}, sha256 ${f.sha256.slice(0, 12)}…)\n`,
        );
      }
      out.write(
        `train: ${s.config.model} on ${e.backend.name} (${e.backend.device}), ${e.trainCount} train / ${e.valCount} val samples, ` +
          `batch ${s.config.batch}, ${e.stepsPerEpoch} steps/epoch${s.step > 0 ? `, resuming at step ${s.step}` : ''}\n`,
      );
    } else if (e.kind === 'step') {
      rate = rate === 0 ? e.samplesPerSec : 0.9 * rate + 0.1 * e.samplesPerSec;
      const left = (s.config.epochs - s.epoch) * e.stepsPerEpoch - s.stepInEpoch;
      const eta = rate > 0 ? (left * s.config.batch * 1000) / rate : 0;
      const line =
        `epoch ${s.epoch + 1}/${s.config.epochs} step ${s.stepInEpoch}/${e.stepsPerEpoch} ` +
        `loss ${e.loss.toFixed(5)} val ${lastVal} ${rate.toFixed(1)} samples/s ETA ${duration(eta)}`;
      if (out.isTTY) out.write(`\r${line.padEnd(100)}`);
      else if (Date.now() - lastLine > 10_000) {
        out.write(`${line}\n`);
        lastLine = Date.now();
      }
    } else if (e.kind === 'epoch') {
      lastVal = e.valLoss.toFixed(5);
      const r2 =
        e.freeRun === null
          ? ''
          : ` free-running R² ${e.freeRun.r2.toFixed(4)}, activation ${e.freeRun.activationMaeMs?.toFixed(1) ?? '—'} ms`;
      const at = e.midEpoch ? ` (step ${s.stepInEpoch})` : '';
      const line = `epoch ${s.epoch + 1}${at}: train ${e.trainLoss.toFixed(5)} val ${lastVal}${r2}${e.improved ? ' (best)' : ''} lr ${e.lr}`;
      out.write(`${out.isTTY ? '\r' : ''}${line.padEnd(100)}\n`);
    } else {
      out.write(
        e.reason === 'interrupted'
          ? `\ntrain: stopped at step ${s.step}; checkpoint written. Continue with --resume.\n`
          : `train: done (${s.stopReason}) after ${s.step} steps, ${duration(s.trainMs)}; best.bin: epoch ${(s.bestEpoch ?? 0) + 1}${s.bestStep == null ? '' : ` (step ${s.bestStep})`} by ${s.config.selectBy}; lowest val loss ${s.bestVal?.toFixed(5)}${s.bestFreeRunR2 == null ? '' : `, best free-running R² ${s.bestFreeRunR2.toFixed(4)}`}\n`,
      );
    }
  };
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const err = process.stderr;
  let parsed: ReturnType<typeof parseTrainArgs>;
  try {
    parsed = parseTrainArgs(argv);
    // The data must be usable before any training starts.
    // (A --resume's checkpoint was read by parseTrainArgs.)
    if (!parsed.resume && parsed.config.data !== 'synthetic') {
      const dir = await resolveDataset(parsed.config, (l) => err.write(`train: ${l}\n`));
      await readCacheIndex(dir);
    }
  } catch (e) {
    if (!(e instanceof InputError) && !(e as NodeJS.ErrnoException).code) throw e;
    err.write(`train: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  let stop = false;
  let firstSigint = 0;
  const onSigint = () => {
    // Ctrl-C reaches the whole process group, and wrappers (npm, tsx) relay it once more: only a second
    // press well after the first means "quit now, without a checkpoint".
    if (stop) {
      if (Date.now() - firstSigint > 2000) process.exit(130);
      return;
    }
    stop = true;
    firstSigint = Date.now();
    err.write('\ntrain: stopping after this step (Ctrl-C again to quit without a checkpoint)\n');
  };
  // Installed for the rest of the process: a relayed duplicate arriving after the checkpoint was
  // written must not turn a clean stop into a death by signal.
  process.on('SIGINT', onSigint);
  try {
    const state = await train(parsed.config, {
      resume: parsed.resume,
      ...(parsed.resume ? { changes: parsed.overrides } : {}),
      onEvent: progressPrinter(err),
      shouldStop: () => stop,
    });
    return state.finished ? 0 : 130;
  } catch (e) {
    if (e instanceof InputError || e instanceof BackendError) {
      err.write(`train: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

if (isMainModule(import.meta.url)) {
  process.exitCode = await main();
}
