/**
 * @module
 * The simulator: one sample = (seed, index) → early activation sites and conduction (eikonal over the
 * mesh), an action potential per node, electrode potentials through the precomputed lead field, optional
 * noise. Building a simulator loads the mesh and computes the lead field once (≈ 0.5 s); each
 * `simulate` call then takes a few milliseconds and depends only on (seed, index, options).
 */

import { N_ELECTRODES, N_SITES, N_STEPS, NOT_ACTIVATED } from '@ecg-tmp/core';
import { ecgWorkspace, electrodesFromTables } from './ecg.ts';
import { edgeTable, propagate } from './eikonal.ts';
import { apTables, keepUpstroke, nodeApd, nodeVm, SUBSTEPS } from './membrane.ts';
import { type HeartMesh, loadHeartMesh, MinHeap } from './mesh.ts';
import { addNoise, type NoiseOptions } from './noise.ts';
import { STREAM, samplePrng } from './prng.ts';
import { anchors, drawAp, drawParams, nominalAp, type SampleParams, type Variant } from './scenarios.ts';
import { type HeartPlacement, leadField, placeHeart } from './torso.ts';

/** Folder-name stem shared by every variant: folders are `data_hearts_dd_0p2_<variant>`. */
export const DATASET_STEM = 'hearts_dd_0p2';

/** Where a sample's action-potential parameters come from: drawn per heart, or fixed for every heart. */
export const AP_MODES = ['drawn', 'fixed'] as const;
export type ApMode = (typeof AP_MODES)[number];
/** What an AP redraw keeps of the sample's own AP parameters (SimulateOptions.apKeep). */
export const AP_KEEP = ['none', 'upstroke'] as const;
export type ApKeep = (typeof AP_KEEP)[number];

export interface SimulateOptions {
  /** Force a scenario class instead of drawing one. */
  readonly variant?: Variant;
  /** Measurement noise on the electrodes; default none. */
  readonly noise?: NoiseOptions;
  /** Also return Vm at every mesh node (steps × nodes, time-major; 32 MB). */
  readonly includeNodeVm?: boolean;
  /**
   * 'drawn' (default): each heart draws its AP parameters. 'fixed': the fixed-AP data variant, every
   * heart with nominalAp's parameters (the medians of the drawn ranges) and the same activation as
   * under 'drawn'.
   */
  readonly ap?: ApMode;
  /**
   * 0 (default): the sample's own AP parameters. k ≥ 1 (below 2^31): redraw k — the same heart
   * (variant, activation, scar) with AP parameters drawn from stream STREAM.apDraw + k − 1. Ignored
   * with ap 'fixed'.
   */
  readonly apDraw?: number;
  /**
   * With apDraw ≥ 1: 'none' (default) redraws every AP parameter; 'upstroke' keeps the sample's own
   * upstroke (rest, peak, plateau start, notch — what shapes the first ~10 ms of Vm and of the ECG) and
   * redraws the rest (membrane.ts keepUpstroke).
   */
  readonly apKeep?: ApKeep;
}

export interface SimulationResult {
  /** Electrode potentials, 500 × 10 time-major (RA, LA, LL, RL, V1…V6), mV. */
  readonly electrodes: Float64Array;
  /** Vm at the 75 recording sites, 500 × 75 time-major (points.csv order), mV. */
  readonly vm: Float64Array;
  /** Activation time per mesh node (ms, on a 1/8 ms grid); NOT_ACTIVATED (−1) where blocked. */
  readonly activationMs: Float64Array;
  /** Activation time per recording site (ms); NOT_ACTIVATED where blocked. */
  readonly siteActivationMs: Float64Array;
  /** Latest minus earliest activation time over the activated nodes (ms). */
  readonly totalActivationMs: number;
  readonly params: SampleParams;
  readonly variant: Variant;
  /** `hearts_dd_0p2_<variant>_seed.<S>.idx.<i>`: the file-name body shared by the pair. */
  readonly name: string;
  /** Only with `includeNodeVm`. */
  readonly nodeVm?: Float64Array;
}

