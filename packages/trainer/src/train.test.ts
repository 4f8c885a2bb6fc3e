/**
 * The training loop's Transformer-specific parts on a tiny synthetic set: the fitted start of the output
 * LayerNorm (stored in the run and written into the model), the free-running validation R² that picks
 * best.bin, the warm-up schedule, and the timed mid-epoch checkpoint.
 */

import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { activationTimes, N_SITES, N_STEPS, NOT_ACTIVATED, normaliseVmValue } from '@ecg-tmp/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from './backend.ts';
import { gatherBatch, NORMALISATION } from './batches.ts';
import { readCheckpoint } from './checkpoint.ts';
import { DEFAULTS, learningRate, preset, type TrainConfig, validateConfig } from './config.ts';
import { openCache } from './data.ts';
import { createModel } from './models/index.ts';
import { ForwardContext } from './models/layers.ts';
import { ROOT, syntheticCache } from './synthetic.ts';
import {
  Adam,
  BEST_FILE,
  CHECKPOINT_FILE,
  CROSSING_LEVELS,
  CROSSING_SOFTNESS,
  crossingLoss,
  freeRunScores,
  LOG_FILE,
  type RunState,
  resumeChanges,
  scheduledInput,
  train,
  trainStep,
  unrolledStep,
} from './train.ts';

let work: string;
let data: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'train-'));
  data = await syntheticCache({ count: 40, seed: 5, dataDir: join(ROOT, 'data') });
}, 120_000);

afterAll(() => rm(work, { recursive: true, force: true }));

function transformerRun(out: string, extra: Partial<TrainConfig> = {}): TrainConfig {
  return validateConfig({
    ...DEFAULTS,
    ...preset('transformer'),
    model: 'transformer',
    data,
    out: join(work, out),
    backend: 'wasm',
    epochs: 1,
    batch: 4,
    trainLimit: 8,
    valLimit: 4,
    freeRunLimit: 2,
    // Adam moves each weight by about lr per step: this small a rate leaves the start visible.
    lr: 1e-9,
    ...extra,
  } as TrainConfig);
}

const OUTPUT_NORM = 'param.decoder3.norm3';

