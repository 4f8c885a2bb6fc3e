/**
 * @module
 * Named parameters for the hand-written models: every weight is a tf.Variable with a stable dotted name
 * (`encoder.0.selfAttn.inProj.weight`), created from values drawn by our own seeded generator so the
 * initial weights are identical on every backend and in every process. Non-trainable state (BatchNorm
 * running statistics) lives in the same set, flagged, so checkpoints and exports see one list.
 *
 * Weight layouts are the ones the matMul-based layers want (inputs × outputs), not PyTorch's; the ONNX
 * exporter transposes where ONNX expects otherwise.
 */

import { type Prng, samplePrng } from '@ecg-tmp/simulator';
import * as tf from '@tensorflow/tfjs-core';

export interface NamedParam {
  readonly name: string;
  readonly shape: readonly number[];
  readonly variable: tf.Variable;
  readonly trainable: boolean;
}

/** How a parameter's first values are drawn. */
export type Init =
  | { readonly kind: 'uniform'; readonly bound: number }
  | { readonly kind: 'constant'; readonly value: number }
  /** A square matrix's identity (a layer that starts as a pass-through). */
  | { readonly kind: 'identity' };

export const uniform = (bound: number): Init => ({ kind: 'uniform', bound });
export const constant = (value: number): Init => ({ kind: 'constant', value });
export const identity: Init = { kind: 'identity' };

/** PyTorch's default Linear/Conv init (kaiming_uniform with a=√5) is U(±1/√fan_in). */
export const torchDefault = (fanIn: number): Init => uniform(1 / Math.sqrt(fanIn));
/** Kaiming-uniform for ReLU (gain √2): U(±√(6/fan_in)). */
export const kaimingUniform = (fanIn: number): Init => uniform(Math.sqrt(6 / fanIn));
/** Xavier/Glorot uniform: U(±√(6/(fan_in+fan_out))). */
export const xavierUniform = (fanIn: number, fanOut: number): Init =>
  uniform(Math.sqrt(6 / (fanIn + fanOut)));

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export class ParamSet {
  readonly #params: NamedParam[] = [];
  readonly #byName = new Map<string, NamedParam>();
  readonly #rng: Prng;

  constructor(seed: number) {
    // Stream 7 keeps init draws apart from the data-order and dropout streams of the same seed.
    this.#rng = samplePrng(seed, 0, 7);
  }

  /** Creates a parameter; the draw order is the creation order, so it is part of the model's definition. */
  add(name: string, shape: readonly number[], init: Init, trainable = true): tf.Variable {
    if (this.#byName.has(name)) throw new Error(`parameter '${name}' defined twice`);
    const values = new Float32Array(size(shape));
    if (init.kind === 'constant') values.fill(init.value);
    else if (init.kind === 'identity') {
      const n = shape[0]!;
      if (shape.length !== 2 || shape[1] !== n)
        throw new Error(`identity init needs a square matrix, got [${shape}]`);
      for (let i = 0; i < n; i++) values[i * n + i] = 1;
    } else for (let i = 0; i < values.length; i++) values[i] = this.#rng.uniform(-init.bound, init.bound);
    const variable = tf.variable(tf.tensor(values, [...shape]), trainable);
    const param = { name, shape, variable, trainable };
    this.#params.push(param);
    this.#byName.set(name, param);
    return variable;
  }

  get all(): readonly NamedParam[] {
    return this.#params;
  }

  get trainable(): readonly NamedParam[] {
    return this.#params.filter((p) => p.trainable);
  }

  get(name: string): NamedParam {
    const p = this.#byName.get(name);
    if (p === undefined) throw new Error(`no parameter named '${name}'`);
    return p;
  }

  /** Trainable scalar count — the number the paper reports. */
  countTrainable(): number {
    return this.trainable.reduce((n, p) => n + size(p.shape), 0);
  }

  /** Every parameter's values, in definition order. */
  async read(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const p of this.#params) out.set(p.name, (await p.variable.data()) as Float32Array);
    return out;
  }

  /** Replaces every parameter's values; names and sizes must match exactly. */
  write(values: ReadonlyMap<string, Float32Array>): void {
    for (const p of this.#params) {
      const v = values.get(p.name);
      if (v === undefined) throw new Error(`weights lack parameter '${p.name}'`);
      if (v.length !== size(p.shape)) {
        throw new Error(`parameter '${p.name}' has ${v.length} values, expected ${size(p.shape)}`);
      }
    }
    const extra = [...values.keys()].filter((k) => !this.#byName.has(k));
    if (extra.length > 0) throw new Error(`weights hold unknown parameters: ${extra.slice(0, 5).join(', ')}`);
    for (const p of this.#params) {
      tf.tidy(() => p.variable.assign(tf.tensor(values.get(p.name)!, [...p.shape])));
    }
  }

  dispose(): void {
    for (const p of this.#params) p.variable.dispose();
  }
}
