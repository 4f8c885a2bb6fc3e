/**
 * @module
 * Puts our GEMM (gemm.ts) under TensorFlow.js: replaces the wasm backend's BatchMatMul and _FusedMatMul
 * kernels, so every tf.matMul — the models' convolutions (im2col along time, layers.ts), linear layers,
 * the LSTM's input projection, attention — and every gradient of one (tfjs-core writes the gradients of
 * a matMul as matMuls with transposes) runs on it without any change to the models.
 *
 * tfjs-backend-wasm's own BatchMatMul ran at ~2 GFLOPS here. The override reads its operands straight
 * from the backend's heap (typedArrayFromHeap), writes the product into an output the backend allocated,
 * and hands what it does not cover (non-float32 dtypes, broadcasts over several batch dimensions,
 * fused activations other than ReLU, bias shapes other than a row vector) to the stock kernel it
 * replaced, so behaviour is unchanged outside the fast path.
 *
 * It also replaces Identity. tfjs-core clones (Identity) every tensor an op saves for its gradient, and
 * tfjs-wasm's Identity copies the data: 1.6 GB of copies per SqueezeNet-1D step at batch 32. tfjs data is
 * immutable (Variable.assign swaps data rather than writing it), so Identity here shares the data and
 * counts a reference, as tfjs-backend-cpu's and tfjs-wasm's own Reshape do.
 *
 * And Slice: tfjs-wasm's reads its whole input back into a new JavaScript array (readSync) to cut out a
 * part — for every shifted view of a convolution and, through SplitV, for every piece of a concat's
 * gradient (512 MB per SqueezeNet-1D step). Ours copies the contiguous rows straight from the heap.
 */

import * as tf from '@tensorflow/tfjs-core';
import { createGemm, type Gemm } from './gemm.ts';

/** The part of tfjs-backend-wasm's BackendWasm the kernels use. */
interface WasmBackendView {
  incRef(dataId: tf.DataId): void;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}

