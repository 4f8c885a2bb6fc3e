/**
 * @module
 * Scenario classes (the `<variant>` of the output folders) and the random draw of one sample's
 * physiology. All draws come from the sample's own generator, in a fixed order.
 *
 * | variant | early activation | fast endocardial layer | share |
 * |---|---|---|---|
 * | normal  | 1–3 LV septal/paraseptal sites (Durrer) + 1 RV septal site + the moderator band's RV anterior-wall site | LV and RV, 0.9–1.2 mm/ms | 40% |
 * | lbbb    | 1–2 RV septal sites | RV; LV endocardium only 0.5–0.8 mm/ms | 15% |
 * | rbbb    | 1–3 LV sites | LV; RV endocardium only 0.5–0.8 mm/ms | 15% |
 * | ectopic | 1 node anywhere (PVC-like) | both, slower (0.7–1.1 mm/ms) | 20% |
 * | scar    | as normal, plus a scar ball: blocked core, slow border zone | LV and RV, 0.9–1.2 mm/ms | 10% |
 *
 * The fast layer's speed is the Purkinje-myocardial layer's effective speed (0.9–1.2 mm/ms: junction
 * delays and a sparse network make it slower than the fibres' own 2–4 mm/ms), the speed that gives a
 * normal heart of this size a QRS of 80–110 ms; a blocked bundle leaves its side 0.5–0.8 mm/ms.
 * Shared ranges: myocardial speed along fibres 0.4–0.65 mm/ms, across 0.35–0.55 of that (≥ 0.2);
 * peak +28…+45 mV; gKr log-uniform in [0.5, 2]; nominal APD 290–320 ms · gKr^−0.35; phase 3 lasting 60–100 ms · gKr^−0.5; endo−epi APD
 * 20–45 ms (normal, scar) or 10–40 ms (others); base−apex APD −20…+20 ms; activation–APD coupling 0.2–0.6; after-hyperpolarisation 2–6 mV.
 */

import type { ConductionParams, EarlySite } from './eikonal.ts';
import type { ApParams } from './membrane.ts';
import { type HeartMesh, SURFACE } from './mesh.ts';
import type { Prng } from './prng.ts';

export const VARIANTS = ['normal', 'lbbb', 'rbbb', 'ectopic', 'scar'] as const;
export type Variant = (typeof VARIANTS)[number];
const VARIANT_SHARE: Readonly<Record<Variant, number>> = {
  normal: 0.4,
  lbbb: 0.15,
  rbbb: 0.15,
  ectopic: 0.2,
  scar: 0.1,
};

export interface ScarParams {
  /** Centre node and radii (mm): nodes within coreRadiusMm are blocked, up to radiusMm slowed. */
  readonly centreNode: number;
  readonly radiusMm: number;
  readonly coreRadiusMm: number;
  /** Factor by which conduction slows in the border zone. */
  readonly slowness: number;
}

export interface SampleParams {
  readonly variant: Variant;
  readonly earlySites: readonly EarlySite[];
  readonly conduction: ConductionParams;
  readonly scar: ScarParams | null;
  readonly ap: ApParams;
}

/** Candidate early-activation nodes near named recording sites, per endocardium. */
export interface Anchors {
  readonly lvRegions: readonly (readonly number[])[];
  readonly rvSeptal: readonly number[];
  /** RV anterior free wall, mid to apical: where the moderator band meets the anterior papillary muscle. */
  readonly rvAnterior: readonly number[];
  /** Nodes eligible as scar centres (mid-wall). */
  readonly scarCentres: readonly number[];
}

const LV_REGIONS = [
  ['AHA07', 'AHA13'], // anterior paraseptal
  ['AHA08', 'AHA09', 'AHA14'], // central septal
  ['AHA10', 'AHA15'], // posterior paraseptal
] as const;
const RV_SEPTAL = ['RV09', 'RV10', 'RV13'] as const;
const RV_ANTERIOR = ['RV07', 'RV11', 'RV12'] as const;
const ANCHOR_RADIUS_MM = 8;

export function anchors(mesh: HeartMesh): Anchors {
  const near = (names: readonly string[], label: number): number[] => {
    const out = new Set<number>();
    for (const name of names) {
      const site = mesh.sites.find((s) => s.name === name);
      if (!site) throw new Error(`recording site ${name} missing`);
      for (let n = 0; n < mesh.nodeCount; n++) {
        if (mesh.surface[n] !== label) continue;
        const d = Math.hypot(
          mesh.points[3 * n]! - site.position[0],
          mesh.points[3 * n + 1]! - site.position[1],
          mesh.points[3 * n + 2]! - site.position[2],
        );
        if (d <= ANCHOR_RADIUS_MM) out.add(n);
      }
    }
    if (out.size === 0) throw new Error(`no endocardial node near ${names.join(', ')}`);
    return [...out].sort((a, b) => a - b);
  };
  const scarCentres: number[] = [];
  for (let n = 0; n < mesh.nodeCount; n++) {
    const e = mesh.transmural[n]!;
    if (e >= 0.3 && e <= 0.7 && mesh.apexBase[n]! < 0.85) scarCentres.push(n);
  }
  return {
    lvRegions: LV_REGIONS.map((r) => near(r, SURFACE.lvEndo)),
    rvSeptal: near(RV_SEPTAL, SURFACE.rvEndo),
    rvAnterior: near(RV_ANTERIOR, SURFACE.rvEndo),
    scarCentres,
  };
}

