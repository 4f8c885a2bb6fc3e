/**
 * @module
 * A 'same'-padded, stride-1 1-D convolution (channels-last [B, T, C]) as one tfjs op with a hand-written
 * gradient, computed as implicit GEMMs on our WebAssembly SIMD engine (gemm.ts) — for the cpu and wasm
 * backends. Written with tfjs ops (layers.ts's fallback) a convolution is pad + k slices + concat + one
 * matMul, and its gradient a matMul, a split and more slices: each copies the whole activation at least
 * once more, and each matMul copied its operands into the engine's memory and the product out again.
 *
 * Here the input is copied once into the engine's memory with P zero rows around every sample, and:
 *   - forward: row t of a kernel-k convolution's im2col matrix is the contiguous window
 *     xpad[t·Cin, (t + k)·Cin) — so the product reads A in place with row stride Cin (rows overlap) and
 *     weight [k·Cin, Cout] as B, bias and ReLU in the GEMM's epilogue;
 *   - input gradient: the same on dy laid out padded the same way, with the taps reversed and each
 *     tap's block transposed (B = [k·Cout, Cin]), so dx[t] = Σ_j dypad[t + j]·W_{k−1−j}ᵀ;
 *   - weight gradient: one product windowsᵀ·dy over all B·(T + 2P) padded rows — dy's padding rows are
 *     zero, so the windows that straddle two samples add nothing.
 * Several convolutions of one input (a Fire module's two expands) form one op: the input is copied
 * once, each writes its own column slice of the output (row stride ΣCout, no concat), their input
 * gradients accumulate into one dx.
 *
 * Layout of one padded buffer (input or a branch's dy), rows of C floats: sample b's rows t ∈ [0, T) at
 * b·(T + 2P) + P + t, zeros at every other row, 2P zero rows after the last sample (the weight
 * gradient's last windows reach that far).
 */

import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { createGemm, type Gemm } from './gemm.ts';

/** One convolution of the op's input: weight [k·Cin, Cout] (rows tap-major), optional bias [Cout]. */
export interface ConvBranch {
  readonly kernel: number;
  readonly weight: tf.Tensor;
  readonly bias?: tf.Tensor;
}

export class ConvError extends Error {
  override readonly name = 'ConvError';
}

/** The part of tfjs-backend-wasm's BackendWasm used here (as in tfjs-kernels.ts). */
interface WasmBackendView {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}

let engine: Gemm | undefined;

/** The engine the fused convolutions run on: one per process, ECG_TMP_GEMM_THREADS threads or every core. */
function gemm(): Gemm {
  if (engine === undefined) {
    const threads = Number(process.env.ECG_TMP_GEMM_THREADS ?? availableParallelism());
    engine = createGemm({ threads });
  }
  return engine;
}

/** Whether the fused op serves the running backend: cpu and wasm, unless ECG_TMP_CONV=ops asks for tfjs ops. */
export function fusedConvAvailable(): boolean {
  const backend = tf.getBackend();
  return (backend === 'wasm' || backend === 'cpu') && process.env.ECG_TMP_CONV !== 'ops';
}

/** A float32 tensor's values without a copy where the backend allows (wasm heap, cpu's own array). */
function read(t: tf.Tensor): Float32Array {
  if (t.dtype !== 'float32') throw new ConvError(`conv1dFused: expected float32, got ${t.dtype}`);
  if (tf.getBackend() === 'wasm') return (tf.backend() as unknown as WasmBackendView).typedArrayFromHeap(t);
  return t.dataSync() as Float32Array;
}

/** A new float32 tensor whose values `fill` writes (into the wasm heap directly on wasm). */
function output(shape: number[], fill: (out: Float32Array) => void): tf.Tensor {
  if (tf.getBackend() === 'wasm') {
    const backend = tf.backend() as unknown as WasmBackendView;
    const info = backend.makeOutput(shape, 'float32');
    fill(backend.typedArrayFromHeap(info));
    return tf.engine().makeTensorFromTensorInfo(info);
  }
  const values = new Float32Array(tf.util.sizeFromShape(shape));
  fill(values);
  return tf.tensor(values, shape, 'float32');
}

