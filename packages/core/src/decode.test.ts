import { describe, expect, it } from 'vitest';
import {
  DECODER_LAYERS,
  decodeTransformer,
  type GraphRunner,
  hasAddedRows,
  hostCache,
  TRANSFORMER_IO as io,
} from './decode.ts';
import { InputError } from './errors.ts';

/**
 * A toy "runtime" whose tensors are numbers: the encoder returns segment 0 = the input, each step
 * returns segment + 1 and grows every cache entry by 10. Enough to check the loop's wiring; the real
 * graphs are run through it by the trainer's ONNX parity tests.
 */
function toyRuntime(firstOutput: string = io.segment) {
  const stepFeeds: Record<string, number>[] = [];
  const encoder: GraphRunner<number> = {
    run: async (feeds) => {
      const out: Record<string, number> = { [firstOutput]: feeds[io.ecg]! };
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

  it('starts from start tokens without showing them: 50 steps, the first one making segment 0', async () => {
    // An encoder exported from an --encoder-input embedding run: its `start` output is not TMP.
    const { encoder, step, stepFeeds } = toyRuntime(io.start);
    const seen: [number, number][] = [];
    const released: number[] = [];
    await decodeTransformer({
      encoder,
      step,
      ecg: 5000,
      emptyCache: () => -1,
      onSegment: (s, i) => void seen.push([i, s]),
      release: (t) => released.push(t),
    });
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => [i, 5001 + i]));
    expect(stepFeeds).toHaveLength(50);
    expect(stepFeeds[0]![io.segment]).toBe(5000);
    expect(stepFeeds[0]![io.pastKey(0)]).toBe(-1);
    expect(stepFeeds[49]![io.pastKey(0)]).toBe(-1 + 10 * 49);
    // The start tokens and every segment released once; the shared empty cache never.
    expect(released.filter((t) => t >= 5000).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 51 }, (_, i) => 5000 + i),
    );
    expect(released).not.toContain(-1);
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
    const noSegment: GraphRunner<number> = {
      run: async () =>
        Object.fromEntries(
          Array.from({ length: DECODER_LAYERS }, (_, l) => [
            [io.memoryKey(l), 0],
            [io.memoryValue(l), 0],
          ]).flat(),
        ),
    };
    await expect(
      decodeTransformer({ encoder: noSegment, step, ecg: 0, emptyCache: () => 0, onSegment: () => {} }),
    ).rejects.toThrow(/neither output 'segment' nor 'start'/);
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

  describe('with the cache grown on the host (growCache)', () => {
    /** Tensors are { data, dims }; step n adds, per batch row, tokens whose values encode (batch, n, token, layer). */
    interface HostTensor {
      readonly data: Float32Array;
      readonly dims: readonly number[];
    }
    const WIDTH = 3;
    const value = (b: number, step: number, token: number, l: number) =>
      b * 1e4 + step * 100 + token * 10 + l;

    function hostRuntime(batch: number) {
      const fed: { fetches: string[] | undefined; past: HostTensor[] }[] = [];
      const encoder: GraphRunner<HostTensor> = {
        run: async () => {
          const out: Record<string, HostTensor> = {
            [io.segment]: { data: new Float32Array([0]), dims: [1] },
          };
          for (let l = 0; l < DECODER_LAYERS; l++)
            out[io.memoryKey(l)] = out[io.memoryValue(l)] = { data: new Float32Array(1), dims: [1] };
          return out;
        },
      };
      const step: GraphRunner<HostTensor> = {
        run: async (feeds, fetches) => {
          const n = feeds[io.segment]!.data[0]! + 1;
          fed.push({ fetches, past: [feeds[io.pastKey(0)]!, feeds[io.pastValue(DECODER_LAYERS - 1)]!] });
          const out: Record<string, HostTensor> = {
            [io.nextSegment]: { data: new Float32Array([n]), dims: [1] },
          };
          for (let l = 0; l < DECODER_LAYERS; l++) {
            const added = new Float32Array(batch * 10 * WIDTH);
            for (let b = 0; b < batch; b++)
              for (let t = 0; t < 10; t++)
                added.fill(value(b, n, t, l), (b * 10 + t) * WIDTH, (b * 10 + t + 1) * WIDTH);
            out[io.addedKey(l)] = out[io.addedValue(l)] = { data: added, dims: [batch, 10, WIDTH] };
          }
          return out;
        },
      };
      return { encoder, step, fed };
    }

    for (const batch of [1, 3]) {
      it(`feeds step n the rows of steps 1…n−1, batch rows kept apart (B = ${batch})`, async () => {
        const { encoder, step, fed } = hostRuntime(batch);
        const empty = { data: new Float32Array(0), dims: [batch, 0, WIDTH] };
        await decodeTransformer<HostTensor>({
          encoder,
          step,
          ecg: empty,
          steps: 60,
          emptyCache: () => empty,
          onSegment: () => {},
          growCache: hostCache<HostTensor>(
            batch,
            WIDTH,
            (data, dims) => ({ data, dims }),
            (t) => t.data,
            20,
          ),
        });
        expect(fed).toHaveLength(5);
        fed.forEach(({ fetches, past }, i) => {
          expect(fetches).toEqual([
            io.nextSegment,
            ...Array.from({ length: DECODER_LAYERS }, (_, l) => [io.addedKey(l), io.addedValue(l)]).flat(),
          ]);
          const n = i + 1; // the step being fed
          for (const [k, t] of past.entries()) {
            const layer = k === 0 ? 0 : DECODER_LAYERS - 1;
            expect(t.dims).toEqual([batch, 10 * (n - 1), WIDTH]);
            const expected: number[] = [];
            for (let b = 0; b < batch; b++)
              for (let s = 1; s < n; s++)
                for (let tok = 0; tok < 10; tok++)
                  expected.push(...Array(WIDTH).fill(value(b, s, tok, layer)));
            expect(Array.from(t.data)).toEqual(expected);
          }
        });
      });
    }

    it('names a graph without the added rows', async () => {
      const { encoder, step } = toyRuntime();
      await expect(
        decodeTransformer({
          encoder,
          step,
          ecg: 0,
          emptyCache: () => 0,
          onSegment: () => {},
          growCache: (_p, t) => t,
        }),
      ).rejects.toThrow(/no output 'added_key_0'/);
      expect(hasAddedRows([io.nextSegment, io.presentKey(0)])).toBe(false);
      const all = Array.from({ length: DECODER_LAYERS }, (_, l) => [io.addedKey(l), io.addedValue(l)]).flat();
      expect(hasAddedRows([io.nextSegment, ...all])).toBe(true);
      expect(hasAddedRows(all.slice(1))).toBe(false);
    });
  });
});
