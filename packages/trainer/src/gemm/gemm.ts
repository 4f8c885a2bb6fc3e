/**
 * @module
 * Our f32 matrix multiply on WebAssembly SIMD, spread over worker threads that share one
 * WebAssembly.Memory. The kernel is wat.ts's (assembled into the committed gemm*.wasm by build.ts);
 * this module owns the memory, the threads and the split of a (batched) product among them.
 *
 * A call copies its operands into the shared memory, every thread runs the kernel over its own rows of C
 * (or its own batch items when there are enough of them), and the result is read back: the copies cost
 * O(MK + KN + MN) against the product's O(MNK). Threads wait on Atomics over the first page of the
 * memory, so a call costs a wake-up (tens of µs) rather than a postMessage round trip; products under
 * PARALLEL_FLOPS run on the calling thread alone.
 *
 * Where SharedArrayBuffer is missing (a browser page without cross-origin isolation) the plain module
 * runs on the calling thread.
 */

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { type WasmMemory, wasm } from '../kernels/wasm-api.ts';
import { DEFAULT_SHAPE, workBytes } from './wat.ts';

export class GemmError extends Error {
  override readonly name = 'GemmError';
}

/** One (batched) product: C[b] = op(A[b])·op(B[b]) (+ bias, ReLU). */
export interface MatMulJob {
  readonly a: Float32Array;
  readonly b: Float32Array;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  /** A is stored [batchA, K, M] instead of [batchA, M, K]. */
  readonly transposeA?: boolean;
  /** B is stored [batchB, N, K] instead of [batchB, K, N]. */
  readonly transposeB?: boolean;
  /** Output batch size; an operand with one matrix is broadcast to every item. Default 1. */
  readonly batch?: number;
  /** Added to every row of C (length N). */
  readonly bias?: Float32Array;
  readonly relu?: boolean;
}

/** Where an operand of product() lies in the engine's memory: byte address and strides. */
export interface StridedOperand {
  readonly at: number;
  readonly rowStride: number;
  readonly colStride: number;
  /** Bytes from one batch item to the next; 0 (default) broadcasts one matrix to every item. */
  readonly itemStride?: number;
}

/** One (batched) product over operands in the engine's memory; see Gemm.product. */
export interface StridedProduct {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly batch?: number;
  readonly a: StridedOperand;
  readonly b: StridedOperand;
  /** C(i,j) at at + i·rowStride + 4j (+ item·itemStride). */
  readonly c: { readonly at: number; readonly rowStride: number; readonly itemStride?: number };
  /** Byte address of N floats added to every row of C. */
  readonly bias?: number;
  readonly relu?: boolean;
  /** Add the product to C instead of overwriting it (the bias is added again: pass none). */
  readonly accumulate?: boolean;
}

interface GemmExports {
  gemm(...args: number[]): void;
  biasRelu(...args: number[]): void;
  maskRows(...args: number[]): void;
  affineRows(...args: number[]): void;
  colMoments(...args: number[]): void;
  pool3(...args: number[]): void;
  pool3Back(...args: number[]): void;
}

const PAGE = 65536;
/** The control block has ready/done slots for this many threads. */
const MAX_THREADS = 6;
/**
 * The control block (int32): [0] round (generation), [2 + t] thread t started, [8 + t] last round
 * thread t finished, [15] a worker trapped, from [16] one call record per thread, its last int the
 * round it is for.
 */
const CONTROL_BYTES = PAGE;
const RECORD_INTS = 20;
const WORK = workBytes();
/** Below this many multiply-adds a wake-up of the other threads costs more than it saves. */
const PARALLEL_FLOPS = 4_000_000;

/**
 * A call record (int32): a, ars, acs, b, brs, bcs, c, ldc, M, N, K, count, aStride, bStride, cStride,
 * bias, relu, work, accumulate. Items i of [0, count) use a + i·aStride etc. (stride 0: broadcast).
 */
