/**
 * @module
 * Activation times by eikonal propagation over the tetra edges: T(x) = min over neighbours y of
 * T(y) + τ(x, y), solved exactly on the graph by Dijkstra with a binary heap.
 *
 * Edge travel times are anisotropic, τ = sqrt((d·f)²/v_l² + (|d|² − (d·f)²)/v_t²) with f the fibre
 * direction (mean of the two end nodes' squared projections), except in the fast (Purkinje-fed) layer,
 * isotropic: edges with both ends on the LV or RV endocardium, and every edge of the RV free wall.
 * An adult RV free wall is 3–4 mm, largely trabeculated and reached by the Purkinje network, so it is
 * activated nearly through its thickness as the endocardial front passes (RV epicardial breakthrough
 * ~20 ms, Durrer 1970). The mesh's RV wall is ~5 mm of compact tissue; crossing it at cross-fibre speed
 * (~20 ms) would leave a large outward (anterior) double layer standing for longer than in a real RV,
 * the main cause of an R-dominant V1. The LV wall keeps only its endocardial surface fast: its front
 * crosses the wall at myocardial speed. Scar nodes slow every edge that touches them; blocked nodes are
 * never reached (activation = Infinity).
 *
 * Refinement (on by default): besides edge updates, a node m next to a just-finalised node x is also
 * updated through each triangle (x, y, m) of the mesh with y already finalised — the front may cross the
 * face anywhere on the segment xy (T = min over λ of (1−λ)T_x + λT_y + |m − x − λ(y − x)|_M, solved in
 * closed form). This removes most of the graph's metrication error (paths restricted to edges).
 */

import { type HeartMesh, MinHeap, SURFACE, WALL } from './mesh.ts';

export interface ConductionParams {
  /** Myocardial speed along / across the fibres (mm/ms). */
  readonly vLong: number;
  readonly vTrans: number;
  /** Speed of the fast endocardial layer (mm/ms); at or below vLong means no fast layer there. */
  readonly vEndoLv: number;
  readonly vEndoRv: number;
  /**
   * Whether the RV free wall's interior conducts at vEndoRv (default true). Its fast activation comes
   * from the Purkinje network the right bundle drives; with that bundle blocked (RBBB) the wall is
   * crossed at myocardial speed.
   */
  readonly rvWallFast?: boolean;
}

export interface EarlySite {
  readonly node: number;
  readonly timeMs: number;
}

/** Edge data that does not change between samples, computed once per mesh. */
export interface EdgeTable {
  readonly length: Float64Array;
  readonly lengthSq: Float64Array;
  /** Squared projection of the edge on the fibres. */
  readonly fibreSq: Float64Array;
  /** 1 = LV endocardial layer, 2 = RV endocardial layer, 3 = RV free wall (interior), 0 = myocardium. */
  readonly layer: Uint8Array;
  /** Per node: 1 LV endocardium, 2 RV endocardium, 3 RV free-wall interior, 0 other. */
  readonly fastNode: Uint8Array;
  /** Per edge, the third nodes of the mesh triangles containing it: faceNode[faceStart[k] .. faceStart[k+1]). */
  readonly faceStart: Int32Array;
  readonly faceNode: Uint16Array;
}