interface Geometry {
  readonly batch: number;
  readonly steps: number;
  readonly cin: number;
  /** The largest half-width (k − 1)/2 among the branches. */
  readonly pad: number;
  /** Rows of a padded buffer: B·(T + 2P) + 2P. */
  readonly rows: number;
  readonly couts: readonly number[];
  /** Column of each branch in the output. */
  readonly offsets: readonly number[];
  readonly ctot: number;
}

/** Zeroes a padded buffer's padding rows (C floats a row) at byte address `at`. */
function zeroPadding(heap: Float32Array, at: number, g: Geometry, c: number): void {
  const base = at / 4;
  const span = g.steps + 2 * g.pad;
  if (g.pad === 0) return;
  for (let b = 0; b < g.batch; b++) {
    const row = b * span;
    heap.fill(0, base + row * c, base + (row + g.pad) * c);
    heap.fill(0, base + (row + g.pad + g.steps) * c, base + (row + span) * c);
  }
  heap.fill(0, base + g.batch * span * c, base + g.rows * c);
}

/** Copies x [B, T, Cin] into the padded layout at byte address `at`. */
function placeInput(heap: Float32Array, at: number, x: Float32Array, g: Geometry): void {
  zeroPadding(heap, at, g, g.cin);
  const span = g.steps + 2 * g.pad;
  const item = g.steps * g.cin;
  if (g.pad === 0) {
    heap.set(x.subarray(0, g.batch * item), at / 4);
    heap.fill(0, at / 4 + g.batch * item, at / 4 + g.rows * g.cin);
    return;
  }
  for (let b = 0; b < g.batch; b++) {
    heap.set(x.subarray(b * item, (b + 1) * item), at / 4 + (b * span + g.pad) * g.cin);
  }
}

function forward(
  x: Float32Array,
  branches: readonly { kernel: number; weight: Float32Array; bias?: Float32Array }[],
  g: Geometry,
  relu: boolean,
  out: () => Float32Array,
): void {
  const engine = gemm();
  const { batch, steps, cin, pad, rows, couts, offsets, ctot } = g;
  const regions = engine.arena([
    rows * cin,
    batch * steps * ctot,
    ...branches.flatMap((br) => [br.weight.length, br.bias?.length ?? 0]),
  ]);
  const [xAt, yAt] = regions as [number, number];
  const heap = engine.heap();
  placeInput(heap, xAt, x, g);
  branches.forEach((br, i) => {
    const wAt = regions[2 + 2 * i]!;
    const bAt = regions[3 + 2 * i]!;
    heap.set(br.weight, wAt / 4);
    if (br.bias !== undefined) heap.set(br.bias, bAt / 4);
    const p = (br.kernel - 1) / 2;
    engine.product({
      m: steps,
      n: couts[i]!,
      k: br.kernel * cin,
      batch,
      a: {
        at: xAt + (pad - p) * cin * 4,
        rowStride: cin * 4,
        colStride: 4,
        itemStride: (steps + 2 * pad) * cin * 4,
      },
      b: { at: wAt, rowStride: couts[i]! * 4, colStride: 4 },
      c: { at: yAt + offsets[i]! * 4, rowStride: ctot * 4, itemStride: steps * ctot * 4 },
      ...(br.bias === undefined ? {} : { bias: bAt }),
      relu,
    });
  });
  // After the products: allocating the output may grow the wasm heap and detach earlier views of it.
  out().set(engine.heap().subarray(yAt / 4, yAt / 4 + batch * steps * ctot));
}

interface Gradients {
  readonly dx: (out: Float32Array) => void;
  readonly dWeights: Float32Array[];
  readonly dBiases: Float32Array[];
}

