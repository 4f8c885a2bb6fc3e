import { describe, expect, it } from 'vitest';
import { DECODER_LAYERS, decodeTransformer, type GraphRunner, TRANSFORMER_IO as io } from './decode.ts';
import { InputError } from './errors.ts';

/**
 * A toy "runtime" whose tensors are numbers: the encoder returns segment 0 = the input, each step
 * returns segment + 1 and grows every cache entry by 10. Enough to check the loop's wiring; the real
 * graphs are run through it by the trainer's ONNX parity tests.
 */
function toyRuntime() {
  const stepFeeds: Record<string, number>[] = [];
  const encoder: GraphRunner<number> = {
    run: async (feeds) => {
      const out: Record<string, number> = { [io.segment]: feeds[io.ecg]! };
      for (let l = 0; l < DECODER_LAYERS; l++) {
        out[io.memoryKey(l)] = 1000 + l;
        out[io.memoryValue(l)] = 2000 + l;
      }
      return out;
    },
  };
  const step: GraphRunner<number> = {
    run: async (feeds) => {
      stepFeeds.push(feeds);
      const out: Record<string, number> = { [io.nextSegment]: feeds[io.segment]! + 1 };
      for (let l = 0; l < DECODER_LAYERS; l++) {
        out[io.presentKey(l)] = feeds[io.pastKey(l)]! + 10;
        out[io.presentValue(l)] = feeds[io.pastValue(l)]! + 10;
      }
      return out;
    },
  };
  return { encoder, step, stepFeeds };
}

describe('decodeTransformer', () => {
  it('runs the encoder once and 49 steps for 500 steps, feeding each step the previous outputs', async () => {
    const { encoder, step, stepFeeds } = toyRuntime();
    const seen: [number, number][] = [];
    await decodeTransformer({
      encoder,
      step,
      ecg: 7,
      emptyCache: () => 0,
      onSegment: (s, i) => void seen.push([i, s]),
    });
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => [i, 7 + i]));
    expect(stepFeeds).toHaveLength(49);
    // Step n sees a cache of 10·n tokens and the encoder's memory for every layer.
    stepFeeds.forEach((feeds, n) => {
      for (let l = 0; l < DECODER_LAYERS; l++) {
        expect(feeds[io.pastKey(l)]).toBe(10 * n);
        expect(feeds[io.memoryValue(l)]).toBe(2000 + l);
      }
    });
  });

  it('releases every tensor it stops using exactly once, and nothing the caller still holds', async () => {
    const { encoder, step } = toyRuntime();
    const released: number[] = [];
    await decodeTransformer({
      encoder,
      step,
      ecg: 100,
      steps: 30,
      emptyCache: () => -1,
      onSegment: () => {},
      release: (t) => released.push(t),
    });
    // Segments 100–102; memory (8 values); the 8 cache entries after step 1 (−1 + 10) and step 2.
    expect(released.filter((t) => t >= 100 && t <= 102).sort()).toEqual([100, 101, 102]);
    expect(released.filter((t) => t >= 1000)).toHaveLength(2 * DECODER_LAYERS);
    expect(released.filter((t) => t === 9)).toHaveLength(2 * DECODER_LAYERS);
    expect(released.filter((t) => t === 19)).toHaveLength(2 * DECODER_LAYERS);
    expect(released).toHaveLength(3 + 6 * DECODER_LAYERS);
    // The shared empty cache is never released.
    expect(released).not.toContain(-1);
  });

  it('rejects lengths that are not a positive multiple of 10, and graphs missing an output', async () => {
    const { encoder, step } = toyRuntime();
    for (const steps of [0, 15, -10, 2.5]) {
      const err = await decodeTransformer({
        encoder,
        step,
        ecg: 0,
        steps,
        emptyCache: () => 0,
        onSegment: () => {},
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toContain(String(steps));
    }
    const broken: GraphRunner<number> = { run: async () => ({ [io.segment]: 0 }) };
    await expect(
      decodeTransformer({ encoder: broken, step, ecg: 0, emptyCache: () => 0, onSegment: () => {} }),
    ).rejects.toThrow(/no output 'memory_key_0'/);
  });

  it('stops when its signal is aborted', async () => {
    const { encoder, step, stepFeeds } = toyRuntime();
    const controller = new AbortController();
    const err = await decodeTransformer({
      encoder,
      step,
      ecg: 0,
      emptyCache: () => 0,
      signal: controller.signal,
      onSegment: (_s, i) => {
        if (i === 3) controller.abort(new Error('user cancelled'));
      },
    }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('user cancelled');
    expect(stepFeeds).toHaveLength(3);
  });
});
