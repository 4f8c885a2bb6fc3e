import { ARCHITECTURES } from '@ecg-tmp/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../backend.ts';
import { createModel, PARAMETER_COUNTS } from './index.ts';
import { ForwardContext } from './layers.ts';
import { memoryVarianceLoss, SEGMENT } from './transformer.ts';

beforeAll(async () => {
  await startBackend('wasm');
});

/** A random ECG of T steps (the same every call); bumpReach bumps it at step AT. */
const T = 120;
const AT = 100;
const base = () => tf.randomNormal([1, T, 12], 0, 1, 'float32', 7) as tf.Tensor3D;

/** Whether `model`'s output at step t moves when the ECG is bumped at step AT (by more than 1e-6). */
async function bumpReach(model: ReturnType<typeof createModel>): Promise<(t: number) => boolean> {
  const x = base();
  const bumped = tf.tidy(() => tf.add(x, tf.oneHot([AT], T).reshape([1, T, 1]).mul(5)) as tf.Tensor3D);
  const [y0, y1] = await Promise.all([model.predict(x), model.predict(bumped)].map((y) => y.array()));
  x.dispose();
  bumped.dispose();
  expect([y0!.length, y0![0]!.length, y0![0]![0]!.length]).toEqual([1, T, 75]);
  return (t) => y0![0]![t]!.some((v, i) => Math.abs(v - y1![0]![t]![i]!) > 1e-6);
}