function backward(
  dy: Float32Array,
  y: Float32Array | undefined,
  x: Float32Array,
  branches: readonly { kernel: number; weight: Float32Array }[],
  g: Geometry,
): Gradients {
  const engine = gemm();
  const { batch, steps, cin, pad, rows, couts, offsets, ctot } = g;
  const span = steps + 2 * pad;
  const size = batch * steps * ctot;
  const regions = engine.arena([
    rows * cin,
    batch * steps * cin,
    size,
    y === undefined ? 0 : size,
    2 * ctot,
    ...branches.flatMap((br, i) => [rows * couts[i]!, br.weight.length, br.weight.length]),
  ]);
  const [xAt, dxAt, dyAt, yAt, sumsAt] = regions as [number, number, number, number, number];
  const at = (i: number, what: 0 | 1 | 2) => regions[5 + 3 * i + what]!;
  const heap = engine.heap();
  placeInput(heap, xAt, x, g);
  heap.set(dy.subarray(0, size), dyAt / 4);
  if (y !== undefined) heap.set(y.subarray(0, size), yAt / 4);
  const sums = new Float64Array(heap.buffer, sumsAt, ctot);
  sums.fill(0);

  branches.forEach((_, i) => {
    const c = couts[i]!;
    zeroPadding(heap, at(i, 0), g, c);
    // dy through the ReLU (y > 0 ⇔ its input > 0) into the branch's padded buffer, bias gradient on the way.
    for (let b = 0; b < batch; b++) {
      const src = (b * steps * ctot + offsets[i]!) * 4;
      engine.maskRows({
        src: dyAt + src,
        srcStride: ctot * 4,
        mask: y === undefined ? 0 : yAt + src,
        dst: at(i, 0) + (b * span + pad) * c * 4,
        dstStride: c * 4,
        rows: steps,
        cols: c,
        sums: sumsAt + offsets[i]! * 8,
      });
    }
    // B of the input gradient: WT[j'·Cout + co, ci] = W[(k − 1 − j')·Cin + ci, co].
    const { kernel, weight } = branches[i]!;
    const wt = at(i, 1) / 4;
    for (let jr = 0; jr < kernel; jr++) {
      const tap = (kernel - 1 - jr) * cin * c;
      for (let co = 0; co < c; co++) {
        const dst = wt + (jr * c + co) * cin;
        for (let ci = 0; ci < cin; ci++) heap[dst + ci] = weight[tap + ci * c + co]!;
      }
    }
  });

  branches.forEach(({ kernel }, i) => {
    const c = couts[i]!;
    const p = (kernel - 1) / 2;
    engine.product({
      m: steps,
      n: cin,
      k: kernel * c,
      batch,
      a: { at: at(i, 0) + (pad - p) * c * 4, rowStride: c * 4, colStride: 4, itemStride: span * c * 4 },
      b: { at: at(i, 1), rowStride: cin * 4, colStride: 4 },
      c: { at: dxAt, rowStride: cin * 4, itemStride: steps * cin * 4 },
      accumulate: i > 0,
    });
    engine.product({
      m: kernel * cin,
      n: c,
      k: batch * span,
      a: { at: xAt + (pad - p) * cin * 4, rowStride: 4, colStride: cin * 4 },
      b: { at: at(i, 0) + pad * c * 4, rowStride: c * 4, colStride: 4 },
      c: { at: at(i, 2), rowStride: c * 4 },
    });
  });
  const view = engine.heap();
  return {
    dx: (out) => out.set(view.subarray(dxAt / 4, dxAt / 4 + batch * steps * cin)),
    dWeights: branches.map((br, i) => view.slice(at(i, 2) / 4, at(i, 2) / 4 + br.weight.length)),
    dBiases: couts.map((c, i) => Float32Array.from(sums.subarray(offsets[i]!, offsets[i]! + c))),
  };
}

/**
 * x [B, T, Cin] → [B, T, ΣCout]: each branch's 'same' convolution (+ bias) in its own column slice, then
 * an optional ReLU over all. Differentiable in x, every weight and every bias. Odd kernels only.
 * @example
 * // a Fire module's expands, concatenated: [B, T, s] → [B, T, 2e]
 * const h = conv1dFused(s, [expand1, expand3], { relu: true });
 */