export interface Simulator {
  readonly mesh: HeartMesh;
  readonly placement: HeartPlacement;
  /** 10 × nodes, row-major: electrode potential = Σ_n lead[e, n] · Vm_n. */
  readonly leadField: Float64Array;
  readonly steps: number;
  /** Sample `index` under `seed` (unsigned 32-bit integers). */
  simulate(seed: number, index: number, options?: SimulateOptions): SimulationResult;
}

export interface SimulatorOptions {
  /** Global ECG gain (default: ECG_GAIN, see torso.ts). */
  readonly gain?: number;
}

/** Name of sample `index` under `seed` and its variant. */
export function sampleName(variant: Variant, seed: number, index: number): string {
  return `${DATASET_STEM}_${variant}_seed.${seed}.idx.${String(index).padStart(6, '0')}`;
}

/**
 * Loads the mesh, places the heart in the torso and precomputes the lead field.
 * @example
 * const sim = createSimulator();
 * const { electrodes, vm, variant } = sim.simulate(42, 0);
 */
export function createSimulator(options: SimulatorOptions = {}): Simulator {
  const mesh = loadHeartMesh();
  const placement = placeHeart(mesh);
  const lead = leadField(mesh, placement.electrodesMesh, options.gain);
  const N = mesh.nodeCount;
  const leadT = new Float64Array(N * N_ELECTRODES);
  for (let e = 0; e < N_ELECTRODES; e++)
    for (let n = 0; n < N; n++) leadT[n * N_ELECTRODES + e] = lead[e * N + n]!;
  const edges = edgeTable(mesh);
  const anchor = anchors(mesh);
  const steps = N_STEPS;
  const ws = ecgWorkspace(steps);
  const heap = new MinHeap(N * 4);
  const times = new Float64Array(N);
  const a8 = new Int32Array(N);
  const r8 = new Int32Array(N);

  function scarSlowness(p: SampleParams): Float64Array | undefined {
    if (!p.scar) return undefined;
    const { centreNode, radiusMm, coreRadiusMm, slowness } = p.scar;
    const s = new Float64Array(N).fill(1);
    const c = centreNode * 3;
    for (let n = 0; n < N; n++) {
      const d = Math.hypot(
        mesh.points[3 * n]! - mesh.points[c]!,
        mesh.points[3 * n + 1]! - mesh.points[c + 1]!,
        mesh.points[3 * n + 2]! - mesh.points[c + 2]!,
      );
      if (d <= coreRadiusMm) s[n] = Number.POSITIVE_INFINITY;
      else if (d <= radiusMm) s[n] = slowness;
    }
    return s;
  }

  function simulate(seed: number, index: number, opts: SimulateOptions = {}): SimulationResult {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
      throw new RangeError(`seed must be a uint32, got ${seed}`);
    if (!Number.isInteger(index) || index < 0 || index > 0xffffffff)
      throw new RangeError(`index must be a uint32, got ${index}`);
    const { ap: apMode = 'drawn', apDraw = 0, apKeep = 'none' } = opts;
    if (!(AP_MODES as readonly string[]).includes(apMode))
      throw new RangeError(`ap must be one of ${AP_MODES.join(', ')}, got '${apMode}'`);
    if (!(AP_KEEP as readonly string[]).includes(apKeep))
      throw new RangeError(`apKeep must be one of ${AP_KEEP.join(', ')}, got '${apKeep}'`);
    if (!Number.isInteger(apDraw) || apDraw < 0 || apDraw > 0x7fffffff)
      throw new RangeError(`apDraw must be an integer from 0 to 2147483647, got ${apDraw}`);
    const own = drawParams(samplePrng(seed, index, STREAM.physics), mesh, anchor, opts.variant);
    let params = own;
    if (apMode === 'fixed') params = { ...own, ap: nominalAp(own.variant) };
    else if (apDraw > 0) {
      const fresh = drawAp(samplePrng(seed, index, STREAM.apDraw + apDraw - 1), own.variant);
      params = { ...own, ap: apKeep === 'upstroke' ? keepUpstroke(own.ap, fresh) : fresh };
    }
    propagate(mesh, edges, params.conduction, params.earlySites, scarSlowness(params), times, heap);

    // 1. Activation on the 1/8 ms grid; mean activation for the APD coupling term.
    let tMin = Number.POSITIVE_INFINITY;
    let tMax = Number.NEGATIVE_INFINITY;
    let tSum = 0;
    let count = 0;
    const activationMs = new Float64Array(N);
    for (let n = 0; n < N; n++) {
      const t = times[n]!;
      if (!Number.isFinite(t)) {
        a8[n] = -1;
        activationMs[n] = NOT_ACTIVATED;
        continue;
      }
      a8[n] = Math.round(t * SUBSTEPS);
      activationMs[n] = a8[n]! / SUBSTEPS;
      tMin = Math.min(tMin, t);
      tMax = Math.max(tMax, t);
      tSum += t;
      count++;
    }
    const tMean = tSum / count;
    // 2. Repolarisation time per node.
    const ap = params.ap;
    for (let n = 0; n < N; n++) {
      if (a8[n]! < 0) {
        r8[n] = 0x3fffffff;
        continue;
      }
      const apd = nodeApd(ap, mesh.transmural[n]!, mesh.apexBase[n]!, times[n]!, tMean);
      r8[n] = a8[n]! + Math.round(apd * SUBSTEPS);
    }
    // 3. Electrodes = L · Vm, and Vm at the sites.
    const tables = apTables(ap);
    const electrodes = electrodesFromTables(leadT, a8, r8, mesh.transmural, tables, steps, ws);
    const vm = new Float64Array(steps * N_SITES);
    const siteActivationMs = new Float64Array(N_SITES);
    mesh.sites.forEach((site, s) => {
      // The site is a virtual node at its own position: activation time and coordinates interpolated
      // over the activated corners of its tet, then the same AP model as every node.
      let w = 0;
      let time = 0;
      let e = 0;
      let h = 0;
      site.tetNodes.forEach((n, i) => {
        if (a8[n]! < 0) return;
        const wi = site.weights[i]! + 1e-9;
        w += wi;
        time += wi * times[n]!;
        e += wi * mesh.transmural[n]!;
        h += wi * mesh.apexBase[n]!;
      });
      let sa8 = -1;
      let sr8 = 0x3fffffff;
      if (w > 0) {
        time /= w;
        e /= w;
        h /= w;
        sa8 = Math.round(time * SUBSTEPS);
        sr8 = sa8 + Math.round(nodeApd(ap, e, h, time, tMean) * SUBSTEPS);
      }
      siteActivationMs[s] = sa8 < 0 ? NOT_ACTIVATED : sa8 / SUBSTEPS;
      for (let t = 0; t < steps; t++) vm[t * N_SITES + s] = nodeVm(tables, ap.restMv, e, sa8, sr8, t);
    });
    let nodeVmAll: Float64Array | undefined;
    if (opts.includeNodeVm) {
      nodeVmAll = new Float64Array(steps * N);
      for (let t = 0; t < steps; t++) {
        for (let n = 0; n < N; n++) {
          nodeVmAll[t * N + n] = nodeVm(tables, ap.restMv, mesh.transmural[n]!, a8[n]!, r8[n]!, t);
        }
      }
    }
    // 4. Measurement noise from its own stream.
    if (opts.noise) addNoise(electrodes, steps, opts.noise, samplePrng(seed, index, STREAM.noise));
    return {
      electrodes,
      vm,
      activationMs,
      siteActivationMs,
      totalActivationMs: tMax - tMin,
      params,
      variant: params.variant,
      name: sampleName(params.variant, seed, index),
      ...(nodeVmAll ? { nodeVm: nodeVmAll } : {}),
    };
  }

  return { mesh, placement, leadField: lead, steps, simulate };
}
