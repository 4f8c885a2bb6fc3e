/**
 * @module
 * The LSTM recurrence over the whole sequence in one WGSL dispatch, and its backpropagation through time
 * in another, on tfjs-backend-webgpu — the contract of models/lstm-fused.ts (projected [B, T, 4H] =
 * x·W_ih + b_ih + b_hh in gate order i, f, g, o; hiddenWeight [H, 4H]; zero initial state) without its
 * readback: as per-step tfjs ops the 500 steps cost ~12 launches each way, here the whole layer is two.
 *
 * One persistent workgroup per sample, 4H threads (256 for H = 64), stepping through time with two
 * barriers per step; the recurrent weights never leave the chip. W_hh is 64 KiB, more than WebGPU's
 * default 16 KiB of workgroup memory, so each thread keeps its share in registers instead:
 *   forward   thread j owns gate column j: z_j = projected + Σ_k h[k]·W[k, j] with h (H floats) in
 *             workgroup memory, activates it, and threads j < H then update unit j's cell and hidden state.
 *             The output is the trace [B, T, 6H] — activated gates (4H), cell (H), hidden (H) per step —
 *             which the backward reads; the hidden states are sliced from it.
 *   backward  walks t = T−1 … 0: threads u < H turn dh, dc into the step's four gate gradients dz
 *             (workgroup memory), then thread j = 4k + q owns W[k, qH … qH + H) and adds its quarter of
 *             dh_prev[k] = Σ_j dz[j]·W[k, j]; threads u < H sum the four quarters. Output d(projected).
 *   d(W_hh)   Σ over samples and t ≥ 1 of h_{t−1}ᵀ·dz_t is one [H × B(T−1)]·[B(T−1) × 4H] product,
 *             left to tfjs's matMul after the backward dispatch.
 */

import * as tf from '@tensorflow/tfjs-core';
import { ACTIVATIONS, type KernelProgram, runProgram, WebgpuKernelError } from './program.ts';

/** 4H threads per workgroup: WebGPU guarantees at least 256 invocations per workgroup. */
export const MAX_LSTM_UNITS = 64;

abstract class LstmProgram implements KernelProgram {
  abstract variableNames: string[];
  abstract shaderKey: string;
  readonly outputShape: number[];
  readonly dispatchLayout = { x: [0, 1, 2] };
  dispatch: [number, number, number];
  readonly workgroupSize: [number, number, number];
  readonly uniforms = 'steps : i32,';

  constructor(
    outputShape: number[],
    batch: number,
    protected readonly units: number,
  ) {
    this.outputShape = outputShape;
    this.dispatch = [batch, 1, 1];
    this.workgroupSize = [4 * units, 1, 1];
  }

  protected header(): string {
    return `
      const H = ${this.units};
      const G = ${4 * this.units};
      const ROW = ${6 * this.units};
      ${ACTIVATIONS}
    `;
  }

  abstract getUserCode(): string;
}

/** Trace [B, T, 6H] from projected [B, T, 4H] and W [H, 4H]. */
class ForwardProgram extends LstmProgram {
  variableNames = ['P', 'W'];
  shaderKey: string;
  constructor(batch: number, steps: number, units: number) {
    super([batch, steps, 6 * units], batch, units);
    this.shaderKey = `ecgLstmForward_${units}`;
  }
  getUserCode(): string {
    return `${this.header()}
      var<workgroup> hPrev : array<f32, H>;
      var<workgroup> act : array<f32, G>;
      fn main(index : i32) {
        let b = i32(workgroupId.x);
        let j = i32(localIndex);
        var w : array<f32, H>;
        for (var k = 0; k < H; k++) { w[k] = W[k * G + j]; }
        if (j < H) { hPrev[j] = 0.0; }
        var c = 0.0;
        workgroupBarrier();
        for (var t = 0; t < uniforms.steps; t++) {
          let row = b * uniforms.steps + t;
          var z = P[row * G + j];
          for (var k = 0; k < H; k++) { z = z + hPrev[k] * w[k]; }
          var a = 0.0;
          if (j >= 2 * H && j < 3 * H) { a = tanhSafe(z); } else { a = sigm(z); }
          act[j] = a;
          result[row * ROW + j] = a;
          workgroupBarrier();
          if (j < H) {
            c = act[H + j] * c + act[j] * act[2 * H + j];
            let hv = act[3 * H + j] * tanhSafe(c);
            hPrev[j] = hv;
            result[row * ROW + G + j] = c;
            result[row * ROW + G + H + j] = hv;
          }
          workgroupBarrier();
        }
      }
    `;
  }
}

