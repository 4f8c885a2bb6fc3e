/**
 * @module
 * Where the heart sits in the body, where the 10 electrodes are, and the lead field of the pseudo-ECG.
 *
 * Body frame (mm): x → the patient's left, y → posterior, z → head (DICOM's LPS, right-handed); origin on
 * the body's midline at the level of the 4th intercostal space. The chest is an elliptic cylinder,
 * x²/160² + y²/110² = 1 (a 320 mm wide, 220 mm deep torso).
 *
 * Heart placement: the mesh's base→apex axis is turned to point anterior, left and inferior
 * (direction (1, −1, −1)/√3: 54.7° from each body axis), the RV (mesh −x side) faces the right-anterior
 * chest, and the apex sits 60 mm behind V4 (the apex beat: 5th intercostal space, mid-clavicular line).
 * 60 mm is deeper than anatomy (~30 mm): an infinite homogeneous medium lacks the torso boundary and the
 * lungs, which in a real chest raise the distant (limb) potentials relative to the near (precordial)
 * ones; the extra depth restores a realistic precordial/limb amplitude ratio (~2–3).
 *
 * Electrodes (body frame, mm; precordial ones on the chest ellipse):
 * | name | x | y | z | where |
 * |---|---|---|---|---|
 * | RA | −150 | 0 | 120 | right shoulder |
 * | LA | 150 | 0 | 120 | left shoulder |
 * | LL | 60 | 0 | −200 | left hip |
 * | RL | −60 | 0 | −200 | right hip (ground; recorded, unused by the leads) |
 * | V1 | −25 | −109 | 0 | 4th intercostal space, right sternal border |
 * | V2 | 25 | −109 | 0 | 4th intercostal space, left sternal border |
 * | V3 | 52.5 | −104 | −12.5 | midway V2–V4 |
 * | V4 | 80 | −95 | −25 | 5th intercostal space, mid-clavicular line |
 * | V5 | 128 | −66 | −25 | anterior axillary line, level of V4 |
 * | V6 | 160 | 0 | −25 | mid-axillary line, level of V4 |
 *
 * Pseudo-ECG of a homogeneous infinite volume conductor (impressed current J = −σ_i ∇Vm):
 *   φ(r) = −(G / 4π) Σ_tets vol · ∇Vm(tet) · (r − c_tet) / |r − c_tet|³
 * With linear tets ∇Vm(tet) = Σ_i Vm_i ∇N_i, so φ = L · Vm with L (10 × nodes) computed once. Each row
 * of L sums to zero (a uniform Vm has no gradient), which the ECG code relies on. G is one global gain,
 * the same for every electrode: σ_i/(σ_i + σ_e) ≈ 0.5 for the bidomain conductivities, times 2 for the
 * torso boundary — the body is a bounded conductor in insulating air, and at an insulating boundary the
 * surface potential of a source is twice its infinite-medium value (the image source of a plane
 * boundary; 3× at the surface of a sphere for a central dipole). It is not fitted per lead.
 */

import { ELECTRODE_NAMES, N_ELECTRODES } from '@ecg-tmp/core';
import { type HeartMesh, SURFACE } from './mesh.ts';

/** Global gain: σ_i/(σ_i + σ_e) ≈ 0.5 times the insulating torso boundary's doubling (see the header). */
export const ECG_GAIN = 1;

const TORSO_A = 160;
const TORSO_B = 110;
/** Point on the anterior chest ellipse at lateral position x and height z. */
function chest(x: number, z: number): [number, number, number] {
  return [x, -TORSO_B * Math.sqrt(Math.max(0, 1 - (x / TORSO_A) ** 2)), z];
}

/** Electrode positions in the body frame, in ELECTRODE_NAMES order (RA, LA, LL, RL, V1…V6). */
export const ELECTRODES_BODY: readonly (readonly [number, number, number])[] = [
  [-150, 0, 120],
  [150, 0, 120],
  [60, 0, -200],
  [-60, 0, -200],
  chest(-25, 0),
  chest(25, 0),
  chest(52.5, -12.5),
  chest(80, -25),
  chest(128, -25),
  [160, 0, -25],
];

const APEX_BEHIND_V4_MM = 60;
/** Where the RV (LV → RV direction) points in the body: right and anterior. */
const SEPT_TARGET = [-1, -1, 0] as const;

type Vec3 = [number, number, number];
const sub = (a: readonly number[], b: readonly number[]): Vec3 => [
  a[0]! - b[0]!,
  a[1]! - b[1]!,
  a[2]! - b[2]!,
];
const dot = (a: readonly number[], b: readonly number[]) => a[0]! * b[0]! + a[1]! * b[1]! + a[2]! * b[2]!;
const cross = (a: readonly number[], b: readonly number[]): Vec3 => [
  a[1]! * b[2]! - a[2]! * b[1]!,
  a[2]! * b[0]! - a[0]! * b[2]!,
  a[0]! * b[1]! - a[1]! * b[0]!,
];
const unit = (a: readonly number[]): Vec3 => {
  const l = Math.hypot(a[0]!, a[1]!, a[2]!);
  return [a[0]! / l, a[1]! / l, a[2]! / l];
};
/** Component of a orthogonal to the unit vector u, normalised. */
const orthoUnit = (a: readonly number[], u: readonly number[]): Vec3 => {
  const d = dot(a, u);
  return unit([a[0]! - d * u[0]!, a[1]! - d * u[1]!, a[2]! - d * u[2]!]);
};

