import { join } from 'node:path';
import {
  ARCHITECTURES,
  InputError,
  limitTime,
  N_LEADS,
  N_STEPS,
  normaliseEcg,
  type Signal,
} from '@ecg-tmp/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../backend.ts';
import { openCache } from '../data.ts';
import { splitBatch } from '../evaluate.ts';
import { createModel } from '../models/index.ts';
import { ROOT, syntheticCache } from '../synthetic.ts';
import { FP16_TOLERANCE, maxAbsDiff, PARITY_TOLERANCE, trainerPredict } from './export.ts';
import { buildGraphs } from './graphs.ts';
import { fromFloat16Bits, toFloat16Bits } from './onnx-graph.ts';
import { OrtModel } from './ort-node.ts';

let ecg: Signal;

beforeAll(async () => {
  await startBackend('wasm');
  const cache = await openCache(await syntheticCache({ count: 40, seed: 3, dataDir: join(ROOT, 'data') }));
  ecg = splitBatch(cache.test, 0, 3).ecg;
});

/** Random weights, with BatchNorm statistics moved off their (0, 1) start so folding is exercised. */
/** The graphs buildGraphs makes from `weights`, opened in onnxruntime. */
const openGraphs = (
  arch: (typeof ARCHITECTURES)[number],
  weights: Parameters<typeof buildGraphs>[1],
  dtype: 'fp32' | 'fp16' = 'fp32',
  options: Parameters<typeof buildGraphs>[3] = {},
) =>
  OrtModel.open(
    arch,
    Object.fromEntries(buildGraphs(arch, weights, dtype, options).map((g) => [g.role, g.bytes])),
  );

async function randomModel(arch: (typeof ARCHITECTURES)[number], outputHead: 'norm' | 'projection' = 'norm') {
  const model = createModel(arch, 11, { outputHead });
  const weights = await model.params.read();
  let k = 0;
  for (const [name, values] of weights) {
    // The projection head starts as the identity; a random one shows the export really applies it.
    if (name.startsWith('head.')) for (let i = 0; i < values.length; i++) values[i]! += Math.sin(3 * i) * 0.2;
    if (!name.includes('running')) continue;
    for (let i = 0; i < values.length; i++, k++) {
      values[i] = name.endsWith('runningVar') ? 0.3 + ((k * 0.37) % 1.5) : Math.sin(k) * 0.4;
    }
  }
  model.params.write(weights);
  return { model, weights };
}

function batch(signal: Signal, from: number, n: number): Signal {
  const per = signal.shape[1] * signal.shape[2];
  return {
    data: signal.data.slice(from * per, (from + n) * per),
    shape: [n, signal.shape[1], signal.shape[2]],
  };
}