describe('models', () => {
  for (const arch of ARCHITECTURES) {
    it(`${arch} has exactly the paper's ${PARAMETER_COUNTS[arch].toLocaleString('en')} trainable parameters`, () => {
      const model = createModel(arch, 1);
      expect(model.params.countTrainable()).toBe(PARAMETER_COUNTS[arch]);
      model.dispose();
    });
  }

  it('draws the same initial weights from the same seed, and other ones from another seed', async () => {
    const [a, b, c] = [createModel('cnn-lstm', 5), createModel('cnn-lstm', 5), createModel('cnn-lstm', 6)];
    const [wa, wb, wc] = await Promise.all([a.params.read(), b.params.read(), c.params.read()]);
    expect(wa.get('lstm.hiddenWeight')).toEqual(wb.get('lstm.hiddenWeight'));
    expect(wa.get('lstm.hiddenWeight')).not.toEqual(wc.get('lstm.hiddenWeight'));
    for (const m of [a, b, c]) m.dispose();
  });

  it('cnn-lstm with a lookahead: same parameters, and each output reads the ECG up to t + L + 3 ms', async () => {
    const L = 5;
    const model = createModel('cnn-lstm', 3, { lookahead: L });
    expect(model.params.countTrainable()).toBe(PARAMETER_COUNTS['cnn-lstm']);
    const changed = await bumpReach(model);
    // The convolutions reach 3 steps ahead, the lookahead L more: outputs before AT − L − 3 cannot know.
    for (let t = 0; t < AT - L - 3; t++) expect(changed(t)).toBe(false);
    expect(changed(AT - L - 3)).toBe(true);
    expect(changed(AT)).toBe(true);
    // Without the lookahead the same bump reaches back only 3 steps.
    const paper = createModel('cnn-lstm', 3);
    const paperChanged = await bumpReach(paper);
    expect(paperChanged(AT - 4)).toBe(false);
    expect(paperChanged(AT - 3)).toBe(true);
    expect(() => createModel('transformer', 1, { lookahead: 2 })).toThrow(/cnn-lstm only/);
    model.dispose();
    paper.dispose();
  });

  it('cnn-lstm bidirectional (a deviation): 205,643 parameters, outputs read the ECG after them, and both LSTMs get a gradient', async () => {
    const model = createModel('cnn-lstm', 3, { bidirectional: true });
    expect(model.params.countTrainable()).toBe(205_643);
    const changed = await bumpReach(model);
    // A bump at step 100 reaches outputs well before it through the backward LSTM (the causal paper
    // model's reaches back 3 steps; at the random start the LSTM's memory fades within a few dozen steps).
    expect(changed(AT - 10)).toBe(true);
    expect(changed(AT)).toBe(true);
    // Both LSTMs are trained: each gets a gradient.
    const names = ['lstm.hiddenWeight', 'lstmBack.hiddenWeight'];
    const vars = model.params.trainable.filter((p) => names.includes(p.name)).map((p) => p.variable);
    expect(vars).toHaveLength(2);
    const x = base();
    const { grads } = tf.variableGrads(
      () => tf.mean(tf.square(model.trainForward(x, x, ForwardContext.inference()))) as tf.Scalar,
      vars,
    );
    for (const [k, name] of names.entries()) {
      const g = grads[vars[k]!.name];
      expect(g, name).toBeDefined();
      expect(tf.max(tf.abs(g!)).dataSync()[0]!, name).toBeGreaterThan(0);
    }
    expect(() => createModel('transformer', 1, { bidirectional: true })).toThrow(/cnn-lstm only/);
    for (const t of [x, ...Object.values(grads)]) t.dispose();
    model.dispose();
  });

  it('cnn-lstm with a wider LSTM (a deviation): 333,835 parameters at 128 hidden units, the paper’s 213,835 at 64', () => {
    const wide = createModel('cnn-lstm', 3, { lstmHidden: 128 });
    // The LSTM 4·128·(256 + 128) + 2·4·128 and the Linear 128·75 + 75, in place of 64's.
    expect(wide.params.countTrainable()).toBe(
      213_835 - (4 * 64 * 320 + 8 * 64 + 64 * 75 + 75) + (4 * 128 * 384 + 8 * 128 + 128 * 75 + 75),
    );
    expect(wide.params.countTrainable()).toBe(333_835);
    const paper = createModel('cnn-lstm', 3, { lstmHidden: 64 });
    expect(paper.params.countTrainable()).toBe(213_835);
    wide.dispose();
    paper.dispose();
  });

  it('transformer: cached autoregressive decoding equals decoding the growing prefix without a cache', async () => {
    const model = createModel('transformer', 3);
    const ecg = tf.randomNormal([1, SEGMENT, 12], 0, 1, 'float32', 9) as tf.Tensor3D;
    const segments: number[] = [];
    const cached = tf.tidy(() => model.predict(ecg, (_s, i) => segments.push(i)));
    expect(cached.shape).toEqual([1, 500, 75]);
    expect(segments).toEqual(Array.from({ length: 50 }, (_, i) => i));
    // Uncached: feed the whole prefix decoded so far (teacher forcing on our own output); the last
    // segment the decoder emits must equal the cached decode's. Checked at three prefix lengths.
    const truth = await cached.data();
    for (const prefix of [10, 200, 490]) {
      const full = tf.tidy(() => {
        const padded = tf.concat(
          [tf.slice(cached, [0, 0, 0], [1, prefix, 75]), tf.zeros([1, 500 - prefix, 75])],
          1,
        );
        return model.trainForward(ecg, padded as tf.Tensor3D, ForwardContext.inference());
      });
      const out = await full.data();
      for (let i = prefix; i < prefix + SEGMENT; i++) {
        for (let s = 0; s < 75; s++) {
          expect(Math.abs(out[i * 75 + s]! - truth[i * 75 + s]!)).toBeLessThan(1e-4);
        }
      }
      full.dispose();
    }
    model.dispose();
  });

  it('transformer, unrolled for training: the free-running decode’s values, with gradients through what it fed back', async () => {
    const model = createModel('transformer', 5);
    const ecg = tf.randomNormal([2, SEGMENT, 12], 0, 1, 'float32', 11) as tf.Tensor3D;
    const ctx = ForwardContext.inference();
    const decoded = tf.tidy(() => model.predict(ecg));
    const unrolled = tf.tidy(() => model.unrolledForward!(ecg, ctx));
    expect(unrolled.shape).toEqual([2, 500, 75]);
    const [a, b] = [await decoded.data(), await unrolled.data()];
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    expect(worst).toBeLessThan(1e-4);
    // The same values through teacher forcing on the decoded tokens (constants): the loss is the same,
    // but only the unrolled pass carries the gradient back through the tokens each step was fed.
    const vars = model.params.trainable.map((p) => p.variable);
    const late = (y: tf.Tensor3D) => tf.mean(tf.square(tf.slice(y, [0, 400, 0], [2, 100, 75]))) as tf.Scalar;
    const viaUnroll = tf.variableGrads(() => late(model.unrolledForward!(ecg, ctx)), vars);
    const viaConstants = tf.variableGrads(() => late(model.trainForward(ecg, decoded, ctx)), vars);
    expect((await viaUnroll.value.data())[0]).toBeCloseTo((await viaConstants.value.data())[0]!, 5);
    const name = model.params.trainable.find((p) => p.name.startsWith('decoder0.selfAttn.inProj.weight'))!;
    const [g1, g2] = [
      await viaUnroll.grads[name.variable.name]!.data(),
      await viaConstants.grads[name.variable.name]!.data(),
    ];
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < g1.length; i++) {
      diff = Math.max(diff, Math.abs(g1[i]! - g2[i]!));
      scale = Math.max(scale, Math.abs(g2[i]!));
    }
    expect(scale).toBeGreaterThan(0);
    expect(diff).toBeGreaterThan(1e-3 * scale);
    tf.dispose([ecg, decoded, unrolled, viaUnroll.value, viaConstants.value]);
    tf.dispose([...Object.values(viaUnroll.grads), ...Object.values(viaConstants.grads)]);
    model.dispose();
  });

  it('transformer --memory-variance: a training pass adds λ·mean(max(0, 1 − std over the batch)) of the memory, whose gradient reaches the encoder and the input layer', async () => {
    // The term itself: a memory that is the same for every ECG costs λ·(1 − 0.01); one that varies
    // by more than 1 across the batch costs nothing.
    const same = tf.ones([4, SEGMENT, 75]) as tf.Tensor3D;
    const varied = tf.mul(tf.randomNormal([64, SEGMENT, 75], 0, 1, 'float32', 3), 3) as tf.Tensor3D;
    expect((await memoryVarianceLoss(same, 0.5).data())[0]).toBeCloseTo(0.5 * 0.99, 5);
    expect((await memoryVarianceLoss(varied, 0.5).data())[0]).toBeLessThan(1e-3);
    const model = createModel('transformer', 5);
    const ecg = tf.randomNormal([4, SEGMENT, 12], 0, 1, 'float32', 11) as tf.Tensor3D;
    const vm = tf.randomNormal([4, 500, 75], 0, 1, 'float32', 12) as tf.Tensor3D;
    // Off (the default), and in inference, a pass adds nothing.
    const off = new ForwardContext(true, 1, 0);
    tf.dispose(model.trainForward(ecg, vm, off));
    expect(off.extraLosses).toHaveLength(0);
    const ctx = new ForwardContext(true, 1, 0);
    ctx.memoryVariance = 0.5;
    const vars = model.params.trainable.map((p) => p.variable);
    const { value, grads } = tf.variableGrads(() => {
      tf.dispose(model.trainForward(ecg, vm, ctx));
      return ctx.extraLosses[0]!;
    }, vars);
    expect(ctx.extraLosses).toHaveLength(1);
    expect((await value.data())[0]).toBeGreaterThan(0);
    const norm = async (prefix: string) => {
      let n = 0;
      for (const p of model.params.trainable.filter((q) => q.name.startsWith(prefix)))
        for (const g of (await grads[p.variable.name]?.data()) ?? []) n += g * g;
      return n;
    };
    expect(await norm('encoder0.')).toBeGreaterThan(0);
    expect(await norm('input.')).toBeGreaterThan(0);
    // The decoder is not on the term's path (no gradient at all).
    expect(await norm('decoder0.')).toBe(0);
    tf.dispose([same, varied, ecg, vm, value, ...Object.values(grads), ...ctx.extraLosses]);
    model.dispose();
  });

  it('transformer with --encoder-input embedding: the same parameters; the decoder starts from the embedding and predicts segment 0 too', async () => {
    const exact = createModel('transformer', 6);
    const model = createModel('transformer', 6, { encoderInput: 'embedding' });
    expect(model.params.countTrainable()).toBe(PARAMETER_COUNTS.transformer);
    expect(model.params.countTrainable()).toBe(exact.params.countTrainable());
    const ecg = tf.randomNormal([1, SEGMENT, 12], 0, 1, 'float32', 13) as tf.Tensor3D;
    const segments: number[] = [];
    const decoded = tf.tidy(() => model.predict(ecg, (_s, i) => segments.push(i)));
    expect(decoded.shape).toEqual([1, 500, 75]);
    expect(segments).toEqual(Array.from({ length: 50 }, (_, i) => i));
    // Segment 0 is a decoder output now, not the input layer's: it differs from the paper scheme's,
    // which is the input layer's own output (the same weights here).
    const embedding = tf.tidy(() => model.encode!(ecg).segment0);
    const [d, e] = [await decoded.data(), await embedding.data()];
    expect(d.slice(0, SEGMENT * 75)).not.toEqual(e);
    // Teacher forcing on its own decode reproduces it at every segment (the decoder reads [embedding;
    // tokens 0…489]), and so does the unrolled training pass.
    const forced = tf.tidy(() => model.trainForward(ecg, decoded, ForwardContext.inference()));
    const unrolled = tf.tidy(() => model.unrolledForward!(ecg, ForwardContext.inference()));
    for (const other of [await forced.data(), await unrolled.data()]) {
      let worst = 0;
      for (let i = 0; i < d.length; i++) worst = Math.max(worst, Math.abs(d[i]! - other[i]!));
      expect(worst).toBeLessThan(1e-4);
    }
    tf.dispose([ecg, decoded, embedding, forced, unrolled]);
    model.dispose();
    exact.dispose();
  });

  it('transformer with the projection head: +5,700 parameters, the same start as the paper-exact model', async () => {
    const exact = createModel('transformer', 3);
    const projected = createModel('transformer', 3, { outputHead: 'projection' });
    expect(projected.params.countTrainable()).toBe(PARAMETER_COUNTS.transformer + 75 * 75 + 75);
    const [we, wp] = await Promise.all([exact.params.read(), projected.params.read()]);
    for (const [name, values] of we) expect(wp.get(name), name).toEqual(values);
    // Identity weights, zero bias: the two reconstruct alike until training moves the head.
    const ecg = tf.randomNormal([1, SEGMENT, 12], 0, 1, 'float32', 4) as tf.Tensor3D;
    const [a, b] = tf.tidy(() => [exact.predict(ecg), projected.predict(ecg)]);
    const [da, db] = [await a!.data(), await b!.data()];
    let diff = 0;
    for (let i = 0; i < da.length; i++) diff = Math.max(diff, Math.abs(da[i]! - db[i]!));
    expect(diff).toBeLessThan(1e-5);
    // A moved head changes the reconstruction after segment 0 (which the input network predicts).
    const bias = projected.params.get('head.bias').variable;
    bias.assign(tf.fill([75], 0.5));
    const c = tf.tidy(() => projected.predict(ecg));
    const dc = await c.data();
    expect(dc[0]).toBe(da[0]);
    expect(dc[100 * 75]! - da[100 * 75]!).not.toBeCloseTo(0, 2);
    expect(() => createModel('cnn-lstm', 3, { outputHead: 'projection' })).toThrow(/transformer only/);
    for (const t of [a!, b!, c, ecg]) t.dispose();
    exact.dispose();
    projected.dispose();
  });
});
