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

import * as tf from '@tensorflow/tfjs-core';
import { outputFloats as output, readFloats as read } from '../kernels/tfjs-heap.ts';
import { processGemm as gemm } from './gemm.ts';

/** One convolution of the op's input: weight [k·Cin, Cout] (rows tap-major), optional bias [Cout]. */
export interface ConvBranch {
  readonly kernel: number;
  readonly weight: tf.Tensor;
  readonly bias?: tf.Tensor;
}

export class ConvError extends Error {
  override readonly name = 'ConvError';
}

/** Whether the fused op serves the running backend: cpu and wasm, unless ECG_TMP_CONV=ops asks for tfjs ops. */
export function fusedConvAvailable(): boolean {
  const backend = tf.getBackend();
  return (backend === 'wasm' || backend === 'cpu') && process.env.ECG_TMP_CONV !== 'ops';
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

/** BatchNorm over batch and time after the convolutions, with batch statistics (training). */
export interface FusedBatchNorm {
  /** [ΣCout] */
  readonly gamma: tf.Tensor;
  /** [ΣCout] */
  readonly beta: tf.Tensor;
  readonly eps: number;
  /** Receives the batch mean and the unbiased batch variance (for the running statistics). */
  readonly onStatistics?: (mean: Float32Array, unbiasedVariance: Float32Array) => void;
}

/** What the forward pass of a BatchNorm keeps for the backward one (per channel). */
interface NormTrace {
  readonly gamma: Float32Array;
  /** 1/√(var + eps) */
  readonly invStd: Float32Array;
}

/**
 * The convolutions (+ bias), then BatchNorm if `norm`, then the ReLU if `relu`. `out(name)` allocates an
 * output tensor's storage: 'y' always, 'normalized' (ẑ, for the BatchNorm gradient) with a BatchNorm.
 */
function forward(
  x: Float32Array,
  branches: readonly { kernel: number; weight: Float32Array; bias?: Float32Array }[],
  g: Geometry,
  relu: boolean,
  norm: { gamma: Float32Array; beta: Float32Array; eps: number } | undefined,
  out: (name: 'y' | 'normalized') => Float32Array,
): { trace?: NormTrace; mean?: Float32Array; unbiasedVariance?: Float32Array } {
  const engine = gemm();
  const { batch, steps, cin, pad, rows, couts, offsets, ctot } = g;
  const n = batch * steps;
  const regions = engine.arena([
    rows * cin,
    n * ctot,
    norm === undefined ? 0 : n * ctot,
    norm === undefined ? 0 : 4 * ctot,
    norm === undefined ? 0 : 4 * ctot,
    ...branches.flatMap((br) => [br.weight.length, br.bias?.length ?? 0]),
  ]);
  const [xAt, zAt, yAt, momentsAt, kAt] = regions as [number, number, number, number, number];
  const heap = engine.heap();
  placeInput(heap, xAt, x, g);
  branches.forEach((br, i) => {
    const wAt = regions[5 + 2 * i]!;
    const bAt = regions[6 + 2 * i]!;
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
      c: { at: zAt + offsets[i]! * 4, rowStride: ctot * 4, itemStride: steps * ctot * 4 },
      ...(br.bias === undefined ? {} : { bias: bAt }),
      relu: relu && norm === undefined,
    });
  });
  if (norm === undefined) {
    // After the products: allocating the output may grow the wasm heap and detach earlier views of it.
    out('y').set(engine.heap().subarray(zAt / 4, zAt / 4 + n * ctot));
    return {};
  }
  // Copied before any output is allocated: that may grow the wasm heap and detach a view of it.
  const gamma = norm.gamma.slice();

  // Batch statistics in doubles, then y = ReLU(γ·(z − mean)/σ + β) and ẑ = (z − mean)/σ (in place of z).
  const sums = new Float64Array(heap.buffer, momentsAt, ctot);
  const squares = new Float64Array(heap.buffer, momentsAt + 8 * ctot, ctot);
  sums.fill(0);
  squares.fill(0);
  engine.colMoments({
    src: zAt,
    srcStride: ctot * 4,
    aux: 0,
    rows: n,
    cols: ctot,
    sums: momentsAt,
    prods: momentsAt + 8 * ctot,
  });
  const mean = new Float32Array(ctot);
  const unbiasedVariance = new Float32Array(ctot);
  const invStd = new Float32Array(ctot);
  const k = new Float32Array(heap.buffer, kAt, 4 * ctot);
  for (let j = 0; j < ctot; j++) {
    const m = sums[j]! / n;
    const variance = Math.max(0, squares[j]! / n - m * m);
    mean[j] = m;
    unbiasedVariance[j] = (variance * n) / Math.max(1, n - 1);
    invStd[j] = 1 / Math.sqrt(variance + norm.eps);
    k[j] = norm.gamma[j]! * invStd[j]!;
    k[ctot + j] = norm.beta[j]! - m * k[j]!;
    k[2 * ctot + j] = invStd[j]!;
    k[3 * ctot + j] = -m * invStd[j]!;
  }
  const block = { srcStride: ctot * 4, aux: 0, dstStride: ctot * 4, rows: n, cols: ctot, k2: 0 };
  engine.affineRows({ ...block, src: zAt, dst: yAt, k1: kAt, k3: kAt + 4 * ctot, relu });
  engine.affineRows({ ...block, src: zAt, dst: zAt, k1: kAt + 8 * ctot, k3: kAt + 12 * ctot, relu: false });
  out('y').set(engine.heap().subarray(yAt / 4, yAt / 4 + n * ctot));
  out('normalized').set(engine.heap().subarray(zAt / 4, zAt / 4 + n * ctot));
  return { trace: { gamma, invStd }, mean, unbiasedVariance };
}