describe('ONNX export matches the trainer (random weights, ORT wasm vs tfjs)', () => {
  for (const arch of ARCHITECTURES) {
    it(`${arch}: fp32 within ${PARITY_TOLERANCE} and fp16 within ${FP16_TOLERANCE}, batch 1 and 3, Exp I and II`, async () => {
      const { model, weights } = await randomModel(arch);
      const onnx = {
        fp32: await openGraphs(arch, weights),
        fp16: await openGraphs(arch, weights, 'fp16'),
      };
      for (const limited of [false, true]) {
        const input = normaliseEcg(limited ? limitTime(ecg) : ecg, 'lead-range').signal;
        for (const b of [1, 3]) {
          const x = batch(input, 0, b);
          const reference = await trainerPredict(model, x);
          expect(reference.shape).toEqual([b, 75, N_STEPS]);
          const fp32 = await onnx.fp32.predict(x);
          expect(fp32.shape).toEqual([b, 75, N_STEPS]);
          expect(maxAbsDiff(fp32, reference)).toBeLessThanOrEqual(PARITY_TOLERANCE);
          const fp16 = maxAbsDiff(await onnx.fp16.predict(x), reference);
          expect(fp16).toBeLessThanOrEqual(FP16_TOLERANCE);
          // fp16 weights do change the output: the variant is really stored at half precision.
          expect(fp16).toBeGreaterThan(0);
        }
      }
      model.dispose();
      for (const m of Object.values(onnx)) await m.release();
    });
  }

  it('transformer: an ECG of exactly 10 steps (limited-time input) decodes all 500 steps, like the full ECG', async () => {
    const { model, weights } = await randomModel('transformer');
    const onnx = await openGraphs('transformer', weights);
    const full = normaliseEcg(batch(ecg, 0, 2), 'lead-range').signal;
    const first10: Signal = { data: new Float32Array(2 * N_LEADS * 10), shape: [2, N_LEADS, 10] };
    for (let row = 0; row < 2 * N_LEADS; row++) {
      first10.data.set(full.data.subarray(row * N_STEPS, row * N_STEPS + 10), row * 10);
    }
    const segments: number[] = [];
    const short = await onnx.predict(first10, (i) => segments.push(i));
    expect(segments).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(short.shape).toEqual([2, 75, N_STEPS]);
    expect(maxAbsDiff(short, await onnx.predict(full))).toBe(0);
    expect(maxAbsDiff(short, await trainerPredict(model, full))).toBeLessThanOrEqual(PARITY_TOLERANCE);
    model.dispose();
    await onnx.release();
  });

  it('transformer with the projection head (the measured deviation): fp32 within tolerance', async () => {
    const { model, weights } = await randomModel('transformer', 'projection');
    const { model: exact } = await randomModel('transformer');
    const onnx = await openGraphs('transformer', weights);
    const x = normaliseEcg(batch(ecg, 0, 2), 'lead-range').signal;
    const reference = await trainerPredict(model, x);
    expect(maxAbsDiff(await onnx.predict(x), reference)).toBeLessThanOrEqual(PARITY_TOLERANCE);
    // The head is in the graph: without it the output would be the paper-exact model's.
    expect(maxAbsDiff(reference, await trainerPredict(exact, x))).toBeGreaterThan(0.05);
    model.dispose();
    exact.dispose();
    await onnx.release();
  });

  it('transformer with --encoder-input embedding (the deviation): start tokens out of the encoder, 50 decoded segments, fp32 and fp16 within tolerance', async () => {
    const model = createModel('transformer', 11, { encoderInput: 'embedding' });
    const weights = await model.params.read();
    const onnx = {
      fp32: await openGraphs('transformer', weights, 'fp32', { startTokens: true }),
      fp16: await openGraphs('transformer', weights, 'fp16', { startTokens: true }),
    };
    const x = normaliseEcg(batch(ecg, 0, 2), 'lead-range').signal;
    const reference = await trainerPredict(model, x);
    const segments: number[] = [];
    const out = await onnx.fp32.predict(x, (i) => segments.push(i));
    expect(segments).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(out.shape).toEqual([2, 75, N_STEPS]);
    expect(maxAbsDiff(out, reference)).toBeLessThanOrEqual(PARITY_TOLERANCE);
    expect(maxAbsDiff(await onnx.fp16.predict(x), reference)).toBeLessThanOrEqual(FP16_TOLERANCE);
    // The same weights exported as the paper's scheme show the start tokens as segment 0 instead: the
    // graphs really differ in what they decode from.
    const asPaper = await openGraphs('transformer', weights);
    expect(maxAbsDiff(await asPaper.predict(x), reference)).toBeGreaterThan(0.05);
    expect(() => buildGraphs('cnn-lstm', weights, 'fp32', { startTokens: true })).toThrow(/transformer only/);
    model.dispose();
    for (const m of [...Object.values(onnx), asPaper]) await m.release();
  });

  /** The exported fp32 CNN-LSTM graph of `weights` against the trainer's model on two test ECGs. */
  async function expectCnnLstmParity(
    model: ReturnType<typeof createModel>,
    weights: Map<string, Float32Array>,
  ) {
    const onnx = await openGraphs('cnn-lstm', weights);
    const x = normaliseEcg(batch(ecg, 0, 2), 'lead-range').signal;
    const out = await onnx.predict(x);
    expect(out.shape).toEqual([2, 75, N_STEPS]);
    expect(maxAbsDiff(out, await trainerPredict(model, x))).toBeLessThanOrEqual(PARITY_TOLERANCE);
    await onnx.release();
  }

  it('cnn-lstm bidirectional (the deviation): ONNX LSTM direction=bidirectional matches the trainer', async () => {
    const model = createModel('cnn-lstm', 11, { bidirectional: true });
    const weights = await model.params.read();
    await expectCnnLstmParity(model, weights);
    // Both halves are in the graph: from the forward LSTM's weights alone (32 states, for a Linear of 64) it is refused.
    const forwardOnly = new Map([...weights].filter(([k]) => !k.startsWith('lstmBack.')));
    expect(() => buildGraphs('cnn-lstm', forwardOnly, 'fp32')).toThrow();
    model.dispose();
  });

  it('cnn-lstm with a wider LSTM (the deviation --lstm-hidden 128): the ONNX LSTM reads its size from the weights', async () => {
    const model = createModel('cnn-lstm', 11, { lstmHidden: 128 });
    const weights = await model.params.read();
    expect(weights.get('lstm.hiddenBias')!.length).toBe(4 * 128);
    await expectCnnLstmParity(model, weights);
    model.dispose();
  });

  it('cnn-lstm with a lookahead: the padded, sliced graph matches the trainer, and differs from lookahead 0', async () => {
    const L = 15;
    const model = createModel('cnn-lstm', 11, { lookahead: L });
    const weights = await model.params.read();
    const onnx = await openGraphs('cnn-lstm', weights, 'fp32', { lookahead: L });
    const plain = await openGraphs('cnn-lstm', weights);
    const x = normaliseEcg(batch(ecg, 0, 2), 'lead-range').signal;
    const reference = await trainerPredict(model, x);
    const out = await onnx.predict(x);
    expect(out.shape).toEqual([2, 75, N_STEPS]);
    expect(maxAbsDiff(out, reference)).toBeLessThanOrEqual(PARITY_TOLERANCE);
    expect(maxAbsDiff(await plain.predict(x), reference)).toBeGreaterThan(1e-3);
    expect(() => buildGraphs('squeezenet1d', weights, 'fp32', { lookahead: L })).toThrow(/cnn-lstm only/);
    model.dispose();
    await onnx.release();
    await plain.release();
  });

  it('a malformed or truncated .onnx is an InputError naming the file', async () => {
    const { model, weights } = await randomModel('cnn-lstm');
    model.dispose();
    const [graph] = buildGraphs('cnn-lstm', weights, 'fp32');
    const cases = {
      truncated: graph!.bytes.subarray(0, Math.floor(graph!.bytes.length / 2)),
      garbage: new Uint8Array(1000).map((_, i) => (i * 131) % 256),
      empty: new Uint8Array(0),
    };
    for (const [label, bytes] of Object.entries(cases)) {
      const err = await OrtModel.open('cnn-lstm', { model: bytes }, `${label}.onnx`).catch((e: unknown) => e);
      expect(err, label).toBeInstanceOf(InputError);
      expect((err as InputError).code).toBe('bad_model');
      expect((err as Error).message).toContain(`${label}.onnx`);
    }
    const missing = await OrtModel.open('transformer', { encoder: graph!.bytes }, 'half.onnx').catch(
      (e: unknown) => e,
    );
    expect((missing as Error).message).toMatch(/no decoder-step graph/);
  });
});

describe('float16 conversion', () => {
  it('rounds to nearest even, keeps signs, and saturates to infinity', () => {
    expect(toFloat16Bits(1)).toBe(0x3c00);
    expect(toFloat16Bits(-2)).toBe(0xc000);
    expect(toFloat16Bits(65504)).toBe(0x7bff);
    expect(toFloat16Bits(70000)).toBe(0x7c00);
    expect(toFloat16Bits(2 ** -24)).toBe(0x0001);
    expect(toFloat16Bits(2 ** -26)).toBe(0x0000);
    // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1).
    expect(toFloat16Bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(toFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    for (const v of [0.1, -Math.PI, 1e-5, 1234.5]) {
      expect(Math.abs(fromFloat16Bits(toFloat16Bits(v)) - v)).toBeLessThanOrEqual(
        Math.abs(v) * 2 ** -11 + 2 ** -25,
      );
    }
  });
});
