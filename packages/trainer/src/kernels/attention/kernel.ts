/**
 * @module
 * Runs the fused width-1-head attention (wat.ts, assembled into the committed attention*.wasm by
 * build.ts) over worker threads that share one WebAssembly.Memory, on plain Float32Arrays.
 *
 * Every (batch item, group of four heads) is an independent task in both directions, so a call packs
 * its operands into the shared memory on the calling thread ([B, L, H] → [B, ⌈H/4⌉, L, 4], a memory
 * pass), wakes the workers, and every thread (the calling one included) takes a few tasks at a time
 * from a shared counter until none are left — on cores shared with other processes a descheduled
 * thread then delays a call by a few tasks, not by half of them — and then unpacks the results. Threads wait on Atomics over the first page of the memory, as the
 * GEMM's do (gemm/gemm.ts): a call costs a wake-up, not a message round trip. Calls under
 * PARALLEL_SCORES scores (the decoder's cross-attention, incremental decoding) run on the calling
 * thread alone.
 *
 * The forward returns O and the per-row statistics the backward needs (the base-2 row maximum and the
 * reciprocal row sum, packed [2, tasks, Lq, 4]); nothing of size Lq × Lk is ever stored.
 */

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { type WasmMemory, wasm } from '../wasm-api.ts';
import { LANES } from './wat.ts';

export class AttentionError extends Error {
  override readonly name = 'AttentionError';
}

/** Sizes of one attention call: q [batch, queries, heads], k and v [batch, keys, heads]. */
export interface AttentionShape {
  readonly batch: number;
  readonly queries: number;
  readonly keys: number;
  readonly heads: number;
  /** Key j is visible to query i only when j ≤ i + keys − queries (needs keys ≥ queries). */
  readonly causal: boolean;
}

/** What forward keeps for backward: O itself is the caller's; `stats` is opaque to it. */
export interface AttentionForward {
  /** [batch, queries, heads]. */
  readonly o: Float32Array;
  /** Packed row maximum and reciprocal row sum, length statsLength(shape). */
  readonly stats: Float32Array;
}

export interface AttentionGradients {
  readonly dq: Float32Array;
  readonly dk: Float32Array;
  readonly dv: Float32Array;
}

interface AttentionExports {
  forward(...args: number[]): void;
  backward(...args: number[]): void;
  pack(src: number, dst: number, b: number, l: number, h: number): void;
  unpack(src: number, dst: number, b: number, l: number, h: number): void;
}

const PAGE = 65536;
const MAX_THREADS = 8;
/**
 * The control block (int32): [0] round (workers wait on it), [1] a thread trapped, [2] the next task
 * to take (CLOSED between calls), [3] tasks finished, [8 + t] thread t started, from [64] the call record
 * (kind, 13 arguments, tasks, tasks per take).
 *
 * Tasks are claimed with a compare-and-swap on [2] and counted done in [3]; the caller waits only for
 * the tasks someone claimed, never for a worker to wake up, so a worker that other processes keep off
 * the cores costs nothing (the caller does its share) unless it holds a claim. A claim succeeds only
 * while a call is open, and a call's record stays as it is until all its tasks are counted done, so a
 * worker reads the record after claiming and never works from a stale one.
 */
const CONTROL_BYTES = PAGE;
const TRAPPED = 1;
const NEXT = 2;
const FINISHED = 3;
const STARTED = 8;
const RECORD = 64;
const CLOSED = 0x3fffffff;
const FORWARD = 1;
const BACKWARD = 2;
/** Below this many (query, key, head) scores a wake-up of the other threads costs more than it saves. */
const PARALLEL_SCORES = 1_000_000;
/** Claims per thread and call: many, so that a thread slowed by other processes holds up little. */
const TAKES_PER_THREAD = 16;

/**
 * Claims and runs tasks of the open call until none are left; returns the first error a task threw
 * (after counting its tasks finished, so no one waits for them). Its source is also the workers', so
 * it spells the control block's offsets (NEXT 2, FINISHED 3, RECORD 64) as numbers.
 */
function runTasks(exports: AttentionExports, r: Int32Array): unknown {
  let error: unknown = null;
  for (;;) {
    const from = Atomics.load(r, 2);
    const chunk = Atomics.load(r, 64 + 15);
    if (from >= Atomics.load(r, 64 + 14)) return error;
    if (Atomics.compareExchange(r, 2, from, from + chunk) !== from) continue;
    const to = Math.min(r[64 + 14]!, from + chunk);
    try {
      const args = Array.from(r.subarray(64 + 1, 64 + 14));
      if (r[64] === 1) exports.forward(...args.slice(0, 9), from, to);
      else exports.backward(...args, from, to);
    } catch (err) {
      error ??= err;
    } finally {
      Atomics.add(r, 3, to - from);
      Atomics.notify(r, 3);
    }
  }
}

