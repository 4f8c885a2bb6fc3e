/**
 * @module
 * Runs the LSTM recurrence's WebAssembly SIMD kernels (wat.ts, assembled into the committed lstm.wasm):
 * the forward pass that keeps its trace, backpropagation through time, and d(W_hh).
 *
 * The trace (activated gates, cell and hidden state: 24 MB at B = 32, T = 500, H = 64) stays in the
 * kernel's own memory between the forward and the backward pass rather than being copied out, so each
 * forward takes a slot — an instance with its own memory — and the backward finds its trace there. A
 * forward whose gradient is never asked for (inference) just leaves its slot to be reused; a backward
 * whose slot was taken by later forwards gets null and the caller runs the forward again. Two slots
 * cover a training step followed by a validation forward; memories grow to the largest shape seen and
 * stay grown, so their pages are touched once (first-touch page faults cost more than the copies here).
 *
 * One thread: at B = 32 a step is a [32, 64]·[64, 256] product, and waking a second thread 500 times per
 * pass would cost about as much as the arithmetic it takes off.
 */

import { readFileSync } from 'node:fs';
import { type WasmMemory, wasm } from '../wasm-api.ts';

export interface LstmShape {
  readonly batch: number;
  readonly steps: number;
  readonly units: number;
}

interface Exports {
  forward(
    gates: number,
    cell: number,
    hidden: number,
    w: number,
    zero: number,
    scratch: number,
    batch: number,
    steps: number,
    units: number,
  ): void;
  backward(
    dy: number,
    gates: number,
    cell: number,
    wt: number,
    dproj: number,
    dh: number,
    dc: number,
    zero: number,
    scratch: number,
    batch: number,
    steps: number,
    units: number,
  ): void;
  weightGrad(hidden: number, dproj: number, dw: number, batch: number, steps: number, units: number): void;
}

/** Byte offsets of one call's regions in a slot's memory (16-byte aligned). */
interface Layout {
  readonly zero: number;
  readonly dh: number;
  readonly dc: number;
  readonly scratch: number;
  readonly w: number;
  readonly wt: number;
  readonly dw: number;
  readonly gates: number;
  readonly cell: number;
  readonly hidden: number;
  readonly dy: number;
  readonly dproj: number;
  readonly end: number;
}

function layoutOf({ batch, steps, units }: LstmShape): Layout {
  const rows = batch * steps;
  const sizes = {
    zero: 4 * units * 4,
    dh: batch * units * 4,
    dc: batch * units * 4,
    // Four rows interleaved: h_{t−1} (forward, 4H floats) or dz (backward, 16H floats).
    scratch: 16 * units * 4,
    w: 4 * units * units * 4,
    wt: 4 * units * units * 4,
    dw: 4 * units * units * 8,
    gates: rows * 4 * units * 4,
    cell: rows * units * 4,
    hidden: rows * units * 4,
    dy: rows * units * 4,
    dproj: rows * 4 * units * 4,
  };
  const out: Record<string, number> = {};
  let at = 0;
  for (const [name, bytes] of Object.entries(sizes)) {
    out[name] = at;
    at += Math.ceil(bytes / 16) * 16;
  }
  return { ...out, end: at } as unknown as Layout;
}

interface Slot {
  readonly memory: WasmMemory;
  readonly kernels: Exports;
  /** Bumped by every forward; a trace is valid while its generation matches. */
  generation: number;
  lastUsed: number;
  shape: LstmShape | null;
}

/** A forward pass's trace, valid until its slot is taken by another forward. */
export interface LstmTrace {
  readonly slot: Slot;
  readonly generation: number;
  readonly shape: LstmShape;
}

const PAGE = 65536;
let compiled: object | null = null;

function lstmModule(): object {
  compiled ??= new wasm.Module(readFileSync(new URL('lstm.wasm', import.meta.url)));
  return compiled;
}