/** `rvWallFast`: the whole RV free wall belongs to the RV fast layer (default; false = endocardium only). */
export function edgeTable(mesh: HeartMesh, rvWallFast = true): EdgeTable {
  const n = mesh.edges.length / 2;
  const fastNode = new Uint8Array(mesh.nodeCount);
  for (let i = 0; i < mesh.nodeCount; i++) {
    if (mesh.surface[i] === SURFACE.lvEndo) fastNode[i] = 1;
    else if (mesh.surface[i] === SURFACE.rvEndo) fastNode[i] = 2;
    else if (rvWallFast && mesh.wall[i] === WALL.rvFree) fastNode[i] = 3;
  }
  const length = new Float64Array(n);
  const lengthSq = new Float64Array(n);
  const fibreSq = new Float64Array(n);
  const layer = new Uint8Array(n);
  const p = mesh.points;
  const f = mesh.fibres;
  for (let k = 0; k < n; k++) {
    const a = mesh.edges[2 * k]!;
    const b = mesh.edges[2 * k + 1]!;
    const dx = p[3 * b]! - p[3 * a]!;
    const dy = p[3 * b + 1]! - p[3 * a + 1]!;
    const dz = p[3 * b + 2]! - p[3 * a + 2]!;
    lengthSq[k] = dx * dx + dy * dy + dz * dz;
    length[k] = Math.sqrt(lengthSq[k]!);
    const pa = dx * f[3 * a]! + dy * f[3 * a + 1]! + dz * f[3 * a + 2]!;
    const pb = dx * f[3 * b]! + dy * f[3 * b + 1]! + dz * f[3 * b + 2]!;
    fibreSq[k] = 0.5 * (pa * pa + pb * pb);
    const la = fastNode[a]!;
    const lb = fastNode[b]!;
    if (la === 1 && lb === 1) layer[k] = 1;
    else if (la >= 2 && lb >= 2) layer[k] = Math.max(la, lb);
  }
  // Third nodes of the triangles on each edge: every tet adds its two other nodes (deduplicated).
  const N = mesh.nodeCount;
  const edgeId = new Map<number, number>();
  for (let k = 0; k < n; k++) edgeId.set(mesh.edges[2 * k]! * N + mesh.edges[2 * k + 1]!, k);
  const lists: number[][] = Array.from({ length: n }, () => []);
  const t = mesh.tets;
  for (let c = 0; c < mesh.tetCount; c++) {
    for (let i = 0; i < 4; i++) {
      for (let j = i + 1; j < 4; j++) {
        const a = t[4 * c + i]!;
        const b = t[4 * c + j]!;
        const list = lists[edgeId.get(a < b ? a * N + b : b * N + a)!]!;
        for (let q = 0; q < 4; q++) {
          const y = t[4 * c + q]!;
          if (q !== i && q !== j && !list.includes(y)) list.push(y);
        }
      }
    }
  }
  const faceStart = new Int32Array(n + 1);
  for (let k = 0; k < n; k++) faceStart[k + 1] = faceStart[k]! + lists[k]!.length;
  const faceNode = new Uint16Array(faceStart[n]!);
  lists.forEach((list, k) => {
    faceNode.set(list, faceStart[k]!);
  });
  return { length, lengthSq, fibreSq, layer, fastNode, faceStart, faceNode };
}

/**
 * min over λ ∈ [0, 1] of λ·δ + sqrt(A − 2Bλ + Cλ²) for an interior λ (null when the minimum is at an
 * end, which the edge updates already cover). δ = T_y − T_x; A, B, C: metric products of u = m − x and
 * w = y − x (A = |u|², B = ⟨u, w⟩, C = |w|²).
 */
function faceMin(delta: number, A: number, B: number, C: number): number | null {
  const d2 = delta * delta;
  if (C <= d2) return null;
  const disc = A * C - B * B;
  if (disc <= 0) return null;
  const s = -Math.sign(delta) * Math.abs(delta) * Math.sqrt(disc / (C - d2));
  const lambda = (B + s) / C;
  if (!(lambda > 0 && lambda < 1)) return null;
  return lambda * delta + Math.sqrt(A - 2 * B * lambda + C * lambda * lambda);
}

/**
 * Activation time of every node (ms). `slowness` (optional, per node, ≥ 1; Infinity = blocked) divides
 * the local speed: an edge's time is multiplied by the mean slowness of its two ends.
 */
