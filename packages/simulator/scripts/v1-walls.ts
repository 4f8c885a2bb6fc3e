/**
 * Which wall makes V1: V1 (Wilson-referenced) split into the sources of the LV free wall, the septum
 * and the RV free wall, over the QRS of one scenario's samples (normal by default). The pseudo-ECG is a sum over
 * tetrahedra of vol · ∇Vm · (lead vector), so grouping the tetrahedra by wall (the majority label of
 * their corners) splits V1 exactly: the three parts add up to V1.
 *
 *   npx tsx packages/simulator/scripts/v1-walls.ts [count = 10] [seed = 1] [variant = normal]
 *
 * Prints, per wall and for V1 itself, the median over the samples of the most positive and the most
 * negative contribution during the first 200 ms (mV).
 */

import { WALL } from '../src/mesh.ts';
import { VARIANTS, type Variant } from '../src/scenarios.ts';
import { createSimulator } from '../src/simulator.ts';
import { ECG_GAIN } from '../src/torso.ts';

const [count = 10, seed = 1] = process.argv.slice(2, 4).map(Number);
const variant = (process.argv[4] ?? 'normal') as Variant;
if (!VARIANTS.includes(variant)) throw new Error(`variant must be one of ${VARIANTS.join(', ')}`);
const WINDOW_MS = 200;
const V1 = 4;
const sim = createSimulator();
const { mesh } = sim;
const N = mesh.nodeCount;

// 1. Per-tet V1 − W weights of each corner's Vm, and each tet's wall.
const weight = new Float64Array(4 * mesh.tetCount);
const tetWall = new Uint8Array(mesh.tetCount);
const k = -ECG_GAIN / (4 * Math.PI);
const terms: readonly (readonly [number, number])[] = [
  [V1, 1],
  [0, -1 / 3],
  [1, -1 / 3],
  [2, -1 / 3],
];
for (let t = 0; t < mesh.tetCount; t++) {
  const c = [0, 0, 0];
  const votes = [0, 0, 0];
  for (let i = 0; i < 4; i++) {
    const n = mesh.tets[4 * t + i]!;
    for (let a = 0; a < 3; a++) c[a]! += mesh.points[3 * n + a]! / 4;
    votes[mesh.wall[n]!]!++;
  }
  tetWall[t] = votes.indexOf(Math.max(...votes));
  for (const [e, sign] of terms) {
    const r = sim.placement.electrodesMesh[e]!;
    const d = [r[0] - c[0]!, r[1] - c[1]!, r[2] - c[2]!];
    const d2 = d[0]! ** 2 + d[1]! ** 2 + d[2]! ** 2;
    const w = (sign * k * mesh.tetVolume[t]!) / (d2 * Math.sqrt(d2));
    for (let i = 0; i < 4; i++) {
      const g = 12 * t + 3 * i;
      weight[4 * t + i]! +=
        w *
        (mesh.tetGradients[g]! * d[0]! +
          mesh.tetGradients[g + 1]! * d[1]! +
          mesh.tetGradients[g + 2]! * d[2]!);
    }
  }
}

// 2. Each sample's extremes per wall (and of their sum, V1).
const highs: number[][] = [[], [], [], []];
const lows: number[][] = [[], [], [], []];
for (let i = 0; i < count; i++) {
  const s = sim.simulate(seed, i, { variant, includeNodeVm: true });
  const vm = s.nodeVm!;
  const hi = [-Infinity, -Infinity, -Infinity, -Infinity];
  const lo = [Infinity, Infinity, Infinity, Infinity];
  for (let t = 0; t <= WINDOW_MS; t++) {
    const part = [0, 0, 0];
    for (let q = 0; q < mesh.tetCount; q++) {
      let v = 0;
      for (let j = 0; j < 4; j++) v += weight[4 * q + j]! * vm[t * N + mesh.tets[4 * q + j]!]!;
      part[tetWall[q]!]! += v;
    }
    [...part, part[0]! + part[1]! + part[2]!].forEach((v, w) => {
      hi[w] = Math.max(hi[w]!, v);
      lo[w] = Math.min(lo[w]!, v);
    });
  }
  for (let w = 0; w < 4; w++) {
    highs[w]!.push(hi[w]!);
    lows[w]!.push(lo[w]!);
  }
}

const median = (a: number[]) => {
  const b = [...a].sort((x, y) => x - y);
  return (b[(b.length - 1) >> 1]! + b[b.length >> 1]!) / 2;
};
const names = ['LV free wall', 'septum', 'RV free wall', 'V1'];
const order = [WALL.rvFree, WALL.lvFree, WALL.septum, 3];
console.log(
  `V1 by wall, ${count} ${variant} samples (seed ${seed}): median most positive / most negative (mV)`,
);
for (const w of order) {
  console.log(
    `${names[w]!.padEnd(13)} ${median(highs[w]!).toFixed(2).padStart(6)} / ${median(lows[w]!).toFixed(2)}`,
  );
}