/** The kernels with `slots` trace slots (two unless a test asks otherwise). */
export function createLstmKernels(slots = 2) {
  const pool: Slot[] = [];
  let clock = 0;

  function takeSlot(): Slot {
    if (pool.length < slots) {
      const memory = new wasm.Memory({ initial: 1 });
      const kernels = new wasm.Instance(lstmModule(), { env: { memory } }).exports as unknown as Exports;
      pool.push({ memory, kernels, generation: 0, lastUsed: 0, shape: null });
      return pool[pool.length - 1]!;
    }
    return pool.reduce((oldest, s) => (s.lastUsed < oldest.lastUsed ? s : oldest));
  }

  function reserve(slot: Slot, layout: Layout): void {
    const need = Math.ceil(layout.end / PAGE) - slot.memory.buffer.byteLength / PAGE;
    if (need > 0) slot.memory.grow(need);
  }

  const f32 = (slot: Slot, at: number, length: number) => new Float32Array(slot.memory.buffer, at, length);

  return {
    /**
     * Runs the recurrence. `fill` writes projected [B, T, 4H] into the array it is given (the kernel's
     * memory); the returned hidden states [B, T, H] are a view into it, valid until the next call.
     */
    forward(
      shape: LstmShape,
      fill: (projected: Float32Array) => void,
      weight: Float32Array,
    ): { trace: LstmTrace; hidden: Float32Array } {
      const { batch, steps, units } = shape;
      if (units % 4 !== 0) throw new Error(`LSTM kernels need H to be a multiple of 4, not ${units}`);
      const slot = takeSlot();
      const at = layoutOf(shape);
      reserve(slot, at);
      const rows = batch * steps;
      fill(f32(slot, at.gates, rows * 4 * units));
      f32(slot, at.w, 4 * units * units).set(weight);
      f32(slot, at.zero, 4 * units).fill(0);
      slot.kernels.forward(at.gates, at.cell, at.hidden, at.w, at.zero, at.scratch, batch, steps, units);
      slot.generation++;
      slot.lastUsed = ++clock;
      slot.shape = shape;
      return {
        trace: { slot, generation: slot.generation, shape },
        hidden: f32(slot, at.hidden, rows * units),
      };
    },

    /**
     * Backpropagation through time from the forward's trace, or null when a later forward took its slot.
     * `fill` writes dy [B, T, H]; dProjected [B, T, 4H] is a view into the kernel's memory, valid until
     * the next call; dWeight [H, 4H] is a new array.
     */
    backward(
      trace: LstmTrace,
      fill: (dy: Float32Array) => void,
    ): { dProjected: Float32Array; dWeight: Float32Array } | null {
      const { slot, shape } = trace;
      if (slot.generation !== trace.generation) return null;
      const { batch, steps, units } = shape;
      const at = layoutOf(shape);
      const rows = batch * steps;
      fill(f32(slot, at.dy, rows * units));
      // Wᵀ [4H, H] makes dh = dz·Wᵀ a row times a row-major matrix, like the forward's product.
      const w = f32(slot, at.w, 4 * units * units);
      const wt = f32(slot, at.wt, 4 * units * units);
      for (let k = 0; k < units; k++)
        for (let j = 0; j < 4 * units; j++) wt[j * units + k] = w[k * 4 * units + j]!;
      const { kernels } = slot;
      kernels.backward(
        at.dy,
        at.gates,
        at.cell,
        at.wt,
        at.dproj,
        at.dh,
        at.dc,
        at.zero,
        at.scratch,
        batch,
        steps,
        units,
      );
      const dw = new Float64Array(slot.memory.buffer, at.dw, 4 * units * units);
      dw.fill(0);
      kernels.weightGrad(at.hidden, at.dproj, at.dw, batch, steps, units);
      slot.lastUsed = ++clock;
      return { dProjected: f32(slot, at.dproj, rows * 4 * units), dWeight: Float32Array.from(dw) };
    },
  };
}

export type LstmKernels = ReturnType<typeof createLstmKernels>;