interface Gradients {
  readonly dx: (out: Float32Array) => void;
  readonly dWeights: Float32Array[];
  readonly dBiases: Float32Array[];
  readonly dGamma?: Float32Array;
  readonly dBeta?: Float32Array;
}

function backward(
  dy: Float32Array,
  y: Float32Array | undefined,
  x: Float32Array,
  branches: readonly { kernel: number; weight: Float32Array }[],
  g: Geometry,
  norm: { normalized: Float32Array; trace: NormTrace } | undefined,
): Gradients {
  const engine = gemm();
  const { batch, steps, cin, pad, rows, couts, offsets, ctot } = g;
  const span = steps + 2 * pad;
  const n = batch * steps;
  const size = n * ctot;
  const regions = engine.arena([
    rows * cin,
    n * cin,
    size,
    y === undefined ? 0 : size,
    norm === undefined ? 0 : size,
    norm === undefined ? 0 : size,
    8 * ctot,
    3 * ctot,
    ...branches.flatMap((br, i) => [rows * couts[i]!, br.weight.length, br.weight.length]),
  ]);
  const [xAt, dxAt, dyAt, yAt, zAt, gAt, sumsAt, kAt] = regions as number[] as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const at = (i: number, what: 0 | 1 | 2) => regions[8 + 3 * i + what]!;
  const heap = engine.heap();
  placeInput(heap, xAt, x, g);
  heap.set(dy.subarray(0, size), dyAt / 4);
  if (y !== undefined) heap.set(y.subarray(0, size), yAt / 4);
  // f64 column sums: [0, ctot) Σ of what reaches the convolutions (their bias gradient), then the
  // BatchNorm's Σg, Σg·ẑ, and two spare.
  const sums = new Float64Array(heap.buffer, sumsAt, 4 * ctot);
  sums.fill(0);
  const mask = y === undefined ? 0 : yAt;

  let dGamma: Float32Array | undefined;
  let dBeta: Float32Array | undefined;
  // Where each branch's pre-activation gradient comes from: dy through the ReLU, or the BatchNorm's dz.
  let source = dyAt;
  if (norm !== undefined) {
    // g = dy through the ReLU; dβ = Σg, dγ = Σg·ẑ; dz = γ/σ·(g − dβ/N − ẑ·dγ/N), written by affineRows below.
    heap.set(norm.normalized.subarray(0, size), zAt / 4);
    const block = { srcStride: ctot * 4, dstStride: ctot * 4, rows: n, cols: ctot };
    engine.maskRows({ ...block, src: dyAt, mask, dst: gAt, sums: sumsAt + 8 * ctot });
    engine.colMoments({ ...block, src: gAt, aux: zAt, sums: sumsAt + 24 * ctot, prods: sumsAt + 16 * ctot });
    const sg = sums.subarray(ctot, 2 * ctot);
    const sgz = sums.subarray(2 * ctot, 3 * ctot);
    const k = new Float32Array(heap.buffer, kAt, 3 * ctot);
    for (let j = 0; j < ctot; j++) {
      const scale = norm.trace.gamma[j]! * norm.trace.invStd[j]!;
      k[j] = scale;
      k[ctot + j] = (-scale * sgz[j]!) / n;
      k[2 * ctot + j] = (-scale * sg[j]!) / n;
    }
    dBeta = Float32Array.from(sg);
    dGamma = Float32Array.from(sgz);
    source = gAt;
  }

  branches.forEach((_, i) => {
    const c = couts[i]!;
    zeroPadding(heap, at(i, 0), g, c);
    for (let b = 0; b < batch; b++) {
      const from = (b * steps * ctot + offsets[i]!) * 4;
      const common = {
        src: source + from,
        srcStride: ctot * 4,
        dst: at(i, 0) + (b * span + pad) * c * 4,
        dstStride: c * 4,
        rows: steps,
        cols: c,
      };
      if (norm === undefined) {
        // dy through the ReLU (y > 0 ⇔ its input > 0), the bias gradient summed on the way.
        engine.maskRows({ ...common, mask: mask === 0 ? 0 : mask + from, sums: sumsAt + offsets[i]! * 8 });
      } else {
        const k = kAt + offsets[i]! * 4;
        engine.affineRows({
          ...common,
          aux: zAt + from,
          k1: k,
          k2: k + 4 * ctot,
          k3: k + 8 * ctot,
          relu: false,
        });
      }
    }
    if (norm !== undefined) {
      // The bias gradient Σdz over the whole padded buffer (its padding rows are zero).
      engine.colMoments({
        src: at(i, 0),
        srcStride: c * 4,
        aux: 0,
        rows: rows,
        cols: c,
        sums: sumsAt + offsets[i]! * 8,
        prods: sumsAt + (24 * ctot + offsets[i]! * 8),
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
    dx: (out) => out.set(view.subarray(dxAt / 4, dxAt / 4 + n * cin)),
    dWeights: branches.map((br, i) => view.slice(at(i, 2) / 4, at(i, 2) / 4 + br.weight.length)),
    dBiases: couts.map((c, i) => Float32Array.from(sums.subarray(offsets[i]!, offsets[i]! + c))),
    ...(dGamma === undefined ? {} : { dGamma, dBeta }),
  };
}

/**
 * x [B, T, Cin] → [B, T, ΣCout]: each branch's 'same' convolution (+ bias) in its own column slice, then
 * BatchNorm with batch statistics over all ΣCout channels if asked, then an optional ReLU. Differentiable
 * in x, every weight and bias, γ and β. Odd kernels only.
 * @example
 * // a Fire module's expands, concatenated: [B, T, s] → [B, T, 2e]
 * const h = conv1dFused(s, [expand1, expand3], { relu: true });
 */
export function conv1dFused(
  x: tf.Tensor3D,
  branches: readonly ConvBranch[],
  options: { relu?: boolean; batchNorm?: FusedBatchNorm } = {},
): tf.Tensor3D {
  const relu = options.relu ?? false;
  const bn = options.batchNorm;
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
  if (
    bn !== undefined &&
    (bn.gamma.size !== ctot || bn.beta.size !== ctot || bn.gamma.rank !== 1 || bn.beta.rank !== 1)
  ) {
    throw new ConvError(
      `conv1dFused: BatchNorm γ [${bn.gamma.shape}] and β [${bn.beta.shape}] must be [${ctot}]`,
    );
  }
  if (bn !== undefined && batch * steps < 2) {
    throw new ConvError(
      `conv1dFused: BatchNorm needs batch statistics over more than one row (B ${batch}, T ${steps})`,
    );
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
    throw new ConvError(`conv1dFused: nothing to compute for x [${x.shape}] and ${ctot} output channels`);
  }

  const inputs: tf.Tensor[] = [x];
  for (const br of branches) inputs.push(br.weight, ...(br.bias === undefined ? [] : [br.bias]));
  if (bn !== undefined) inputs.push(bn.gamma, bn.beta);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.at(-1) as tf.GradSaveFunc;
    const tensors = args.slice(0, -1) as tf.Tensor[];
    let next = 1;
    const parts = branches.map((br) => {
      const weight = tensors[next++]!;
      const bias = br.bias === undefined ? undefined : tensors[next++]!;
      return { kernel: br.kernel, weight, bias };
    });
    const outputs: Partial<Record<'y' | 'normalized', tf.Tensor>> = {};
    const result = forward(
      read(tensors[0]!),
      parts.map((p) => ({
        kernel: p.kernel,
        weight: read(p.weight),
        ...(p.bias === undefined ? {} : { bias: read(p.bias) }),
      })),
      g,
      relu,
      bn === undefined
        ? undefined
        : { gamma: read(tensors[next]!), beta: read(tensors[next + 1]!), eps: bn.eps },
      (name) => {
        let view: Float32Array | undefined;
        outputs[name] = output(outShape, (o) => {
          view = o;
        });
        return view!;
      },
    );
    if (bn !== undefined) bn.onStatistics?.(result.mean!, result.unbiasedVariance!);
    const y = outputs.y!;
    // The input and the weights for the gradient (tidy may dispose what is not saved), y for the ReLU's
    // mask, ẑ for the BatchNorm's gradient.
    save([
      tensors[0]!,
      ...parts.map((p) => p.weight),
      ...(relu ? [y] : []),
      ...(bn === undefined ? [] : [outputs.normalized!]),
    ]);
    if (outputs.normalized !== undefined) outputs.normalized.dispose();
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const after = 1 + parts.length;
        const grads = backward(
          read(dy as tf.Tensor),
          relu ? read(saved[after]!) : undefined,
          read(saved[0]!),
          parts.map((p, i) => ({ kernel: p.kernel, weight: read(saved[1 + i]!) })),
          g,
          result.trace === undefined
            ? undefined
            : { normalized: read(saved[after + (relu ? 1 : 0)]!), trace: result.trace },
        );
        const out: tf.Tensor[] = [output([batch, steps, cin], grads.dx)];
        parts.forEach((p, i) => {
          out.push(tf.tensor(grads.dWeights[i]!, p.weight.shape, 'float32'));
          if (p.bias !== undefined) out.push(tf.tensor(grads.dBiases[i]!, p.bias.shape, 'float32'));
        });
        if (bn !== undefined) {
          out.push(
            tf.tensor(grads.dGamma!, bn.gamma.shape, 'float32'),
            tf.tensor(grads.dBeta!, bn.beta.shape, 'float32'),
          );
        }
        return out;
      },
    };
  });
  return op(...inputs) as tf.Tensor3D;
}
