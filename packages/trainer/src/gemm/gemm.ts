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

/** The WebAssembly JS API as used here (the project's TypeScript lib settings carry no DOM types). */
interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface GemmExports {
  gemm(...args: number[]): void;
  biasRelu(...args: number[]): void;
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
 * bias, relu, work. Items i of [0, count) use a + i·aStride etc. (stride 0: broadcast).
 */
function runRecord(exports: GemmExports, r: Int32Array, o: number): void {
  const [a, ars, acs, b, brs, bcs, c, ldc, m, n, k, count, as, bs, cs, bias, relu, work] = r.subarray(
    o,
    o + 18,
  );
  for (let i = 0; i < count!; i++) {
    if (m! > 0 && n! > 0) {
      exports.gemm(a! + i * as!, ars!, acs!, b! + i * bs!, brs!, bcs!, c! + i * cs!, ldc!, m!, n!, k!, work!);
      if (bias !== 0 || relu !== 0) exports.biasRelu(c! + i * cs!, ldc!, m!, n!, bias!, relu!);
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
    const threads = this.#workers.length + 1;
    // Layout after the control block and the per-thread work areas; 64 bytes of slack after each operand
    // because an edge tile of a column-major A reads up to MR−1 floats past its last column.
    const base = CONTROL_BYTES + threads * WORK;
    const aAt = base;
    const bAt = aAt + job.a.length * 4 + 64;
    const biasAt = bAt + job.b.length * 4 + 64;
    const cAt = biasAt + n * 4 + 64;
    this.#reserve(cAt + out.length * 4 + 64);
    const heap = new Float32Array(this.#memory.buffer);
    heap.set(job.a, aAt / 4);
    heap.set(job.b, bAt / 4);
    if (bias !== undefined) heap.set(bias, biasAt / 4);
    const ctrl = new Int32Array(this.#memory.buffer, 0, CONTROL_BYTES / 4);

    const ars = transposeA ? 4 : 4 * k;
    const acs = transposeA ? 4 * m : 4;
    const brs = transposeB ? 4 : 4 * n;
    const bcs = transposeB ? 4 * k : 4;
    const aStride = aItems === 1 ? 0 : m * k * 4;
    const bStride = bItems === 1 ? 0 : k * n * 4;
    const cStride = m * n * 4;
    const round = Atomics.load(ctrl, 0) + 1;
    const record = (t: number, item0: number, items: number, row0: number, rows: number) => {
      const o = 16 + t * RECORD_INTS;
      ctrl.set(
        [
          aAt + item0 * aStride + row0 * ars,
          ars,
          acs,
          bAt + item0 * bStride,
          brs,
          bcs,
          cAt + item0 * cStride + row0 * 4 * n,
          4 * n,
          rows,
          n,
          k,
          items,
          aStride,
          bStride,
          cStride,
          bias === undefined ? 0 : biasAt,
          relu ? 1 : 0,
          CONTROL_BYTES + t * WORK,
        ],
        o,
      );
      Atomics.store(ctrl, o + RECORD_INTS - 1, round);
    };
    // The calling thread (0) and the workers that have started.
    const slots = [0];
    if (batch * m * n * k >= PARALLEL_FLOPS) {
      for (let t = 1; t < threads; t++) if (Atomics.load(ctrl, 2 + t) === 1) slots.push(t);
    }
    const used = slots.length;
    if (batch >= used) {
      // Whole items per thread.
      slots.forEach((t, p) => {
        const from = Math.floor((batch * p) / used);
        record(t, from, Math.floor((batch * (p + 1)) / used) - from, 0, m);
      });
    } else {
      // Fewer items than threads: rows of C per thread, in whole register tiles.
      const tiles = Math.ceil(m / DEFAULT_SHAPE.mr);
      slots.forEach((t, p) => {
        const from = Math.min(m, Math.floor((tiles * p) / used) * DEFAULT_SHAPE.mr);
        const to = Math.min(m, Math.floor((tiles * (p + 1)) / used) * DEFAULT_SHAPE.mr);
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
      throw new GemmError(`matmul: a worker thread trapped on M ${m}, N ${n}, K ${k}, batch ${batch}`);
    }
    out.set(new Float32Array(this.#memory.buffer, cAt, out.length));
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