export function conv1dFused(
  x: tf.Tensor3D,
  branches: readonly ConvBranch[],
  options: { relu?: boolean } = {},
): tf.Tensor3D {
  const relu = options.relu ?? false;
  const [batch, steps, cin] = x.shape;
  if (branches.length === 0) throw new ConvError('conv1dFused: no convolution given');
  const couts: number[] = [];
  const offsets: number[] = [];
  let ctot = 0;
  for (const br of branches) {
    const [rows, cout] = br.weight.shape as [number, number];
    if (
      br.weight.rank !== 2 ||
      br.kernel < 1 ||
      br.kernel % 2 !== 1 ||
      rows !== br.kernel * cin ||
      (br.bias !== undefined && (br.bias.rank !== 1 || br.bias.shape[0] !== cout))
    ) {
      throw new ConvError(
        `conv1dFused: weight [${br.weight.shape}] and bias [${br.bias?.shape ?? 'none'}] do not fit an odd kernel ${br.kernel} over ${cin} input channels ([k·Cin, Cout] and [Cout])`,
      );
    }
    couts.push(cout);
    offsets.push(ctot);
    ctot += cout;
  }
  const pad = Math.max(...branches.map((br) => (br.kernel - 1) / 2));
  const g: Geometry = {
    batch,
    steps,
    cin,
    pad,
    rows: batch * (steps + 2 * pad) + 2 * pad,
    couts,
    offsets,
    ctot,
  };
  const outShape = [batch, steps, ctot];
  if (batch * steps * ctot === 0 || cin === 0) {
    // Nothing to multiply: leave the degenerate shapes to tfjs ops.
    const ys = branches.map((br) => {
      const y = tf.add(tf.zeros([batch, steps, br.weight.shape[1]!]), br.bias ?? 0);
      return relu ? tf.relu(y) : y;
    });
    return tf.concat(ys, 2) as tf.Tensor3D;
  }

  const inputs: tf.Tensor[] = [x];
  for (const br of branches) inputs.push(br.weight, ...(br.bias === undefined ? [] : [br.bias]));
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.at(-1) as tf.GradSaveFunc;
    const tensors = args.slice(0, -1) as tf.Tensor[];
    let next = 1;
    const parts = branches.map((br) => {
      const weight = tensors[next++]!;
      const bias = br.bias === undefined ? undefined : tensors[next++]!;
      return { kernel: br.kernel, weight, bias };
    });
    let y: tf.Tensor | undefined;
    forward(
      read(tensors[0]!),
      parts.map((p) => ({
        kernel: p.kernel,
        weight: read(p.weight),
        ...(p.bias === undefined ? {} : { bias: read(p.bias) }),
      })),
      g,
      relu,
      () => {
        let view: Float32Array | undefined;
        y = output(outShape, (o) => {
          view = o;
        });
        return view!;
      },
    );
    // The input and the weights for the gradient (tidy may dispose what is not saved), y for the ReLU's mask.
    save([tensors[0]!, ...parts.map((p) => p.weight), ...(relu ? [y!] : [])]);
    return {
      value: y!,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const grads = backward(
          read(dy as tf.Tensor),
          relu ? read(saved[1 + parts.length]!) : undefined,
          read(saved[0]!),
          parts.map((p, i) => ({ kernel: p.kernel, weight: read(saved[1 + i]!) })),
          g,
        );
        const result: tf.Tensor[] = [output([batch, steps, cin], grads.dx)];
        parts.forEach((p, i) => {
          result.push(tf.tensor(grads.dWeights[i]!, p.weight.shape, 'float32'));
          if (p.bias !== undefined) result.push(tf.tensor(grads.dBiases[i]!, p.bias.shape, 'float32'));
        });
        return result;
      },
    };
  });
  return op(...inputs) as tf.Tensor3D;
}