/** d(projected) [B, T, 4H] from the trace, W and dy [B, T, H]. */
class BackwardProgram extends LstmProgram {
  variableNames = ['TR', 'W', 'DY'];
  shaderKey: string;
  constructor(batch: number, steps: number, units: number) {
    super([batch, steps, 4 * units], batch, units);
    this.shaderKey = `ecgLstmBackward_${units}`;
  }
  getUserCode(): string {
    return `${this.header()}
      var<workgroup> dz : array<f32, G>;
      var<workgroup> part : array<f32, G>;
      fn main(index : i32) {
        let b = i32(workgroupId.x);
        let j = i32(localIndex);
        let k = j / 4;
        let q = j % 4;
        var w : array<f32, H>;
        for (var n = 0; n < H; n++) { w[n] = W[k * G + q * H + n]; }
        var dh = 0.0;
        var dc = 0.0;
        for (var t = uniforms.steps - 1; t >= 0; t--) {
          let row = b * uniforms.steps + t;
          if (j < H) {
            let at = row * ROW;
            let gi = TR[at + j];
            let gf = TR[at + H + j];
            let gg = TR[at + 2 * H + j];
            let go = TR[at + 3 * H + j];
            let tc = tanhSafe(TR[at + G + j]);
            var cPrev = 0.0;
            if (t > 0) { cPrev = TR[at - ROW + G + j]; }
            let dhT = DY[row * H + j] + dh;
            let dcT = dc + dhT * go * (1.0 - tc * tc);
            dz[j] = dcT * gg * gi * (1.0 - gi);
            dz[H + j] = dcT * cPrev * gf * (1.0 - gf);
            dz[2 * H + j] = dcT * gi * (1.0 - gg * gg);
            dz[3 * H + j] = dhT * tc * go * (1.0 - go);
            dc = dcT * gf;
          }
          workgroupBarrier();
          result[row * G + j] = dz[j];
          var acc = 0.0;
          for (var n = 0; n < H; n++) { acc = acc + dz[q * H + n] * w[n]; }
          part[j] = acc;
          workgroupBarrier();
          if (j < H) { dh = part[4 * j] + part[4 * j + 1] + part[4 * j + 2] + part[4 * j + 3]; }
        }
      }
    `;
  }
}

/** Whether a layer of `units` fits one workgroup (4H threads). */
export function webgpuLstmFits(units: number): boolean {
  return units >= 1 && units <= MAX_LSTM_UNITS;
}

/**
 * Hidden states [B, T, H] of an LSTM with zero initial state, on tfjs-backend-webgpu; differentiable in
 * `projected` [B, T, 4H] and `hiddenWeight` [H, 4H].
 * @example
 * const hidden = webgpuLstmSequence(projected, hiddenWeight); // [32, 500, 256], [64, 256] → [32, 500, 64]
 */
export function webgpuLstmSequence(projected: tf.Tensor3D, hiddenWeight: tf.Tensor2D): tf.Tensor3D {
  const [batch, steps, gateWidth] = projected.shape;
  const units = hiddenWeight.shape[0];
  if (gateWidth !== 4 * units || hiddenWeight.shape[1] !== 4 * units) {
    throw new WebgpuKernelError(
      `webgpuLstmSequence: projected [${projected.shape}] and hiddenWeight [${hiddenWeight.shape}] do not fit [B, T, 4H] and [H, 4H]`,
    );
  }
  if (!webgpuLstmFits(units)) {
    throw new WebgpuKernelError(
      `webgpuLstmSequence: ${units} units need ${4 * units} threads per workgroup; at most ${MAX_LSTM_UNITS} units fit`,
    );
  }
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [p, w] = args as [tf.Tensor3D, tf.Tensor2D];
    const save = args[2] as tf.GradSaveFunc;
    const trace = runProgram(new ForwardProgram(batch, steps, units), [p, w], [steps]) as tf.Tensor3D;
    save([trace, w]);
    return {
      value: tf.slice(trace, [0, 0, 5 * units], [batch, steps, units]),
      gradFunc: (dy, saved) =>
        tf.tidy(() => {
          const [tr, sw] = saved as [tf.Tensor3D, tf.Tensor2D];
          const dProjected = runProgram(
            new BackwardProgram(batch, steps, units),
            [tr, sw, dy as tf.Tensor],
            [steps],
          ) as tf.Tensor3D;
          if (steps < 2) return [dProjected, tf.zerosLike(sw)];
          const rows = batch * (steps - 1);
          const hPrev = tf.reshape(tf.slice(tr, [0, 0, 5 * units], [batch, steps - 1, units]), [rows, units]);
          const dzNext = tf.reshape(tf.slice(dProjected, [0, 1, 0], [batch, steps - 1, gateWidth]), [
            rows,
            gateWidth,
          ]);
          return [dProjected, tf.matMul(hPrev, dzNext, true, false)];
        }),
    };
  });
  return op(projected, hiddenWeight) as tf.Tensor3D;
}