export function propagate(
  mesh: HeartMesh,
  edges: EdgeTable,
  cond: ConductionParams,
  sites: readonly EarlySite[],
  slowness?: Float64Array,
  out: Float64Array = new Float64Array(mesh.nodeCount),
  heap: MinHeap = new MinHeap(mesh.nodeCount * 2),
  refine = true,
): Float64Array {
  const edgeCount = edges.length.length;
  const cost = new Float64Array(edgeCount);
  const rvWallFast = cond.rvWallFast ?? true;
  /** Ventricle of a fast-layer label: 1 LV, 2 RV (endocardium or wall), 0 none. */
  const ventricle = (label: number) => (label === 1 ? 1 : label >= 2 ? 2 : 0);
  const il2 = 1 / (cond.vLong * cond.vLong);
  const it2 = 1 / (cond.vTrans * cond.vTrans);
  for (let k = 0; k < edgeCount; k++) {
    const myo = Math.sqrt(edges.fibreSq[k]! * il2 + (edges.lengthSq[k]! - edges.fibreSq[k]!) * it2);
    const layer = edges.layer[k];
    const fast =
      layer === 1
        ? edges.length[k]! / cond.vEndoLv
        : layer === 2 || (layer === 3 && rvWallFast)
          ? edges.length[k]! / cond.vEndoRv
          : myo;
    let c = Math.min(fast, myo);
    if (slowness) c *= 0.5 * (slowness[mesh.edges[2 * k]!]! + slowness[mesh.edges[2 * k + 1]!]!);
    cost[k] = c;
  }
  out.fill(Number.POSITIVE_INFINITY);
  heap.clear();
  for (const s of sites) {
    if (slowness && !Number.isFinite(slowness[s.node]!)) continue;
    if (s.timeMs < out[s.node]!) {
      out[s.node] = s.timeMs;
      heap.push(s.node, s.timeMs);
    }
  }
  const { adjStart, adjNode, adjEdge, points: p, fibres: f } = mesh;
  const { faceStart, faceNode, fastNode } = edges;
  const done = new Uint8Array(mesh.nodeCount);
  const dl = il2 - it2;
  while (heap.size > 0) {
    const key = heap.peekKey();
    const n = heap.pop();
    if (key > out[n]! || done[n]) continue; // stale entry
    done[n] = 1;
    for (let k = adjStart[n]!; k < adjStart[n + 1]!; k++) {
      const m = adjNode[k]!;
      if (done[m]) continue;
      const e = adjEdge[k]!;
      let best = key + cost[e]!;
      if (refine) {
        // Triangle updates through (n, y, m) with y finalised.
        const ux = p[3 * m]! - p[3 * n]!;
        const uy = p[3 * m + 1]! - p[3 * n + 1]!;
        const uz = p[3 * m + 2]! - p[3 * n + 2]!;
        const lm = fastNode[m]!;
        const vm = ventricle(lm);
        for (let q = faceStart[e]!; q < faceStart[e + 1]!; q++) {
          const y = faceNode[q]!;
          if (!done[y]) continue;
          let scale = 1;
          if (slowness) {
            scale = (slowness[n]! + slowness[m]! + slowness[y]!) / 3;
            if (!Number.isFinite(scale)) continue;
          }
          const wx = p[3 * y]! - p[3 * n]!;
          const wy = p[3 * y + 1]! - p[3 * n + 1]!;
          const wz = p[3 * y + 2]! - p[3 * n + 2]!;
          let A: number;
          let B: number;
          let C: number;
          const ln = fastNode[n]!;
          const ly = fastNode[y]!;
          const fastLayer =
            vm !== 0 &&
            ventricle(ln) === vm &&
            ventricle(ly) === vm &&
            (rvWallFast || (lm !== 3 && ln !== 3 && ly !== 3));
          const vFast = vm === 1 ? cond.vEndoLv : cond.vEndoRv;
          if (fastLayer && vFast > cond.vLong) {
            const iv2 = 1 / (vFast * vFast);
            A = (ux * ux + uy * uy + uz * uz) * iv2;
            B = (ux * wx + uy * wy + uz * wz) * iv2;
            C = (wx * wx + wy * wy + wz * wz) * iv2;
          } else {
            const fu = ux * f[3 * m]! + uy * f[3 * m + 1]! + uz * f[3 * m + 2]!;
            const fw = wx * f[3 * m]! + wy * f[3 * m + 1]! + wz * f[3 * m + 2]!;
            A = (ux * ux + uy * uy + uz * uz) * it2 + fu * fu * dl;
            B = (ux * wx + uy * wy + uz * wz) * it2 + fu * fw * dl;
            C = (wx * wx + wy * wy + wz * wz) * it2 + fw * fw * dl;
          }
          const s2 = scale * scale;
          const t = faceMin(out[y]! - key, A * s2, B * s2, C * s2);
          if (t !== null && key + t < best) best = key + t;
        }
      }
      if (best < out[m]!) {
        out[m] = best;
        heap.push(m, best);
      }
    }
  }
  return out;
}