export interface HeartPlacement {
  /** Row-major rotation, body = R · (mesh − apexMesh) + apexBody. */
  readonly rotation: readonly number[];
  readonly apexMesh: Vec3;
  readonly apexBody: Vec3;
  /** Electrode positions in the mesh frame (ELECTRODE_NAMES order). */
  readonly electrodesMesh: readonly Vec3[];
}

function centroid(mesh: HeartMesh, label: number): Vec3 {
  let x = 0;
  let y = 0;
  let z = 0;
  let n = 0;
  for (let i = 0; i < mesh.nodeCount; i++) {
    if (mesh.surface[i] !== label) continue;
    x += mesh.points[3 * i]!;
    y += mesh.points[3 * i + 1]!;
    z += mesh.points[3 * i + 2]!;
    n++;
  }
  return [x / n, y / n, z / n];
}

/** Places the heart in the torso (see the module header) and maps the electrodes into the mesh frame. */
export function placeHeart(
  mesh: HeartMesh,
  electrodesBody: readonly (readonly [number, number, number])[] = ELECTRODES_BODY,
  apexDepthMm = APEX_BEHIND_V4_MM,
): HeartPlacement {
  let apex = 0;
  for (let i = 1; i < mesh.nodeCount; i++) if (mesh.points[3 * i + 2]! < mesh.points[3 * apex + 2]!) apex = i;
  const apexMesh: Vec3 = [mesh.points[3 * apex]!, mesh.points[3 * apex + 1]!, mesh.points[3 * apex + 2]!];
  const base = centroid(mesh, SURFACE.base);
  // Mesh frame: long axis (base → apex), LV → RV direction across it, and their cross product.
  const longM = unit(sub(apexMesh, base));
  const septM = orthoUnit(sub(centroid(mesh, SURFACE.rvEndo), centroid(mesh, SURFACE.lvEndo)), longM);
  const thirdM = cross(longM, septM);
  // Body frame targets: apex anterior-left-inferior; RV toward the right-anterior chest.
  const longB = unit([1, -1, -1]);
  const septB = orthoUnit(SEPT_TARGET, longB);
  const thirdB = cross(longB, septB);
  const rotation: number[] = [];
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++)
      rotation.push(longB[r]! * longM[c]! + septB[r]! * septM[c]! + thirdB[r]! * thirdM[c]!);
  }
  const v4 = electrodesBody[7]!;
  const inward = unit([v4[0] / TORSO_A ** 2, v4[1] / TORSO_B ** 2, 0]);
  const apexBody: Vec3 = [
    v4[0] - apexDepthMm * inward[0],
    v4[1] - apexDepthMm * inward[1],
    v4[2] - apexDepthMm * inward[2],
  ];
  // Inverse: mesh = Rᵀ · (body − apexBody) + apexMesh.
  const electrodesMesh = electrodesBody.map((e) => {
    const d = sub(e, apexBody);
    return [0, 1, 2].map(
      (c) => apexMesh[c]! + dot([rotation[c]!, rotation[3 + c]!, rotation[6 + c]!], d),
    ) as Vec3;
  });
  return { rotation, apexMesh, apexBody, electrodesMesh };
}

/** Maps a mesh-frame point into the body frame. */
export function meshToBody(place: HeartPlacement, p: readonly number[]): Vec3 {
  const d = sub(p, place.apexMesh);
  const R = place.rotation;
  return [0, 1, 2].map(
    (r) => place.apexBody[r]! + R[3 * r]! * d[0] + R[3 * r + 1]! * d[1] + R[3 * r + 2]! * d[2],
  ) as Vec3;
}

/**
 * Lead field L (N_ELECTRODES × nodes, row-major): electrode potential (mV) = Σ_n L[e, n] · Vm_n (mV).
 */
export function leadField(mesh: HeartMesh, electrodesMesh: readonly Vec3[], gain = ECG_GAIN): Float64Array {
  if (electrodesMesh.length !== N_ELECTRODES)
    throw new Error(`expected ${ELECTRODE_NAMES.length} electrodes`);
  const L = new Float64Array(N_ELECTRODES * mesh.nodeCount);
  const k = -gain / (4 * Math.PI);
  const { tets, points, tetVolume, tetGradients } = mesh;
  for (let t = 0; t < mesh.tetCount; t++) {
    let cx = 0;
    let cy = 0;
    let cz = 0;
    for (let i = 0; i < 4; i++) {
      const n = tets[4 * t + i]! * 3;
      cx += points[n]! / 4;
      cy += points[n + 1]! / 4;
      cz += points[n + 2]! / 4;
    }
    for (let e = 0; e < N_ELECTRODES; e++) {
      const r = electrodesMesh[e]!;
      const dx = r[0] - cx;
      const dy = r[1] - cy;
      const dz = r[2] - cz;
      const d2 = dx * dx + dy * dy + dz * dz;
      const w = (k * tetVolume[t]!) / (d2 * Math.sqrt(d2));
      for (let i = 0; i < 4; i++) {
        const g = 12 * t + 3 * i;
        const n = tets[4 * t + i]!;
        L[e * mesh.nodeCount + n]! +=
          w * (tetGradients[g]! * dx + tetGradients[g + 1]! * dy + tetGradients[g + 2]! * dz);
      }
    }
  }
  return L;
}
