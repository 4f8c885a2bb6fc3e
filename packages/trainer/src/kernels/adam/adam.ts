/**
 * @module
 * Adam as one fused WebAssembly SIMD update over all parameters (wat.ts, assembled into the committed
 * adam.wasm), for the CPU backends (cpu, wasm).
 *
 * With tfjs ops each parameter's update was about fifteen element-wise kernels, each allocating its
 * output, plus a sum per gradient for the clipping norm: ~600 ops per step for the CNN-LSTM. Here the
 * moments live in the kernel's memory for the whole run as flat arrays, each parameter at a 16-byte
 * aligned offset; a step copies the gradients and the parameters in (from tfjs-wasm's heap directly),
 * sums the squares for the global-norm clip, updates everything in one call, and hands each parameter
 * back as a new tensor (tfjs data is immutable: Variable.assign swaps it).
 *
 * The arithmetic is the previous tfjs-op Adam's, operation for operation in f32, so results are
 * bit-identical to it (adam.test.ts); the clip norm is summed in f64 (tfjs summed in f32), which moves
 * the clip scale by ~1e-7 relative when clipping is active. The checkpoint keeps the same arrays,
 * adam.m.<name> and adam.v.<name>.
 */

import { readFileSync } from 'node:fs';
import type * as tf from '@tensorflow/tfjs-core';
import { readInto, tensorOf } from '../tfjs-heap.ts';
import { type WasmMemory, wasm } from '../wasm-api.ts';

interface Exports {
  sumSquares(g: number, n: number): number;
  update(p: number, g: number, m: number, v: number, n: number, ...constants: number[]): void;
}

/** A parameter as the optimiser sees it. */
export interface AdamParam {
  readonly name: string;
  readonly variable: tf.Variable;
}

/** The hyperparameters of one step. */
export interface AdamStep {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** Global-norm clip (0: none). */
  readonly gradClip: number;
  readonly lr: number;
  /** 1-based step number, for the bias correction. */
  readonly t: number;
}

const PAGE = 65536;
const f32 = Math.fround;

/** The update over the parameters `params`; moments start at zero. */
export class FusedAdam {
  readonly #params: readonly AdamParam[];
  /** Float offset of each parameter in every region. */
  readonly #offsets: number[] = [];
  /** Floats per region (a multiple of 4). */
  readonly #n: number;
  readonly #memory: WasmMemory;
  readonly #kernels: Exports;

  constructor(params: readonly AdamParam[]) {
    this.#params = params;
    let n = 0;
    for (const p of params) {
      this.#offsets.push(n);
      n += Math.ceil(p.variable.size / 4) * 4;
    }
    this.#n = n;
    // Four regions: parameters, gradients, m, v. A fresh memory is zero, so are the moments and the pads.
    this.#memory = new wasm.Memory({ initial: Math.max(1, Math.ceil((16 * n) / PAGE)) });
    const module = new wasm.Module(readFileSync(new URL('adam.wasm', import.meta.url)));
    this.#kernels = new wasm.Instance(module, { env: { memory: this.#memory } }).exports as Exports;
  }

  /** The region `r` (0 parameters, 1 gradients, 2 m, 3 v) of parameter i, or the whole region. */
  #view(region: number, i?: number): Float32Array {
    const base = region * this.#n * 4;
    if (i === undefined) return new Float32Array(this.#memory.buffer, base, this.#n);
    return new Float32Array(
      this.#memory.buffer,
      base + this.#offsets[i]! * 4,
      this.#params[i]!.variable.size,
    );
  }

  /** One step: `grads` holds a gradient for every parameter, by name. */
  apply(grads: ReadonlyMap<string, tf.Tensor>, step: AdamStep): void {
    const n = this.#n;
    this.#params.forEach((p, i) => {
      const g = grads.get(p.name);
      if (g === undefined) throw new Error(`Adam: no gradient for ${p.name}`);
      readInto(g, this.#view(1, i));
      readInto(p.variable, this.#view(0, i));
    });
    const [pAt, gAt, mAt, vAt] = [0, 1, 2, 3].map((r) => r * n * 4) as [number, number, number, number];
    let scale = 1;
    if (step.gradClip > 0) {
      // The old op chain in f32: norm = √Σ, scale = min(1, clip / (norm + 1e-6)).
      const norm = f32(Math.sqrt(f32(this.#kernels.sumSquares(gAt, n))));
      scale = Math.min(1, f32(f32(step.gradClip) / f32(norm + f32(1e-6))));
    }
    const { beta1: b1, beta2: b2, t } = step;
    this.#kernels.update(
      pAt,
      gAt,
      mAt,
      vAt,
      n,
      scale,
      b1,
      1 - b1,
      b2,
      1 - b2,
      1 - b1 ** t,
      1 - b2 ** t,
      step.eps,
      step.lr,
    );
    this.#params.forEach((p, i) => {
      const updated = tensorOf(this.#view(0, i), p.variable.shape);
      p.variable.assign(updated);
      updated.dispose();
    });
  }

  /** The moments as checkpoint.bin stores them: adam.m.<name>, adam.v.<name> (copies). */
  read(): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const [region, prefix] of [
      [2, 'adam.m.'],
      [3, 'adam.v.'],
    ] as const) {
      this.#params.forEach((p, i) => {
        out.set(prefix + p.name, this.#view(region, i).slice());
      });
    }
    return out;
  }

  /** Restores the moments from a checkpoint's arrays. */
  write(arrays: ReadonlyMap<string, Float32Array>): void {
    // Every array is checked before any is written: a bad checkpoint leaves the moments as they were.
    const writes: [Float32Array, Float32Array][] = [];
    for (const [region, prefix] of [
      [2, 'adam.m.'],
      [3, 'adam.v.'],
    ] as const) {
      this.#params.forEach((p, i) => {
        const a = arrays.get(prefix + p.name);
        if (a === undefined || a.length !== p.variable.size)
          throw new Error(`checkpoint lacks ${prefix}${p.name}`);
        writes.push([this.#view(region, i), a]);
      });
    }
    for (const [to, from] of writes) to.set(from);
  }
}