function runRecord(exports: GemmExports, r: Int32Array, o: number): void {
  const [a, ars, acs, b, brs, bcs, c, ldc, m, n, k, count, as, bs, cs, bias, relu, work, accumulate] =
    r.subarray(o, o + 19);
  for (let i = 0; i < count!; i++) {
    if (m! > 0 && n! > 0) {
      const ci = c! + i * cs!;
      exports.gemm(
        a! + i * as!,
        ars!,
        acs!,
        b! + i * bs!,
        brs!,
        bcs!,
        ci,
        ldc!,
        m!,
        n!,
        k!,
        work!,
        accumulate!,
      );
      if (bias !== 0 || relu !== 0) exports.biasRelu(ci, ldc!, m!, n!, bias!, relu!);
    }
  }
}

// The worker side: plain JavaScript evaluated by worker_threads, so it needs no TypeScript loader.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, index, recordInts } = workerData;
const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
const ctrl = new Int32Array(memory.buffer, 0, ${CONTROL_BYTES / 4});
const runRecord = ${runRecord.toString()};
// Ready only now: a thread that is still starting is never waited for (the caller blocks in
// Atomics.wait, and a worker cannot finish starting while its parent is blocked).
let generation = Atomics.load(ctrl, 0);
Atomics.store(ctrl, 2 + index, 1);
for (;;) {
  Atomics.wait(ctrl, 0, generation);
  generation = Atomics.load(ctrl, 0);
  const record = 16 + index * recordInts;
  // A record is meant for this round only if the caller tagged it so (it writes the tag before waking).
  // A trap must not leave the caller waiting: flag it (ctrl[15]) and report the round done.
  if (Atomics.load(ctrl, record + recordInts - 1) === generation) {
    try { runRecord(exports, ctrl, record); } catch { Atomics.store(ctrl, 15, 1); }
  }
  Atomics.store(ctrl, 8 + index, generation);
  Atomics.notify(ctrl, 8 + index);
}
`;

/** What a Gemm instance runs on, for logs and benchmark records. */
export interface GemmInfo {
  readonly threads: number;
  readonly shared: boolean;
  readonly tile: string;
}

/**
 * A GEMM engine: one memory, `threads − 1` workers plus the calling thread.
 * @example
 * const gemm = createGemm({ threads: 2 });
 * const c = gemm.matmul({ a, b, m: 16000, n: 64, k: 192 }); // Float32Array(16000·64)
 */
export class Gemm {
  readonly info: GemmInfo;
  /** Errors of worker threads that died (their share then runs elsewhere). */
  readonly workerErrors: Error[] = [];
  readonly #memory: WasmMemory;
  readonly #exports: GemmExports;
  readonly #workers: Worker[] = [];

  constructor(threads: number) {
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    const shared = threads > 1 && typeof SharedArrayBuffer !== 'undefined';
    const file = shared ? 'gemm-shared.wasm' : 'gemm.wasm';
    const module = new wasm.Module(readFileSync(new URL(file, import.meta.url)));
    const initial = Math.ceil((CONTROL_BYTES + threads * WORK) / PAGE) + 1;
    this.#memory = new wasm.Memory({ initial, maximum: 65536, shared });
    this.#exports = new wasm.Instance(module, { env: { memory: this.#memory } })
      .exports as unknown as GemmExports;
    const count = shared ? threads : 1;
    for (let index = 1; index < count; index++) {
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { module, memory: this.#memory, index, recordInts: RECORD_INTS },
      });
      // Idle workers block in Atomics.wait; they must not keep the process alive.
      worker.unref();
      // A worker that fails to start never marks itself ready, so calls run without it.
      worker.on('error', (err) => {
        this.workerErrors.push(err);
      });
      this.#workers.push(worker);
    }
    const { mr, nr } = DEFAULT_SHAPE;
    this.info = { threads: count, shared, tile: `${mr}×${nr} f32x4` };
  }

  /**
   * Resolves once every worker thread has started (a call made before runs on the threads that have),
   * or after `timeoutMs`; gives how many threads, the caller's included, are running.
   */
  async started(timeoutMs = 10_000): Promise<number> {
    const ctrl = new Int32Array(this.#memory.buffer, 0, 16);
    const count = () => 1 + this.#workers.filter((_, i) => Atomics.load(ctrl, 3 + i) === 1).length;
    const until = Date.now() + timeoutMs;
    while (count() < this.info.threads && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    return count();
  }

  /** Ends the worker threads; the instance runs single-threaded afterwards. */
  async close(): Promise<void> {
    const workers = this.#workers.splice(0);
    await Promise.all(workers.map((w) => w.terminate()));
  }

  /** C = op(A)·op(B) for each batch item, as a new [batch, M, N] array. */
  matmul(job: MatMulJob): Float32Array {
    const out = new Float32Array((job.batch ?? 1) * job.m * job.n);
    this.matmulInto(job, out);
    return out;
  }

  /** As matmul, into `out` (length batch·M·N). */
  matmulInto(job: MatMulJob, out: Float32Array): void {
    const { m, n, k, transposeA = false, transposeB = false, batch = 1, bias, relu = false } = job;
    // An empty operand (a zero dimension) fits any batch.
    const aItems = m * k === 0 ? 1 : job.a.length / (m * k);
    const bItems = k * n === 0 ? 1 : job.b.length / (k * n);
    if (
      (m * k === 0 && job.a.length !== 0) ||
      (k * n === 0 && job.b.length !== 0) ||
      (aItems !== 1 && aItems !== batch) ||
      (bItems !== 1 && bItems !== batch) ||
      out.length !== batch * m * n ||
      (bias !== undefined && bias.length !== n)
    ) {
      throw new GemmError(
        `matmul: A (${job.a.length}), B (${job.b.length}), bias (${bias?.length ?? 'none'}) or out (${out.length}) do not fit batch ${batch}, M ${m}, N ${n}, K ${k}`,
      );
    }
    if (out.length === 0) return;
    if (k === 0) {
      // An empty sum: C is the bias (or zero), through the ReLU.
      for (let i = 0; i < batch * m; i++) {
        for (let j = 0; j < n; j++) out[i * n + j] = relu ? Math.max(0, bias?.[j] ?? 0) : (bias?.[j] ?? 0);
      }
      return;
    }
    const [aAt, bAt, biasAt, cAt] = this.arena([job.a.length, job.b.length, n, out.length]) as [
      number,
      number,
      number,
      number,
    ];
    const heap = this.heap();
    heap.set(job.a, aAt / 4);
    heap.set(job.b, bAt / 4);
    if (bias !== undefined) heap.set(bias, biasAt / 4);
    this.product({
      m,
      n,
      k,
      batch,
      a: {
        at: aAt,
        rowStride: transposeA ? 4 : 4 * k,
        colStride: transposeA ? 4 * m : 4,
        itemStride: aItems === 1 ? 0 : m * k * 4,
      },
      b: {
        at: bAt,
        rowStride: transposeB ? 4 : 4 * n,
        colStride: transposeB ? 4 * k : 4,
        itemStride: bItems === 1 ? 0 : k * n * 4,
      },
      c: { at: cAt, rowStride: 4 * n, itemStride: m * n * 4 },
      ...(bias === undefined ? {} : { bias: biasAt }),
      relu,
    });
    out.set(new Float32Array(this.#memory.buffer, cAt, out.length));
  }

  /**
   * Reserves regions of `floats[i]` floats in the engine's memory, after its control block and work
   * areas, and gives their byte addresses (16-byte aligned, 64 bytes of slack after each because an edge
   * tile of a column-major A reads up to MR−1 floats past its last column). The regions are the
   * caller's until its next arena, matmul or matmulInto call. Views from heap() taken before are stale.
   */
  arena(floats: readonly number[]): number[] {
    const threads = this.#workers.length + 1;
    let at = CONTROL_BYTES + threads * WORK;
    const addresses = floats.map((count) => {
      const here = at;
      at += Math.ceil((count * 4 + 64) / 16) * 16;
      return here;
    });
    this.#reserve(at);
    return addresses;
  }

  /**
   * Copies a rows×cols block of floats within the engine's memory (byte addresses and row strides),
   * zeroing the values whose `mask` entry (same layout as src; 0: no mask) is not > 0, and adds each
   * column's copied values to the doubles at `sums` — a ReLU's and a bias's gradient on the way.
   */
  maskRows(p: {
    src: number;
    srcStride: number;
    mask: number;
    dst: number;
    dstStride: number;
    rows: number;
    cols: number;
    sums: number;
  }): void {
    this.#exports.maskRows(p.src, p.srcStride, p.mask, p.dst, p.dstStride, p.rows, p.cols, p.sums);
  }

  /**
   * dst(r,j) = k1[j]·src(r,j) + k2[j]·aux(r,j) + k3[j] (then the ReLU) over a rows×cols block; aux is laid
   * out as src (0: none); k1, k2, k3 are addresses of cols floats each.
   */
  affineRows(p: {
    src: number;
    srcStride: number;
    aux: number;
    dst: number;
    dstStride: number;
    rows: number;
    cols: number;
    k1: number;
    k2: number;
    k3: number;
    relu: boolean;
  }): void {
    this.#exports.affineRows(
      p.src,
      p.srcStride,
      p.aux,
      p.dst,
      p.dstStride,
      p.rows,
      p.cols,
      p.k1,
      p.k2,
      p.k3,
      p.relu ? 1 : 0,
    );
  }

  /** Adds each column's Σ src to the doubles at `sums` and Σ src·aux (aux 0: src) to those at `prods`. */
  colMoments(p: {
    src: number;
    srcStride: number;
    aux: number;
    rows: number;
    cols: number;
    sums: number;
    prods: number;
  }): void {
    this.#exports.colMoments(p.src, p.srcStride, p.aux, p.rows, p.cols, p.sums, p.prods);
  }

  /** Max-pooling (k3, s1, p1) over items of steps×c floats (c a multiple of 4), forward: x → y. */
  pool3(p: { x: number; y: number; items: number; steps: number; c: number }): void {
    this.#exports.pool3(p.x, p.y, p.items, p.steps, p.c);
  }

  /** Its gradient: dy routed to where each maximum came from (tfjs's tie order), into dx. */
  pool3Back(p: { x: number; dy: number; dx: number; items: number; steps: number; c: number }): void {
    this.#exports.pool3Back(p.x, p.dy, p.dx, p.items, p.steps, p.c);
  }

  /** The whole memory as floats (index = byte address / 4); take it after arena(), which may grow it. */
  heap(): Float32Array {
    return new Float32Array(this.#memory.buffer);
  }

  /**
   * C[item] (+)= A[item]·B[item] (+ bias, ReLU) over operands already in the engine's memory (arena()),
   * every address and stride in bytes. One of A's strides must be 4; its rows may overlap. The items (or,
   * with fewer items than threads, bands of C's rows) are split among the threads.
   * @example
   * // a 'same' kernel-3 convolution of one sample: row t of A is the window xpad[t·Cin, t·Cin + 3·Cin)
   * gemm.product({ m: T, n: Cout, k: 3 * Cin, a: { at: xpad, rowStride: 4 * Cin, colStride: 4 },
   *   b: { at: w, rowStride: 4 * Cout, colStride: 4 }, c: { at: y, rowStride: 4 * Cout } });
   */
  product(p: StridedProduct): void {
    const { m, n, k, batch = 1, a, b, c, bias, relu = false, accumulate = false } = p;
    if (a.rowStride !== 4 && a.colStride !== 4) {
      throw new GemmError(`product: A needs a unit stride (row ${a.rowStride}, column ${a.colStride} bytes)`);
    }
    const aStride = a.itemStride ?? 0;
    const bStride = b.itemStride ?? 0;
    const cStride = c.itemStride ?? 0;
    const last = (at: number, item: number, rows: number, rs: number, cols: number, cs: number) =>
      at + (batch - 1) * item + (rows - 1) * rs + (cols - 1) * cs + 4;
    const size = this.#memory.buffer.byteLength;
    if (
      m <= 0 ||
      n <= 0 ||
      k <= 0 ||
      Math.min(a.at, b.at, c.at) < CONTROL_BYTES ||
      last(a.at, aStride, m, a.rowStride, k, a.colStride) > size ||
      last(b.at, bStride, k, b.rowStride, n, b.colStride) > size ||
      last(c.at, cStride, m, c.rowStride, n, 4) > size
    ) {
      throw new GemmError(`product: batch ${batch}, M ${m}, N ${n}, K ${k} reaches outside the arena`);
    }
    const ctrl = new Int32Array(this.#memory.buffer, 0, CONTROL_BYTES / 4);
    const round = Atomics.load(ctrl, 0) + 1;
    const record = (t: number, item0: number, items: number, row0: number, rows: number) => {
      const o = 16 + t * RECORD_INTS;
      ctrl.set(
        [
          a.at + item0 * aStride + row0 * a.rowStride,
          a.rowStride,
          a.colStride,
          b.at + item0 * bStride,
          b.rowStride,
          b.colStride,
          c.at + item0 * cStride + row0 * c.rowStride,
          c.rowStride,
          rows,
          n,
          k,
          items,
          aStride,
          bStride,
          cStride,
          bias ?? 0,
          relu ? 1 : 0,
          CONTROL_BYTES + t * WORK,
          accumulate ? 1 : 0,
        ],
        o,
      );
      Atomics.store(ctrl, o + RECORD_INTS - 1, round);
    };
    // The calling thread (0) and the workers that have started.
    const threads = this.#workers.length + 1;
    const slots = [0];
    if (batch * m * n * k >= PARALLEL_FLOPS) {
      for (let t = 1; t < threads; t++) if (Atomics.load(ctrl, 2 + t) === 1) slots.push(t);
    }
    const used = slots.length;
    if (batch >= used) {
      // Whole items per thread.
      slots.forEach((t, q) => {
        const from = Math.floor((batch * q) / used);
        record(t, from, Math.floor((batch * (q + 1)) / used) - from, 0, m);
      });
    } else {
      // Fewer items than threads: rows of C per thread, in whole register tiles.
      const tiles = Math.ceil(m / DEFAULT_SHAPE.mr);
      slots.forEach((t, q) => {
        const from = Math.min(m, Math.floor((tiles * q) / used) * DEFAULT_SHAPE.mr);
        const to = Math.min(m, Math.floor((tiles * (q + 1)) / used) * DEFAULT_SHAPE.mr);
        record(t, 0, batch, from, to - from);
      });
    }
    if (used > 1) {
      Atomics.store(ctrl, 0, round);
      Atomics.notify(ctrl, 0);
    }
    runRecord(this.#exports, ctrl, 16);
    for (const t of slots.slice(1)) {
      for (let done = Atomics.load(ctrl, 8 + t); done !== round; done = Atomics.load(ctrl, 8 + t)) {
        Atomics.wait(ctrl, 8 + t, done);
      }
    }
    if (Atomics.exchange(ctrl, 15, 0) !== 0) {
      throw new GemmError(`product: a worker thread trapped on M ${m}, N ${n}, K ${k}, batch ${batch}`);
    }
  }

  #reserve(bytes: number): void {
    const have = this.#memory.buffer.byteLength;
    if (bytes <= have) return;
    const pages = Math.ceil((bytes - have) / PAGE);
    try {
      this.#memory.grow(pages);
    } catch (err) {
      throw new GemmError(`matmul: operands need ${bytes} bytes, more than WebAssembly memory can hold`, {
        cause: err,
      });
    }
  }
}

/** A GEMM on `threads` threads (default: every core), single-threaded where memory cannot be shared. */
export function createGemm(options: { threads?: number } = {}): Gemm {
  return new Gemm(Math.max(1, Math.floor(options.threads ?? availableParallelism())));
}

let processEngine: Gemm | undefined;

/**
 * The engine of the ops that call it directly (conv1d.ts, maxpool.ts): one per process, created on first
 * use with ECG_TMP_GEMM_THREADS threads or every core.
 */
export function processGemm(): Gemm {
  if (processEngine === undefined) {
    const threads = Number(process.env.ECG_TMP_GEMM_THREADS ?? availableParallelism());
    processEngine = createGemm({ threads });
  }
  return processEngine;
}