export function drawVariant(rng: Prng): Variant {
  let u = rng.next();
  for (const v of VARIANTS) {
    u -= VARIANT_SHARE[v];
    if (u < 0) return v;
  }
  return 'normal';
}

/** Draws one sample's physiology. `variant` is drawn too (and ignored) when forced, to keep streams aligned. */
export function drawParams(rng: Prng, mesh: HeartMesh, anchor: Anchors, forced?: Variant): SampleParams {
  const drawn = drawVariant(rng);
  const variant = forced ?? drawn;
  const vLong = rng.uniform(0.4, 0.65);
  const vTrans = Math.max(0.2, vLong * rng.uniform(0.35, 0.55));
  const vFast = rng.uniform(0.9, 1.2);
  const vBlocked = rng.uniform(0.5, 0.8);
  const t0 = rng.uniform(0, 3);

  const lvSites = (): EarlySite[] => {
    const sites: EarlySite[] = [];
    let t = t0;
    for (const region of anchor.lvRegions) {
      if (rng.next() < 0.75 || (sites.length === 0 && region === anchor.lvRegions.at(-1))) {
        sites.push({ node: rng.pick(region), timeMs: t });
        t += rng.uniform(0, 8);
      }
    }
    return sites;
  };
  const rvSites = (count: number, start: number): EarlySite[] =>
    Array.from({ length: count }, (_, i) => ({
      node: rng.pick(anchor.rvSeptal),
      timeMs: start + i * rng.uniform(0, 6),
    }));

  let earlySites: EarlySite[];
  let vEndoLv = vFast;
  let vEndoRv = vFast;
  let scar: ScarParams | null = null;
  switch (variant) {
    case 'normal':
    case 'scar':
      // Durrer: the right bundle reaches the RV septum and, through the moderator band, the anterior
      // papillary muscle's base on the free wall, 3–10 ms after the LV starts.
      earlySites = [
        ...lvSites(),
        ...rvSites(1, t0 + rng.uniform(2, 12)),
        { node: rng.pick(anchor.rvAnterior), timeMs: t0 + rng.uniform(3, 10) },
      ];
      break;
    case 'lbbb':
      earlySites = rvSites(1 + rng.int(2), t0);
      vEndoLv = vBlocked;
      break;
    case 'rbbb':
      earlySites = lvSites();
      vEndoRv = vBlocked;
      break;
    case 'ectopic':
      earlySites = [{ node: rng.int(mesh.nodeCount), timeMs: t0 }];
      vEndoLv = rng.uniform(0.7, 1.1);
      vEndoRv = vEndoLv;
      break;
  }
  if (variant === 'scar') {
    const radiusMm = rng.uniform(10, 20);
    scar = {
      centreNode: rng.pick(anchor.scarCentres),
      radiusMm,
      coreRadiusMm: radiusMm * rng.uniform(0.3, 0.6),
      slowness: rng.uniform(2.5, 5),
    };
  }

  const ap = drawAp(rng, variant);
  // RBBB: the RV wall loses its Purkinje drive and is crossed at myocardial speed (eikonal.ts).
  const conduction = { vLong, vTrans, vEndoLv, vEndoRv, rvWallFast: variant !== 'rbbb' };
  return { variant, earlySites, conduction, scar, ap };
}

/**
 * Draws one heart's action-potential parameters. drawParams draws them last from the sample's physics
 * stream; a redraw (SimulateOptions.apDraw) draws them from another stream for the same activation.
 */
export function drawAp(rng: Prng, variant: Variant): ApParams {
  const gKr = Math.exp(rng.uniform(Math.log(0.5), Math.log(2)));
  const peakMv = rng.uniform(28, 45);
  const plateauStartMv = peakMv - rng.uniform(8, 20);
  return {
    restMv: -85.5 + rng.uniform(-0.4, 0.4),
    peakMv,
    plateauStartMv,
    plateauEndMv: plateauStartMv - rng.uniform(10, 25),
    notchMv: rng.uniform(0, 15),
    gKr,
    apd0Ms: rng.uniform(290, 320) * gKr ** -0.35,
    // Normal repolarisation (upright T in II) needs a clear endo → epi APD gradient.
    endoEpiMs: variant === 'normal' || variant === 'scar' ? rng.uniform(20, 45) : rng.uniform(10, 40),
    baseApexMs: rng.uniform(-20, 20),
    coupling: rng.uniform(0.2, 0.6),
    repolMs: rng.uniform(60, 100) * gKr ** -0.5,
    undershootMv: rng.uniform(2, 6),
  };
}

/**
 * The fixed-AP data variant's action potential: every per-heart scalar of drawAp at the median of its
 * range (gKr = 1, so APD0 = 305 ms and phase 3 lasts 80 ms). The within-heart structure stays — the
 * endo–epi APD gradient (32.5 ms in normal and scar hearts, 25 ms in the others, as drawAp's ranges),
 * the epicardial notch, the activation–APD coupling — while the base–apex gradient's median is 0.
 */
export function nominalAp(variant: Variant): ApParams {
  const plateauStartMv = 36.5 - 14;
  return {
    restMv: -85.5,
    peakMv: 36.5,
    plateauStartMv,
    plateauEndMv: plateauStartMv - 17.5,
    notchMv: 7.5,
    gKr: 1,
    apd0Ms: 305,
    endoEpiMs: variant === 'normal' || variant === 'scar' ? 32.5 : 25,
    baseApexMs: 0,
    coupling: 0.4,
    repolMs: 80,
    undershootMv: 4,
  };
}