describe('a Transformer run with the fitted output LayerNorm', () => {
  let state: RunState;
  let best: Map<string, Float32Array>;

  beforeAll(async () => {
    state = await train(transformerRun('fit'));
    best = (await readCheckpoint<RunState>(join(work, 'fit', BEST_FILE))).arrays;
  }, 300_000);

  it('stores the fit in the run state, and the model starts from it', () => {
    const fit = state.outputInit!;
    expect(fit.method).toBe('least-squares');
    expect(fit.samples).toBe(8);
    expect(fit.r2.final).toBeGreaterThan(0.8);
    expect(fit.r2.final).toBeGreaterThanOrEqual(fit.r2.alternation);
    expect(fit.gamma).toHaveLength(75);
    const gamma = best.get(`${OUTPUT_NORM}.weight`)!;
    const beta = best.get(`${OUTPUT_NORM}.bias`)!;
    for (let s = 0; s < 75; s++) {
      expect(gamma[s]!).toBeCloseTo(fit.gamma[s]!, 5);
      expect(beta[s]!).toBeCloseTo(fit.beta[s]!, 5);
    }
    // Not the default start: the fitted scales differ from 1 and take both signs.
    expect(gamma.some((g) => g < 0) && gamma.some((g) => g > 0)).toBe(true);
  });

  it('measures the free-running validation R² each epoch and keeps best.bin by it', async () => {
    const log = (await readFile(join(work, 'fit', LOG_FILE), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(log).toHaveLength(1);
    expect(Number.isFinite(log[0].freeRunR2)).toBe(true);
    // The activation-time error is logged beside it (null only when no site activates in both).
    expect(log[0].freeRunActivationMs === null || log[0].freeRunActivationMs >= 0).toBe(true);
    expect(state.bestFreeRunR2).toBe(log[0].freeRunR2);
    expect(state.config.selectBy).toBe('free-running-r2');
    expect(state.bestEpoch).toBe(0);
  });

  it("the paper's default start keeps γ = 1, β = 0", async () => {
    const s = await train(
      transformerRun('default', { outputInit: 'default', freeRunLimit: 0, selectBy: 'val-loss' }),
    );
    expect(s.outputInit).toBeNull();
    const arrays = (await readCheckpoint<RunState>(join(work, 'default', BEST_FILE))).arrays;
    for (const g of arrays.get(`${OUTPUT_NORM}.weight`)!) expect(g).toBeCloseTo(1, 5);
  }, 300_000);
});

describe('checkpoints within an epoch', () => {
  it('writes checkpoint.bin mid-epoch once checkpointMinutes have passed, and not before', async () => {
    const seen: Record<string, boolean> = {};
    for (const [name, minutes] of [
      ['timed', 1e-9],
      ['untimed', 0],
    ] as const) {
      const config = validateConfig({
        ...DEFAULTS,
        ...preset('cnn-lstm'),
        model: 'cnn-lstm',
        data,
        out: join(work, name),
        backend: 'wasm',
        epochs: 1,
        batch: 2,
        trainLimit: 6,
        valLimit: 2,
        checkpointMinutes: minutes,
      } as TrainConfig);
      await train(config, {
        onEvent: (e) => {
          // The step-2 event comes after step 1's save, if there was one; the epoch ends at step 3.
          if (e.kind === 'step' && e.state.step === 2)
            seen[name] = existsSync(join(config.out, CHECKPOINT_FILE));
        },
      });
    }
    expect(seen).toEqual({ timed: true, untimed: false });
  }, 300_000);
});

describe('a run moved to another folder (a committed checkpoint in a fresh clone)', () => {
  it('resumes there and writes there, leaving the old folder alone', async () => {
    const first = join(work, 'made-here');
    const config = validateConfig({
      ...DEFAULTS,
      ...preset('cnn-lstm'),
      model: 'cnn-lstm',
      data: 'synthetic',
      syntheticCount: 40,
      out: first,
      backend: 'wasm',
      epochs: 1,
      batch: 2,
      trainLimit: 6,
      valLimit: 2,
    } as TrainConfig);
    let steps = 0;
    await train(config, {
      onEvent: (e) => void (e.kind === 'step' && steps++),
      shouldStop: () => steps >= 1,
    });
    const moved = join(work, 'moved');
    await cp(first, moved, { recursive: true });
    const before = (await stat(join(first, CHECKPOINT_FILE))).mtimeMs;
    const state = await train({ ...config, out: moved }, { resume: true });
    expect(state.finished).toBe(true);
    expect(state.step).toBe(3);
    expect(state.config.out).toBe(moved);
    expect((await readCheckpoint<RunState>(join(moved, CHECKPOINT_FILE))).state.step).toBe(3);
    expect((await stat(join(first, CHECKPOINT_FILE))).mtimeMs).toBe(before);
    expect((await readCheckpoint<RunState>(join(first, CHECKPOINT_FILE))).state.step).toBe(1);
  }, 300_000);
});

/** A tiny CNN-LSTM run in `work`: 4 training samples at batch 2 (2 steps an epoch), 2 epochs. */
function cnnLstmRun(out: string): TrainConfig {
  return validateConfig({
    ...DEFAULTS,
    ...preset('cnn-lstm'),
    model: 'cnn-lstm',
    data,
    out: join(work, out),
    backend: 'wasm',
    epochs: 2,
    batch: 2,
    trainLimit: 4,
    valLimit: 2,
  } as TrainConfig);
}

describe('a resume that changes the schedule', () => {
  it('trains on at the new rate and logs what changed', async () => {
    const config = cnnLstmRun('second-phase');
    let steps = 0;
    await train(config, { shouldStop: () => steps++ >= 1 });
    const lrs: number[] = [];
    const state = await train(config, {
      resume: true,
      changes: { lr: 1e-4, lrMilestones: [1], lrGamma: 0.5, epochs: 2 },
      onEvent: (e) => void (e.kind === 'epoch' && lrs.push(e.lr)),
    });
    expect(state.finished).toBe(true);
    expect(state.config.lr).toBe(1e-4);
    expect(lrs).toEqual([1e-4, 5e-5]);
    const lines = (await readFile(join(config.out, LOG_FILE), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const change = lines.find((l) => l.resumedAt !== undefined);
    // epochs: 2 repeats the stored value and is no change.
    expect(change.changed).toEqual({
      lr: { from: 1e-3, to: 1e-4 },
      lrMilestones: { from: [], to: [1] },
      lrGamma: { from: 0.1, to: 0.5 },
    });
    expect(change.resumedAt).toBe(1);
    // The stored config now holds the second phase, so a later plain --resume keeps it.
    expect((await readCheckpoint<RunState>(join(config.out, CHECKPOINT_FILE))).state.config.lr).toBe(1e-4);
  }, 300_000);

  it('moves to another backend only when asked', async () => {
    const config = cnnLstmRun('other-backend');
    let steps = 0;
    await train(config, { shouldStop: () => steps++ >= 1 });
    expect(resumeChanges(config, { backend: 'webgpu' })).toEqual({ backend: { from: 'wasm', to: 'webgpu' } });
    // Asked with nothing: the run stays where it was trained.
    await expect(train({ ...config, backend: 'cpu' }, { resume: true })).rejects.toThrow(
      /trained on 'wasm'; resume it on the same backend .* or ask for another with --backend/,
    );
    // Asked for: it goes on to start that backend (which one process cannot do after wasm, hence the
    // error here; a fresh process starts it), and the checkpoint is left as it was.
    await expect(
      train({ ...config, backend: 'cpu' }, { resume: true, changes: { backend: 'cpu' } }),
    ).rejects.toThrow(/cannot switch to 'cpu'/);
    const stored = await readCheckpoint<RunState>(join(config.out, CHECKPOINT_FILE));
    expect([stored.state.config.backend, stored.state.step]).toEqual(['wasm', 1]);
  }, 300_000);

  it('goes on after the end when the resume lifts what ended it, and not otherwise', async () => {
    // 4 training samples at batch 2: 2 steps an epoch.
    const config = { ...cnnLstmRun('ended'), epochs: 1 };
    const ended = await train(config);
    expect([ended.finished, ended.stopReason, ended.step]).toEqual([true, 'epochs', 2]);
    // A change that leaves the stop in place: still ended, not a step more.
    const same = await train(config, { resume: true, changes: { lr: 1e-4 } });
    expect([same.finished, same.stopReason, same.step]).toEqual([true, 'epochs', 2]);
    // More epochs: the run trains the second one.
    const more = await train(config, { resume: true, changes: { epochs: 2 } });
    expect([more.finished, more.stopReason, more.step, more.epoch]).toEqual([true, 'epochs', 4, 2]);
    // Ended by --max-steps inside an epoch, then given more steps: on to the new limit.
    const capped = { ...cnnLstmRun('ended-steps'), epochs: 3, maxSteps: 3 };
    expect((await train(capped)).step).toBe(3);
    const raised = await train(capped, { resume: true, changes: { maxSteps: 5 } });
    expect([raised.finished, raised.stopReason, raised.step]).toEqual([true, 'max-steps', 5]);
  }, 300_000);

  it('fine-tunes under another loss, starting the best validation loss again', async () => {
    // Huber with δ = 1 is ½d² at these errors, so the MSE that follows reads about twice as high: a best
    // carried over from the Huber phase would never be beaten.
    const config = { ...cnnLstmRun('loss-change'), loss: 'huber' as const, huberDelta: 1 };
    let steps = 0;
    const first = await train(config, { shouldStop: () => steps++ >= 2 });
    // One epoch (2 steps) was validated under Huber before the stop.
    expect(first.bestVal).not.toBeNull();
    const valLosses: number[] = [];
    const state = await train(config, {
      resume: true,
      changes: { loss: 'mse' },
      onEvent: (e) => void (e.kind === 'epoch' && valLosses.push(e.valLoss)),
    });
    expect(state.config.loss).toBe('mse');
    // The best is the MSE of the first validation after the resume, not the lower Huber figure before it.
    expect(valLosses).toHaveLength(1);
    expect(valLosses[0]).toBeGreaterThan(first.bestVal!);
    expect(state.bestVal).toBe(valLosses[0]);
    const change = (await readFile(join(config.out, LOG_FILE), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .find((l) => l.resumedAt !== undefined);
    expect(change.changed).toEqual({ loss: { from: 'huber', to: 'mse' } });
  }, 300_000);

  it('refuses to change what defines the run, naming the flags', async () => {
    const config = cnnLstmRun('fixed-definition');
    let steps = 0;
    await train(config, { shouldStop: () => steps++ >= 1 });
    await expect(train(config, { resume: true, changes: { batch: 4, seed: 2, lr: 1e-4 } })).rejects.toThrow(
      /--batch, --seed cannot change/,
    );
    await expect(train(config, { resume: true, changes: { lr: -1 } })).rejects.toThrow(/--lr/);
    // Nothing was written by the refused resumes.
    expect((await readCheckpoint<RunState>(join(config.out, CHECKPOINT_FILE))).state.step).toBe(1);
  }, 300_000);
});

describe('the fixed-AP variant as synthetic data', () => {
  it('is simulated with --ap fixed into a set of its own, which a run trains on and records', async () => {
    const run = (out: string, syntheticAp: 'drawn' | 'fixed') =>
      train(
        validateConfig({
          ...DEFAULTS,
          ...preset('cnn-lstm'),
          model: 'cnn-lstm',
          data: 'synthetic',
          syntheticCount: 20,
          syntheticAp,
          out: join(work, out),
          backend: 'wasm',
          epochs: 1,
          batch: 2,
          maxSteps: 1,
          valLimit: 2,
        } as TrainConfig),
      );
    const fixed = await run('fixed-ap', 'fixed');
    const drawn = await run('drawn-ap', 'drawn');
    expect(fixed.dataset).toMatch(/synthetic-d\d+-apfixed-s1-n20-cache$/);
    expect(drawn.dataset).toMatch(/synthetic-d\d+-s1-n20-cache$/);
    const vm = async (dir: string) => (await openCache(dir)).train.vm;
    const [a, b] = [await vm(fixed.dataset), await vm(drawn.dataset)];
    expect(a.length).toBe(b.length);
    // Same hearts and activations, other action potentials: the TMPs differ.
    let differ = 0;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) differ++;
    expect(differ / a.length).toBeGreaterThan(0.1);
  }, 300_000);
});

describe('validation within an epoch', () => {
  it('validates every evalEvery steps, logs each, and the epoch end as before', async () => {
    const out = join(work, 'eval-every');
    const state = await train(
      validateConfig({
        ...DEFAULTS,
        ...preset('cnn-lstm'),
        model: 'cnn-lstm',
        data,
        out,
        backend: 'wasm',
        epochs: 1,
        batch: 2,
        trainLimit: 6,
        valLimit: 2,
        evalEvery: 1,
      } as TrainConfig),
    );
    const log = (await readFile(join(out, LOG_FILE), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(log.map((l) => [l.step, l.midEpoch ?? false])).toEqual([
      [1, true],
      [2, true],
      [3, false],
    ]);
    const best = log.reduce((a, b) => (b.valLoss < a.valLoss ? b : a));
    expect(state.bestStep).toBe(best.step);
    expect(state.bestVal).toBe(best.valLoss);
  }, 300_000);
});

/** A validated Transformer config: the preset with `extra` on top. */
const config = (extra: Partial<TrainConfig>) =>
  validateConfig({
    ...DEFAULTS,
    ...preset('transformer'),
    model: 'transformer',
    out: '/tmp/x',
    ...extra,
  } as TrainConfig);

describe('scheduled sampling', () => {
  /** Per (sample, segment): 'truth' or 'own' when the segment equals exactly one of them. */
  function sources(
    input: Float32Array,
    truth: Float32Array,
    own: Float32Array,
    b: number,
    t: number,
  ): string[] {
    const out: string[] = [];
    const block = 10 * 75;
    for (let i = 0; i < (b * t) / 10; i++) {
      const seg = input.subarray(i * block, (i + 1) * block);
      const same = (x: Float32Array) => seg.every((v, j) => Math.abs(v - x[i * block + j]!) < 1e-6);
      out.push(same(truth) ? 'truth' : same(own.subarray(0)) ? 'own' : 'neither');
    }
    return out;
  }

  it('replaces whole 10-token segments by the model’s own predictions, chosen from (seed, step)', async () => {
    await startBackend('wasm');
    const model = createModel('transformer', 3);
    const [b, t] = [3, 40];
    const ecg = tf.randomUniform([b, 10, 12], -0.5, 0.5, 'float32', 1) as tf.Tensor3D;
    const vm = tf.randomUniform([b, t, 75], 0, 1, 'float32', 2) as tf.Tensor3D;
    const own = model.trainForward(ecg, vm, ForwardContext.inference());
    const [truth, ownData] = [vm.dataSync() as Float32Array, own.dataSync() as Float32Array];

    expect(scheduledInput(model, config({}), 0, ecg, vm)).toBe(vm);
    expect(scheduledInput(model, config({ sampling: 'parallel', samplingRate: 0 }), 0, ecg, vm)).toBe(vm);
    const all = scheduledInput(model, config({ sampling: 'parallel', samplingRate: 1 }), 0, ecg, vm);
    expect(new Set(sources(all.dataSync() as Float32Array, truth, ownData, b, t))).toEqual(new Set(['own']));

    const half = config({ sampling: 'parallel', samplingRate: 0.5 });
    const at = (step: number) =>
      sources(scheduledInput(model, half, step, ecg, vm).dataSync() as Float32Array, truth, ownData, b, t);
    const step5 = at(5);
    expect(step5).not.toContain('neither');
    expect(step5).toContain('own');
    expect(step5).toContain('truth');
    expect(at(5)).toEqual(step5);
    expect(at(6)).not.toEqual(step5);
    // Ramped: at step 0 of a 1000-step ramp the probability is 0.0005.
    const ramped = config({ sampling: 'parallel', samplingRate: 1, samplingRampSteps: 1000 });
    expect(scheduledInput(model, ramped, 0, ecg, vm)).toBe(vm);
    model.dispose();
  });

  it("'free-running' feeds back the model's autoregressive reconstruction", async () => {
    await startBackend('wasm');
    const model = createModel('transformer', 4);
    const ecg = tf.randomUniform([2, 10, 12], -0.5, 0.5, 'float32', 3) as tf.Tensor3D;
    const vm = tf.randomUniform([2, 500, 75], 0, 1, 'float32', 4) as tf.Tensor3D;
    const decoded = model.predict(ecg).dataSync() as Float32Array;
    const input = scheduledInput(model, config({ sampling: 'free-running', samplingRate: 1 }), 0, ecg, vm);
    const got = input.dataSync() as Float32Array;
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - decoded[i]!));
    expect(worst).toBeLessThan(1e-5);
    model.dispose();
  });
});

describe('--sampling unrolled: the loss of the free-running decode, backpropagated through its steps', () => {
  it('chooses the unrolled steps from (seed, step) with the sampling probability, the Transformer only', () => {
    const model = createModel('transformer', 3);
    const lstm = createModel('cnn-lstm', 3);
    const all = config({ sampling: 'unrolled', samplingRate: 1 });
    expect([0, 1, 2].map((s) => unrolledStep(model, all, s))).toEqual([true, true, true]);
    expect(unrolledStep(model, config({ sampling: 'unrolled', samplingRate: 0 }), 0)).toBe(false);
    expect(unrolledStep(model, config({ sampling: 'parallel', samplingRate: 1 }), 0)).toBe(false);
    expect(unrolledStep(lstm, all, 0)).toBe(false);
    const half = config({ sampling: 'unrolled', samplingRate: 0.5 });
    const picks = Array.from({ length: 64 }, (_, s) => unrolledStep(model, half, s));
    expect(picks.filter(Boolean).length).toBeGreaterThan(16);
    expect(picks.filter(Boolean).length).toBeLessThan(48);
    expect(Array.from({ length: 64 }, (_, s) => unrolledStep(model, half, s))).toEqual(picks);
    // Scheduled sampling's input stays the truth: the unrolled decode reads no true token after the ECG.
    const ecg = tf.zeros([1, 10, 12]) as tf.Tensor3D;
    const vm = tf.zeros([1, 500, 75]) as tf.Tensor3D;
    expect(scheduledInput(model, all, 0, ecg, vm)).toBe(vm);
    tf.dispose([ecg, vm]);
    model.dispose();
    lstm.dispose();
  });

  it('a few unrolled steps on one batch lower the free-running loss', async () => {
    await startBackend('wasm');
    const cache = await openCache(data);
    const model = createModel('transformer', 7);
    const c = config({ sampling: 'unrolled', samplingRate: 1, batch: 4 });
    const batch = gatherBatch(cache.train, [0, 1, 2, 3], model.inputSteps);
    const adam = new Adam(model, c);
    const losses: number[] = [];
    for (let step = 0; step < 4; step++) losses.push(await trainStep(model, adam, batch, c, step, 1e-3));
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses.at(-1)!).toBeLessThan(losses[0]!);
    model.dispose();
  }, 120_000);
});

describe('the crossing term (--crossing-weight)', () => {
  beforeAll(() => startBackend('wasm'));
  const mv = (v: number) => normaliseVmValue(v, NORMALISATION.tmp);
  const scalar = (t: tf.Tensor) => t.dataSync()[0]!;

  it('costs about nothing on the right side of both levels and the distance on the wrong side', () => {
    // Truth at +20 mV (above 0 and −60 mV); predictions at +20 mV (right side of both), −30 mV (wrong
    // side of 0 mV only), −85 mV (wrong side of both).
    const target = tf.tensor1d([mv(20), mv(20), mv(20)]);
    const right = scalar(crossingLoss(tf.tensor1d([mv(20), mv(20), mv(20)]), target));
    expect(right).toBeGreaterThan(0);
    expect(right).toBeLessThan(1e-4);
    const oneWrong = scalar(crossingLoss(tf.tensor1d([mv(-30), mv(-30), mv(-30)]), target));
    expect(oneWrong).toBeCloseTo(mv(0) - mv(-30), 3);
    const bothWrong = scalar(crossingLoss(tf.tensor1d([mv(-85), mv(-85), mv(-85)]), target));
    expect(bothWrong).toBeCloseTo(mv(0) - mv(-85) + (mv(-60) - mv(-85)), 3);
    // Mirrored: truth at rest, a prediction above 0 mV costs its height above both levels.
    const rest = tf.tensor1d([mv(-85)]);
    expect(scalar(crossingLoss(tf.tensor1d([mv(10)]), rest))).toBeCloseTo(
      mv(10) - mv(0) + (mv(10) - mv(-60)),
      3,
    );
    expect(CROSSING_LEVELS).toEqual([mv(0), mv(-60)]);
    expect(CROSSING_SOFTNESS).toBeGreaterThan(0);
  });

  it('pulls the best constant of an uncertain upstroke up to just below 0 mV, no further (a shelf)', () => {
    // One value whose truth is the plateau (+25 mV) with probability p and rest (−85.5 mV) otherwise: a
    // site whose 1 ms upstroke has happened by now with probability p. Squared error's best constant is
    // the mean. The crossing term (λ = 1, both levels, 2 mV smoothing) pulls a value that the truth is
    // likelier above 0 mV than not up to the level, but it stays a hair below it until p ≈ 0.75: a shelf
    // at 0 mV, not a step at the median — why it moves the measured activation times little (results §9).
    const best = (p: number, weight: number) => {
      const up = Math.round(p * 20);
      const target = tf.tensor1d([...Array(up).fill(mv(25)), ...Array(20 - up).fill(mv(-85.5))]);
      let arg = 0;
      let low = Number.POSITIVE_INFINITY;
      for (let v = -90; v <= 30; v += 0.5) {
        const pred = tf.fill([20], mv(v));
        const loss =
          scalar(tf.mean(tf.square(tf.sub(pred, target)))) + weight * scalar(crossingLoss(pred, target));
        if (loss < low) [low, arg] = [loss, v];
      }
      return arg;
    };
    expect(best(0.7, 0)).toBeCloseTo(-8.15, 0);
    expect(best(0.7, 1)).toBeGreaterThan(-3);
    expect(best(0.7, 1)).toBeLessThan(0);
    expect(best(0.8, 1)).toBeGreaterThanOrEqual(0);
    // Below even odds it pulls the other way, towards rest: the term follows the likelier side.
    expect(best(0.4, 1)).toBeLessThan(best(0.4, 0) - 10);
  });

  it('is refused below 0, and a resume that changes it starts the best validation loss again', async () => {
    const lstm = { ...DEFAULTS, model: 'cnn-lstm', out: '/tmp/x' } as TrainConfig;
    expect(() => validateConfig({ ...lstm, crossingWeight: -1 })).toThrow(
      /--crossing-weight must be a number ≥ 0/,
    );
    expect(validateConfig({ ...lstm, crossingWeight: 1 }).crossingWeight).toBe(1);
    const config = cnnLstmRun('crossing-change');
    let steps = 0;
    const first = await train(config, { shouldStop: () => steps++ >= 2 });
    expect(first.bestVal).not.toBeNull();
    const valLosses: number[] = [];
    const state = await train(config, {
      resume: true,
      changes: { crossingWeight: 1 },
      onEvent: (e) => void (e.kind === 'epoch' && valLosses.push(e.valLoss)),
    });
    expect(state.config.crossingWeight).toBe(1);
    // The loss now holds the crossing term too: higher, and the new best is its own.
    expect(valLosses[0]).toBeGreaterThan(first.bestVal!);
    expect(state.bestVal).toBe(valLosses[0]);
  }, 300_000);
});

describe('config', () => {
  const base = { ...DEFAULTS, out: '/tmp/x' };

  it('warms the rate up linearly over warmupSteps, then follows the milestones', () => {
    const c = {
      ...base,
      model: 'transformer',
      lr: 1e-3,
      warmupSteps: 4,
      lrMilestones: [2],
      lrGamma: 0.5,
    } as TrainConfig;
    expect(learningRate(c, 0, 0)).toBeCloseTo(2.5e-4, 12);
    expect(learningRate(c, 0, 3)).toBeCloseTo(1e-3, 12);
    expect(learningRate(c, 0, 100)).toBeCloseTo(1e-3, 12);
    expect(learningRate(c, 2, 100)).toBeCloseTo(5e-4, 12);
  });

  it('rejects Transformer-only settings on other models, and a selection without its measurement', () => {
    const lstm = { ...base, model: 'cnn-lstm' } as TrainConfig;
    expect(() => validateConfig({ ...lstm, outputInit: 'fit' })).toThrow(
      /--output-init fit applies to the transformer only/,
    );
    expect(() => validateConfig({ ...lstm, freeRunLimit: 4 })).toThrow(
      /--free-run-limit applies to the transformer only/,
    );
    const tf = { ...base, model: 'transformer' } as TrainConfig;
    expect(() => validateConfig({ ...tf, lookahead: 10 })).toThrow(
      /--lookahead applies to the cnn-lstm only/,
    );
    expect(() => validateConfig({ ...lstm, lookahead: 2.5 })).toThrow(/--lookahead/);
    expect(() => validateConfig({ ...lstm, lookahead: 101 })).toThrow(/≤ 100 ms/);
    expect(validateConfig({ ...lstm, lookahead: 15 }).lookahead).toBe(15);
    expect(() => validateConfig({ ...lstm, encoderInput: 'embedding' })).toThrow(
      /--encoder-input applies to the transformer only/,
    );
    expect(() => validateConfig({ ...tf, encoderInput: 'tokens' as never })).toThrow(
      /unknown --encoder-input 'tokens'/,
    );
    expect(validateConfig({ ...tf, encoderInput: 'embedding' }).encoderInput).toBe('embedding');
    expect(() => validateConfig({ ...tf, selectBy: 'free-running-r2', freeRunLimit: 0 })).toThrow(
      /needs --free-run-limit/,
    );
    expect(() => validateConfig({ ...tf, outputInit: 'zeros' as never })).toThrow(
      /Expected one of: default, fit/,
    );
    expect(() => validateConfig({ ...tf, warmupSteps: -1 })).toThrow(/--warmup-steps/);
    expect(() => validateConfig({ ...tf, lstmHidden: 128 })).toThrow(
      /--lstm-hidden applies to the cnn-lstm only/,
    );
    expect(() => validateConfig({ ...lstm, lstmHidden: 0 })).toThrow(
      /--lstm-hidden must be an integer from 2 to 1024/,
    );
    expect(() => validateConfig({ ...lstm, lstmHidden: 65, bidirectional: true })).toThrow(
      /even when bidirectional/,
    );
    expect(validateConfig({ ...lstm, lstmHidden: 128 }).lstmHidden).toBe(128);
  });
});

describe('freeRunScores', () => {
  it('measures the activation error in ms on the prediction as evaluate does (layout and scale)', async () => {
    await startBackend('wasm');
    const val = (await openCache(data)).val;
    const n = Math.min(4, val.count);
    const UPSTROKE_MS = 120;
    // A stand-in predictor: every site rests at −85 mV and jumps to +20 mV at UPSTROKE_MS.
    const template = new Float32Array(N_STEPS * N_SITES);
    for (let t = 0; t < N_STEPS; t++) {
      const v = normaliseVmValue(t < UPSTROKE_MS ? -85 : 20, NORMALISATION.tmp);
      template.fill(v, t * N_SITES, (t + 1) * N_SITES);
    }
    const model = {
      architecture: 'transformer',
      inputSteps: 10,
      predict: (ecg: tf.Tensor3D) =>
        tf.tile(tf.tensor3d(template, [1, N_STEPS, N_SITES]), [ecg.shape[0], 1, 1]),
    } as unknown as Parameters<typeof freeRunScores>[0];
    const scores = await freeRunScores(model, val, n, 3);
    // Expected from the split's own TMP, read independently: |120 − t| over the sites that activate.
    let sum = 0;
    let signed = 0;
    let pairs = 0;
    // The cache holds the TMP in mV, [count, 75, 500].
    const truth = { data: val.vm.subarray(0, n * N_SITES * N_STEPS), shape: [n, N_SITES, N_STEPS] as const };
    for (const at of activationTimes(truth)) {
      if (at === NOT_ACTIVATED) continue;
      pairs++;
      sum += Math.abs(UPSTROKE_MS - at);
      signed += UPSTROKE_MS - at;
    }
    expect(pairs).toBeGreaterThan(0);
    expect(scores.activationMaeMs).toBeCloseTo(sum / pairs, 6);
    expect(scores.activationBiasMs).toBeCloseTo(signed / pairs, 6);
    expect(scores.r2).toBeLessThan(1);
  }, 120_000);
});

describe('--init-from: a run that starts from another run’s weights', () => {
  it('starts from those weights with a fresh optimiser, records where they came from, and refuses another model', async () => {
    const source = await train(transformerRun('init-source', { outputInit: 'default', lr: 1e-3 }));
    const sourceFile = join(work, 'init-source', BEST_FILE);
    const sourceWeights = (await readCheckpoint<RunState>(sourceFile)).arrays;
    // lr 1e-9: Adam moves each weight by about lr per step, so the start stays visible in best.bin.
    const tuned = await train(transformerRun('init-tuned', { initFrom: sourceFile }));
    expect(tuned.initFrom).toMatchObject({ file: sourceFile, step: source.step, syntheticAp: 'drawn' });
    expect(tuned.initFrom!.sha256).toMatch(/^[0-9a-f]{64}$/);
    // No output-LayerNorm fit on top of them: the source's weights are the start.
    expect(tuned.outputInit).toBeNull();
    expect(tuned.step).toBe(2);
    const tunedWeights = (await readCheckpoint<RunState>(join(work, 'init-tuned', BEST_FILE))).arrays;
    let compared = 0;
    for (const [name, values] of sourceWeights) {
      if (!name.startsWith('param.')) continue;
      const mine = tunedWeights.get(name)!;
      for (let i = 0; i < values.length; i += 97) expect(mine[i]!).toBeCloseTo(values[i]!, 5);
      compared++;
    }
    expect(compared).toBeGreaterThan(50);
    // A checkpoint of another shape of model is refused before anything is trained, naming the difference.
    await expect(
      train(transformerRun('init-wrong', { initFrom: sourceFile, outputHead: 'projection' })),
    ).rejects.toThrow(/--init-from .*output head norm.*output head projection.*same model/);
    await expect(
      train(transformerRun('init-missing', { initFrom: join(work, 'nowhere', BEST_FILE) })),
    ).rejects.toThrow(/--init-from .*not a readable checkpoint/);
    expect(existsSync(join(work, 'init-wrong', CHECKPOINT_FILE))).toBe(false);
  }, 300_000);
});