// The worker side: plain JavaScript evaluated by worker_threads, so it needs no TypeScript loader.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, index } = workerData;
const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
const ctrl = new Int32Array(memory.buffer, 0, ${CONTROL_BYTES / 4});
const runTasks = ${runTasks.toString()};
let generation = Atomics.load(ctrl, 0);
Atomics.store(ctrl, ${STARTED} + index, 1);
for (;;) {
  Atomics.wait(ctrl, 0, generation);
  generation = Atomics.load(ctrl, 0);
  // A trap must not leave the caller waiting: its tasks are counted finished, the trap flagged.
  if (runTasks(exports, ctrl) !== null) Atomics.store(ctrl, ${TRAPPED}, 1);
}
`;

/** Floats of the packed form of an [batch, rows, heads] tensor. */
function packedLength(batch: number, rows: number, heads: number): number {
  return batch * Math.ceil(heads / LANES) * rows * LANES;
}

/** Length of AttentionForward.stats for a shape. */
export function statsLength(shape: AttentionShape): number {
  return 2 * packedLength(shape.batch, shape.queries, shape.heads);
}

function checkShape(shape: AttentionShape): void {
  const { batch, queries, keys, heads, causal } = shape;
  const dims = { batch, queries, keys, heads };
  for (const [name, n] of Object.entries(dims)) {
    if (!Number.isInteger(n) || n < 0) throw new AttentionError(`attention: ${name} ${n} is not a size`);
  }
  if (keys === 0 && batch * queries * heads > 0) {
    throw new AttentionError('attention: no keys to attend to (keys is 0)');
  }
  if (causal && keys < queries) {
    throw new AttentionError(
      `attention: causal attention needs at least as many keys as queries (queries ${queries}, keys ${keys})`,
    );
  }
}

function checkLength(name: string, x: Float32Array, length: number, shape: AttentionShape): void {
  if (x.length !== length) {
    throw new AttentionError(
      `attention: ${name} has ${x.length} floats, expected ${length} for batch ${shape.batch}, queries ${shape.queries}, keys ${shape.keys}, heads ${shape.heads}`,
    );
  }
}

/** What an AttentionKernel runs on, for logs and benchmark records. */
export interface AttentionKernelInfo {
  readonly threads: number;
  readonly shared: boolean;
}

/**
 * The fused attention engine: one memory, `threads − 1` workers plus the calling thread.
 * @example
 * const kernel = createAttentionKernel({ threads: 2 });
 * const shape = { batch: 32, queries: 490, keys: 490, heads: 75, causal: true };
 * const { o, stats } = kernel.forward(q, k, v, shape);
 * const { dq, dk, dv } = kernel.backward(q, k, v, o, stats, dO, shape);
 */
export class AttentionKernel {
  readonly info: AttentionKernelInfo;
  /** Errors of worker threads that died (their share then runs on the calling thread). */
  readonly workerErrors: Error[] = [];
  readonly #memory: WasmMemory;
  readonly #exports: AttentionExports;
  readonly #workers: Worker[] = [];

  constructor(threads: number) {
    threads = Math.max(1, Math.min(MAX_THREADS, Math.floor(threads)));
    const shared = threads > 1 && typeof SharedArrayBuffer !== 'undefined';
    const file = shared ? 'attention-shared.wasm' : 'attention.wasm';
    const module = new wasm.Module(readFileSync(new URL(file, import.meta.url)));
    this.#memory = new wasm.Memory({ initial: CONTROL_BYTES / PAGE + 1, maximum: 65536, shared });
    this.#exports = new wasm.Instance(module, { env: { memory: this.#memory } })
      .exports as unknown as AttentionExports;
    const count = shared ? threads : 1;
    for (let index = 1; index < count; index++) {
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { module, memory: this.#memory, index },
      });
      // Idle workers block in Atomics.wait; they must not keep the process alive.
      worker.unref();
      // A worker that fails to start never marks itself ready, so calls run without it.
      worker.on('error', (err) => {
        this.workerErrors.push(err);
      });
      this.#workers.push(worker);
    }
    this.info = { threads: count, shared };
  }

  /** Resolves once every worker has started or `timeoutMs` passed; gives the threads running. */
  async started(timeoutMs = 10_000): Promise<number> {
    const ctrl = new Int32Array(this.#memory.buffer, 0, 64);
    const count = () => 1 + this.#workers.filter((_, i) => Atomics.load(ctrl, STARTED + 1 + i) === 1).length;
    const until = Date.now() + timeoutMs;
    while (count() < this.info.threads && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    return count();
  }

  /** Ends the worker threads; the instance runs single-threaded afterwards. */
  async close(): Promise<void> {
    const workers = this.#workers.splice(0);
    await Promise.all(workers.map((w) => w.terminate()));
  }

  /**
   * softmax(q·kᵀ)·v per head, with the statistics backward needs; into `into` when given (e.g. views
   * of a tfjs-wasm output, which saves a copy), else into new arrays.
   */
  forward(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    shape: AttentionShape,
    into?: AttentionForward,
  ): AttentionForward {
    checkShape(shape);
    const { batch, queries, keys, heads } = shape;
    checkLength('q', q, batch * queries * heads, shape);
    checkLength('k', k, batch * keys * heads, shape);
    checkLength('v', v, batch * keys * heads, shape);
    const o = into?.o ?? new Float32Array(batch * queries * heads);
    const stats = into?.stats ?? new Float32Array(statsLength(shape));
    checkLength('o', o, batch * queries * heads, shape);
    checkLength('stats', stats, statsLength(shape), shape);
    if (o.length === 0) return { o, stats };
    const layout = this.#layout(shape, ['q', 'o', 'm', 'r'], ['k', 'v']);
    this.#packIn(q, layout.at.q!, queries, shape, layout.staging);
    this.#packIn(k, layout.at.k!, keys, shape, layout.staging);
    this.#packIn(v, layout.at.v!, keys, shape, layout.staging);
    const { at } = layout;
    this.#run(
      FORWARD,
      [at.q!, at.k!, at.v!, at.o!, at.m!, at.r!, queries, keys, shape.causal ? 1 : 0],
      shape,
    );
    this.#unpackOut(at.o!, o, queries, shape, layout.staging);
    // m and r are adjacent: one copy.
    stats.set(new Float32Array(this.#memory.buffer, at.m!, stats.length));
    return { o, stats };
  }

  /** Gradients of Σ dO ∘ forward(q, k, v).o with respect to q, k and v (into `into` when given). */
  backward(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    o: Float32Array,
    stats: Float32Array,
    dO: Float32Array,
    shape: AttentionShape,
    into?: AttentionGradients,
  ): AttentionGradients {
    checkShape(shape);
    const { batch, queries, keys, heads } = shape;
    checkLength('q', q, batch * queries * heads, shape);
    checkLength('k', k, batch * keys * heads, shape);
    checkLength('v', v, batch * keys * heads, shape);
    checkLength('o', o, batch * queries * heads, shape);
    checkLength('dO', dO, batch * queries * heads, shape);
    checkLength('stats', stats, statsLength(shape), shape);
    const dq = into?.dq ?? new Float32Array(q.length);
    const dk = into?.dk ?? new Float32Array(k.length);
    const dv = into?.dv ?? new Float32Array(v.length);
    checkLength('dq', dq, q.length, shape);
    checkLength('dk', dk, k.length, shape);
    checkLength('dv', dv, v.length, shape);
    if (dq.length === 0) return { dq, dk, dv };
    const layout = this.#layout(shape, ['q', 'o', 'm', 'r', 'dO', 'dq'], ['k', 'v', 'dk', 'dv']);
    const { at } = layout;
    this.#packIn(q, at.q!, queries, shape, layout.staging);
    this.#packIn(k, at.k!, keys, shape, layout.staging);
    this.#packIn(v, at.v!, keys, shape, layout.staging);
    this.#packIn(o, at.o!, queries, shape, layout.staging);
    this.#packIn(dO, at.dO!, queries, shape, layout.staging);
    new Float32Array(this.#memory.buffer, at.m!, stats.length).set(stats);
    this.#run(
      BACKWARD,
      [
        at.q!,
        at.k!,
        at.v!,
        at.o!,
        at.m!,
        at.r!,
        at.dO!,
        at.dq!,
        at.dk!,
        at.dv!,
        queries,
        keys,
        shape.causal ? 1 : 0,
      ],
      shape,
    );
    this.#unpackOut(at.dq!, dq, queries, shape, layout.staging);
    this.#unpackOut(at.dk!, dk, keys, shape, layout.staging);
    this.#unpackOut(at.dv!, dv, keys, shape, layout.staging);
    return { dq, dk, dv };
  }

  /**
   * Addresses of the packed query-sized and key-sized regions (in this order, so m and r are adjacent)
   * and of a staging area for [B, L, H] data, with 64 bytes of slack after each (pack reads and unpack
   * writes up to 12 bytes past a tensor).
   */
  #layout(
    shape: AttentionShape,
    queryRegions: string[],
    keyRegions: string[],
  ): { at: Record<string, number>; staging: number } {
    const { batch, queries, keys, heads } = shape;
    const qBytes = packedLength(batch, queries, heads) * 4 + 64;
    const kBytes = packedLength(batch, keys, heads) * 4 + 64;
    const at: Record<string, number> = {};
    let next = CONTROL_BYTES;
    for (const name of queryRegions) {
      at[name] = next;
      // m and r are read and written as one stats array: no slack between them.
      next += name === 'm' ? qBytes - 64 : qBytes;
    }
    for (const name of keyRegions) {
      at[name] = next;
      next += kBytes;
    }
    const staging = next;
    this.#reserve(staging + batch * Math.max(queries, keys) * heads * 4 + 64);
    return { at, staging };
  }

  #packIn(x: Float32Array, to: number, rows: number, shape: AttentionShape, staging: number): void {
    new Float32Array(this.#memory.buffer, staging, x.length).set(x);
    this.#exports.pack(staging, to, shape.batch, rows, shape.heads);
  }

  #unpackOut(from: number, x: Float32Array, rows: number, shape: AttentionShape, staging: number): void {
    this.#exports.unpack(from, staging, shape.batch, rows, shape.heads);
    x.set(new Float32Array(this.#memory.buffer, staging, x.length));
  }

  /** Runs one kernel over every task, on the calling thread and whichever workers wake in time. */
  #run(kind: number, args: number[], shape: AttentionShape): void {
    const tasks = shape.batch * Math.ceil(shape.heads / LANES);
    const ctrl = new Int32Array(this.#memory.buffer, 0, CONTROL_BYTES / 4);
    const helpers =
      shape.batch * shape.queries * shape.keys * shape.heads >= PARALLEL_SCORES
        ? this.#workers.filter((_, i) => Atomics.load(ctrl, STARTED + 1 + i) === 1).length
        : 0;
    // Closed already (the last call took every task); the record may change now.
    Atomics.store(ctrl, NEXT, CLOSED);
    ctrl[RECORD] = kind;
    ctrl.fill(0, RECORD + 1, RECORD + 14);
    ctrl.set(args, RECORD + 1);
    ctrl[RECORD + 14] = tasks;
    ctrl[RECORD + 15] = Math.max(1, Math.ceil(tasks / ((helpers + 1) * TAKES_PER_THREAD)));
    Atomics.store(ctrl, FINISHED, 0);
    Atomics.store(ctrl, NEXT, 0);
    if (helpers > 0) {
      Atomics.add(ctrl, 0, 1);
      Atomics.notify(ctrl, 0);
    }
    const trapped = runTasks(this.#exports, ctrl);
    for (let done = Atomics.load(ctrl, FINISHED); done < tasks; done = Atomics.load(ctrl, FINISHED)) {
      Atomics.wait(ctrl, FINISHED, done);
    }
    if (trapped !== null || Atomics.exchange(ctrl, TRAPPED, 0) !== 0) {
      throw new AttentionError(
        `attention: the kernel trapped on batch ${shape.batch}, queries ${shape.queries}, keys ${shape.keys}, heads ${shape.heads}`,
        { cause: trapped ?? undefined },
      );
    }
  }

  #reserve(bytes: number): void {
    const have = this.#memory.buffer.byteLength;
    if (bytes <= have) return;
    try {
      this.#memory.grow(Math.ceil((bytes - have) / PAGE));
    } catch (err) {
      throw new AttentionError(
        `attention: operands need ${bytes} bytes, more than WebAssembly memory holds`,
        {
          cause: err,
        },
      );
    }
  }
}

/** A fused attention on `threads` threads (default: every core), single-threaded without shared memory. */
export function createAttentionKernel(options: { threads?: number } = {}): AttentionKernel {
  return new AttentionKernel(options.threads ?? availableParallelism());
}
