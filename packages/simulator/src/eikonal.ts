/**
 * @module
 * Activation times by eikonal propagation over the tetra edges: T(x) = min over neighbours y of
 * T(y) + τ(x, y), solved exactly on the graph by Dijkstra with a binary heap.
 *
 * Edge travel times are anisotropic, τ = sqrt((d·f)²/v_l² + (|d|² − (d·f)²)/v_t²) with f the fibre
 * direction (mean of the two end nodes' squared projections), except along the thin fast endocardial
 * layer (edges with both ends on the LV or RV endocardium: isotropic, Purkinje-like speed). Scar nodes
 * slow every edge that touches them; blocked nodes are never reached (activation = Infinity).
 */

import { type HeartMesh, MinHeap, SURFACE } from './mesh.ts';

export interface ConductionParams {
  /** Myocardial speed along / across the fibres (mm/ms). */
  readonly vLong: number;
  readonly vTrans: number;
  /** Speed of the fast endocardial layer (mm/ms); at or below vLong means no fast layer there. */
  readonly vEndoLv: number;
  readonly vEndoRv: number;
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
  /** 1 = LV endocardial layer, 2 = RV endocardial layer, 0 = myocardium. */
  readonly layer: Uint8Array;
}

export function edgeTable(mesh: HeartMesh): EdgeTable {
  const n = mesh.edges.length / 2;
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
    const sa = mesh.surface[a];
    if (sa === mesh.surface[b] && sa === SURFACE.lvEndo) layer[k] = 1;
    else if (sa === mesh.surface[b] && sa === SURFACE.rvEndo) layer[k] = 2;
  }
  return { length, lengthSq, fibreSq, layer };
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
): Float64Array {
  const edgeCount = edges.length.length;
  const cost = new Float64Array(edgeCount);
  const il2 = 1 / (cond.vLong * cond.vLong);
  const it2 = 1 / (cond.vTrans * cond.vTrans);
  for (let k = 0; k < edgeCount; k++) {
    const myo = Math.sqrt(edges.fibreSq[k]! * il2 + (edges.lengthSq[k]! - edges.fibreSq[k]!) * it2);
    const layer = edges.layer[k];
    const fast =
      layer === 1 ? edges.length[k]! / cond.vEndoLv : layer === 2 ? edges.length[k]! / cond.vEndoRv : myo;
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
  const { adjStart, adjNode, adjEdge } = mesh;
  while (heap.size > 0) {
    const key = heap.peekKey();
    const n = heap.pop();
    if (key > out[n]!) continue; // stale entry
    for (let k = adjStart[n]!; k < adjStart[n + 1]!; k++) {
      const m = adjNode[k]!;
      const alt = key + cost[adjEdge[k]!]!;
      if (alt < out[m]!) {
        out[m] = alt;
        heap.push(m, alt);
      }
    }
  }
  return out;
}