/** Copies the box [begin, begin + size) of x (row-major, shape) into out, one innermost run at a time. */
function copyBox(x: Float32Array, shape: number[], begin: number[], size: number[], out: Float32Array): void {
  const rank = shape.length;
  if (rank === 0) {
    out[0] = x[0]!;
    return;
  }
  const strides = tf.util.computeStrides(shape);
  const run = size[rank - 1]!;
  const outer = tf.util.sizeFromShape(size.slice(0, -1));
  const index = new Array<number>(Math.max(0, rank - 1)).fill(0);
  for (let o = 0; o < outer; o++) {
    let from = begin[rank - 1]!;
    for (let d = 0; d < rank - 1; d++) from += (begin[d]! + index[d]!) * strides[d]!;
    out.set(x.subarray(from, from + run), o * run);
    for (let d = rank - 2; d >= 0; d--) {
      if (++index[d]! < size[d]!) break;
      index[d] = 0;
    }
  }
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

interface Operands {
  readonly a: tf.TensorInfo;
  readonly b: tf.TensorInfo;
  readonly transposeA: boolean;
  readonly transposeB: boolean;
}

/** Shapes of a product our kernel covers, or null when the stock kernel must run it. */
function plan({ a, b, transposeA, transposeB }: Operands) {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return null;
  const ra = a.shape.length;
  const rb = b.shape.length;
  const m = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const k = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const kb = transposeB ? b.shape[rb - 1]! : b.shape[rb - 2]!;
  const n = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  if (k !== kb) {
    throw new Error(
      `matMul: inner sizes ${k} and ${kb} of shapes [${a.shape}] and [${b.shape}] (transposeA=${transposeA}, transposeB=${transposeB}) differ`,
    );
  }
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batch = tf.util.sizeFromShape(outer);
  const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  // One stride per operand covers equal batches and a single broadcast matrix; anything else is stock's.
  if ((batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1)) return null;
  return { m, n, k, batch, outShape: [...outer, m, n] };
}

function run(
  gemm: Gemm,
  backend: WasmBackendView,
  operands: Operands,
  shapes: NonNullable<ReturnType<typeof plan>>,
  epilogue: { bias?: Float32Array; relu?: boolean } = {},
): tf.TensorInfo {
  const out = backend.makeOutput(shapes.outShape, 'float32');
  // Views after makeOutput: allocating may grow the backend's heap and detach earlier ones.
  gemm.matmulInto(
    {
      a: backend.typedArrayFromHeap(operands.a),
      b: backend.typedArrayFromHeap(operands.b),
      m: shapes.m,
      n: shapes.n,
      k: shapes.k,
      batch: shapes.batch,
      transposeA: operands.transposeA,
      transposeB: operands.transposeB,
      ...epilogue,
    },
    backend.typedArrayFromHeap(out),
  );
  return out;
}

/** Handle returned by installGemmKernels. */
export interface InstalledGemm {
  readonly gemm: Gemm;
  /** Puts the stock kernels back and ends the GEMM's threads. */
  uninstall(): Promise<void>;
}

/**
 * Replaces BatchMatMul, _FusedMatMul, Identity and Slice of `backendName` (default 'wasm', which must be initialised:
 * the stock kernels' setup has to have run for them to serve as the fallback).
 * @example
 * await tf.setBackend('wasm');
 * const { gemm } = installGemmKernels({ threads: 2 });
 */
export function installGemmKernels(options: { backendName?: string; threads?: number } = {}): InstalledGemm {
  const backendName = options.backendName ?? 'wasm';
  const stockMatMul = tf.getKernel(tf.BatchMatMul, backendName);
  const stockFused = tf.getKernel(tf._FusedMatMul, backendName);
  if (stockMatMul === undefined || stockFused === undefined) {
    throw new Error(
      `installGemmKernels: backend '${backendName}' has no BatchMatMul/_FusedMatMul to replace`,
    );
  }
  const gemm = createGemm(options.threads === undefined ? {} : { threads: options.threads });

  const batchMatMul: tf.KernelFunc = (args: KernelArgs) => {
    const { a, b } = args.inputs as unknown as { a: tf.TensorInfo; b: tf.TensorInfo };
    const attrs = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const operands = { a, b, transposeA: attrs.transposeA, transposeB: attrs.transposeB };
    const shapes = plan(operands);
    if (shapes === null) return stockMatMul.kernelFunc(args);
    return run(gemm, args.backend as unknown as WasmBackendView, operands, shapes);
  };

  const fusedMatMul: tf.KernelFunc = (args: KernelArgs) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as unknown as Record<
      string,
      tf.TensorInfo | undefined
    >;
    const attrs = args.attrs as unknown as { transposeA: boolean; transposeB: boolean; activation?: string };
    const operands = { a: a!, b: b!, transposeA: attrs.transposeA, transposeB: attrs.transposeB };
    const shapes = plan(operands);
    const activation = attrs.activation ?? 'linear';
    const backend = args.backend as unknown as WasmBackendView;
    const rowBias =
      bias === undefined ||
      (bias.dtype === 'float32' &&
        (tf.util.sizeFromShape(bias.shape) === 1 ||
          (bias.shape.at(-1) === shapes?.n && tf.util.sizeFromShape(bias.shape) === shapes?.n)));
    if (
      shapes === null ||
      preluActivationWeights !== undefined ||
      (activation !== 'linear' && activation !== 'relu') ||
      !rowBias
    ) {
      return stockFused.kernelFunc(args);
    }
    let biasRow: Float32Array | undefined;
    if (bias !== undefined) {
      const values = backend.typedArrayFromHeap(bias);
      biasRow = values.length === 1 ? new Float32Array(shapes.n).fill(values[0]!) : values.slice();
    }
    return run(gemm, backend, operands, shapes, { bias: biasRow, relu: activation === 'relu' });
  };

  const stockIdentity = tf.getKernel(tf.Identity, backendName);
  const identity: tf.KernelFunc = (args: KernelArgs) => {
    const { x } = args.inputs as unknown as { x: tf.TensorInfo };
    if (x.dtype === 'string' || stockIdentity === undefined) return stockIdentity!.kernelFunc(args);
    (args.backend as unknown as WasmBackendView).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };

  const stockSlice = tf.getKernel(tf.Slice, backendName);
  const slice: tf.KernelFunc = (args: KernelArgs) => {
    const { x } = args.inputs as unknown as { x: tf.TensorInfo };
    const { begin, size } = args.attrs as unknown as { begin: number | number[]; size: number | number[] };
    if (x.dtype === 'string' || stockSlice === undefined) return stockSlice!.kernelFunc(args);
    const [from, extent] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size) as [
      number[],
      number[],
    ];
    const backend = args.backend as unknown as WasmBackendView;
    const out = backend.makeOutput(extent, x.dtype);
    if (tf.util.sizeFromShape(extent) > 0) {
      copyBox(backend.typedArrayFromHeap(x), x.shape, from, extent, backend.typedArrayFromHeap(out));
    }
    return out;
  };

  tf.unregisterKernel(tf.BatchMatMul, backendName);
  tf.registerKernel({ kernelName: tf.BatchMatMul, backendName, kernelFunc: batchMatMul });
  if (stockSlice !== undefined) {
    tf.unregisterKernel(tf.Slice, backendName);
    tf.registerKernel({ kernelName: tf.Slice, backendName, kernelFunc: slice });
  }
  if (stockIdentity !== undefined) {
    tf.unregisterKernel(tf.Identity, backendName);
    tf.registerKernel({ kernelName: tf.Identity, backendName, kernelFunc: identity });
  }
  tf.unregisterKernel(tf._FusedMatMul, backendName);
  tf.registerKernel({ kernelName: tf._FusedMatMul, backendName, kernelFunc: fusedMatMul });

  return {
    gemm,
    async uninstall() {
      tf.unregisterKernel(tf.BatchMatMul, backendName);
      tf.registerKernel(stockMatMul);
      tf.unregisterKernel(tf._FusedMatMul, backendName);
      tf.registerKernel(stockFused);
      if (stockIdentity !== undefined) {
        tf.unregisterKernel(tf.Identity, backendName);
        tf.registerKernel(stockIdentity);
      }
      if (stockSlice !== undefined) {
        tf.unregisterKernel(tf.Slice, backendName);
        tf.registerKernel(stockSlice);
      }
      await gemm.close();
    },
  };
}
