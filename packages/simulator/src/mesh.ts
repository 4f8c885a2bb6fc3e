/**
 * @module
 * The ventricular mesh (LLNL cardiac_ml, MIT — see assets/heart/LICENSE and NOTICE) and everything the
 * simulator derives from it once: tetra volumes and shape-function gradients, the edge graph, the
 * boundary surface split into base / epicardium / LV and RV endocardium, a transmural and an apex–base
 * coordinate, a rule-based fibre field, and for each of the 75 recording sites its nearest node and the
 * tetrahedron (with barycentric weights) that holds it.
 *
 * The VTK carries no point data, so all of this is geometry:
 * 1. boundary faces are the faces that belong to exactly one tetrahedron (oriented outward);
 * 2. the base is the boundary faces lying in the top plane (z ≈ max, normal ≈ +z);
 * 3. the rest of the boundary splits into edge-connected components: the largest by area is the
 *    epicardium, the two next are the endocardia (the one further toward +x is the LV, the RV lies
 *    toward −x);
 * 4. transmural coordinate e = d_endo / (d_endo + d_epi) with graph distances over the edges
 *    (0 on the endocardium, 1 on the epicardium); apex–base coordinate h = (z − z_min)/(z_max − z_min);
 *    wall of each node: septum where the epicardium is farther than both endocardia (the node lies
 *    between the cavities), otherwise the free wall of the nearer ventricle;
 * 5. fibres rotate from +60° (endocardium) to −60° (epicardium) about the transmural direction,
 *    measured from the circumferential direction (long axis = mesh z).
 */

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * The first 8 bytes of mesh.bin (written by scripts/convert-vtk.ts). Kept here, not in the script, so
 * that loading the simulator never loads a script that runs when it takes itself for the entry point
 * (in a bundle every module shares the entry's URL).
 */
export const MESH_MAGIC = 'ECGMESH1';

export interface RecordingSite {
  readonly name: string;
  /** Position as given in points.csv (mm, mesh frame). */
  readonly position: readonly [number, number, number];
  /** Index of the nearest mesh node (seeds early activation near named sites). */
  readonly node: number;
  /** Distance from the site to that node (mm). */
  readonly distanceMm: number;
  /**
   * The tetrahedron holding the site (or, for a site just outside the mesh, the nearest one) and the
   * site's barycentric weights in it (≥ 0, summing to 1): Vm is sampled at the site's own position,
   * so sites closer together than the mesh spacing (AHA01, MID_AHA01, EPI_AHA01) still differ.
   */
  readonly tetNodes: readonly [number, number, number, number];
  readonly weights: readonly [number, number, number, number];
}

export const SURFACE = { interior: 0, base: 1, epi: 2, lvEndo: 3, rvEndo: 4 } as const;
export type SurfaceLabel = (typeof SURFACE)[keyof typeof SURFACE];
export const WALL = { lvFree: 0, septum: 1, rvFree: 2 } as const;

export interface HeartMesh {
  readonly nodeCount: number;
  readonly tetCount: number;
  /** xyz per node, mm, mesh frame (long axis z, base at the top). */
  readonly points: Float64Array;
  readonly tets: Uint16Array;
  /** Volume of each tetrahedron (mm³). */
  readonly tetVolume: Float64Array;
  /** Gradient of each of the 4 linear shape functions of each tet: 12 values per tet (mm⁻¹). */
  readonly tetGradients: Float64Array;
  /** Undirected edges as node pairs (2 per edge) and CSR adjacency: neighbours of n are
   * adjNode[adjStart[n] .. adjStart[n+1]), reached through edge adjEdge[...]. */
  readonly edges: Uint16Array;
  readonly adjStart: Int32Array;
  readonly adjNode: Uint16Array;
  readonly adjEdge: Int32Array;
  /** Per node: a SURFACE label (a node on several surfaces gets the endocardial one first). */
  readonly surface: Uint8Array;
  /** Per node: 0 on the endocardium … 1 on the epicardium. */
  readonly transmural: Float64Array;
  /** Per node: a WALL label (LV free wall, septum, RV free wall). */
  readonly wall: Uint8Array;
  /** Per node: 0 at the apex … 1 at the base. */
  readonly apexBase: Float64Array;
  /** Per node: unit fibre direction (3 values). */
  readonly fibres: Float64Array;
  readonly sites: readonly RecordingSite[];
  /** Surface areas (mm²) of the labelled boundary parts, for reports and tests. */
  readonly areas: {
    readonly base: number;
    readonly epi: number;
    readonly lvEndo: number;
    readonly rvEndo: number;
  };
}

/**
 * The committed mesh's folder: beside this package's sources, or under ECG_TMP_ROOT (the repository root)
 * when set — code bundled away from the sources (../shared/gpu/pack.sh's .gpu/) sets it.
 */
function assets(): URL {
  const root = process.env.ECG_TMP_ROOT;
  return root
    ? pathToFileURL(`${resolve(root, 'packages/simulator/assets/heart')}/`)
    : new URL('../assets/heart/', import.meta.url);
}

/** Reads the committed mesh and recording sites and derives the geometry (about 50 ms). */
export function loadHeartMesh(): HeartMesh {
  const { points, tets } = decodeMesh(readFileSync(new URL('mesh.bin', assets())));
  const sites = parseSitesCsv(readFileSync(new URL('points.csv', assets()), 'utf8'));
  return buildHeartMesh(points, tets, sites);
}

export function decodeMesh(bytes: Uint8Array): { points: Float64Array; tets: Uint16Array } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = String.fromCharCode(...bytes.subarray(0, 8));
  if (magic !== MESH_MAGIC) throw new Error(`mesh.bin: bad magic '${magic}'`);
  const nPoints = view.getUint32(8, true);
  const nTets = view.getUint32(12, true);
  if (bytes.byteLength !== 16 + nPoints * 12 + nTets * 8) throw new Error('mesh.bin: wrong size');
  const points = new Float64Array(nPoints * 3);
  for (let i = 0; i < points.length; i++) points[i] = view.getFloat32(16 + i * 4, true);
  const tets = new Uint16Array(nTets * 4);
  const t0 = 16 + nPoints * 12;
  for (let i = 0; i < tets.length; i++) tets[i] = view.getUint16(t0 + i * 2, true);
  return { points, tets };
}

/** Parses points.csv: header, then `x,y,z,'NAME'` per line. */
export function parseSitesCsv(text: string): { name: string; position: [number, number, number] }[] {
  return text
    .trim()
    .split(/\r?\n/)
    .slice(1)
    .map((line) => {
      const [x, y, z, name] = line.split(',');
      return {
        name: (name ?? '').trim().replace(/^'|'$/g, ''),
        position: [Number(x), Number(y), Number(z)] as [number, number, number],
      };
    });
}

export function buildHeartMesh(
  points: Float64Array,
  tets: Uint16Array,
  siteList: readonly { name: string; position: readonly [number, number, number] }[],
): HeartMesh {
  const nodeCount = points.length / 3;
  const tetCount = tets.length / 4;
  const { tetVolume, tetGradients } = tetGeometry(points, tets);
  const { edges, adjStart, adjNode, adjEdge } = edgeGraph(nodeCount, tets);
  const edgeLength = new Float64Array(edges.length / 2);
  for (let k = 0; k < edgeLength.length; k++) edgeLength[k] = dist(points, edges[2 * k]!, edges[2 * k + 1]!);

  const { surface, areas } = labelSurfaces(points, tets);
  const endoSources: number[] = [];
  const epiSources: number[] = [];
  surface.forEach((s, n) => {
    if (s === SURFACE.lvEndo || s === SURFACE.rvEndo) endoSources.push(n);
    else if (s === SURFACE.epi) epiSources.push(n);
  });
  const dEndo = graphDistance(nodeCount, adjStart, adjNode, adjEdge, edgeLength, endoSources);
  const dEpi = graphDistance(nodeCount, adjStart, adjNode, adjEdge, edgeLength, epiSources);
  const transmural = new Float64Array(nodeCount);
  for (let n = 0; n < nodeCount; n++) {
    const sum = dEndo[n]! + dEpi[n]!;
    transmural[n] = sum > 0 ? dEndo[n]! / sum : 0.5;
  }
  const nodesOf = (label: number): number[] => {
    const out: number[] = [];
    surface.forEach((s, n) => {
      if (s === label) out.push(n);
    });
    return out;
  };
  const dLv = graphDistance(nodeCount, adjStart, adjNode, adjEdge, edgeLength, nodesOf(SURFACE.lvEndo));
  const dRv = graphDistance(nodeCount, adjStart, adjNode, adjEdge, edgeLength, nodesOf(SURFACE.rvEndo));
  const wall = new Uint8Array(nodeCount);
  for (let n = 0; n < nodeCount; n++) {
    if (dEpi[n]! > Math.max(dLv[n]!, dRv[n]!)) wall[n] = WALL.septum;
    else wall[n] = dRv[n]! < dLv[n]! ? WALL.rvFree : WALL.lvFree;
  }
  let zMin = Number.POSITIVE_INFINITY;
  let zMax = Number.NEGATIVE_INFINITY;
  for (let n = 0; n < nodeCount; n++) {
    zMin = Math.min(zMin, points[3 * n + 2]!);
    zMax = Math.max(zMax, points[3 * n + 2]!);
  }
  const apexBase = new Float64Array(nodeCount);
  for (let n = 0; n < nodeCount; n++) apexBase[n] = (points[3 * n + 2]! - zMin) / (zMax - zMin);
  const fibres = fibreField(nodeCount, tets, tetVolume, tetGradients, transmural);

  const sites = siteList.map(({ name, position }) => {
    let best = 0;
    let bestD2 = Number.POSITIVE_INFINITY;
    for (let n = 0; n < nodeCount; n++) {
      const dx = points[3 * n]! - position[0];
      const dy = points[3 * n + 1]! - position[1];
      const dz = points[3 * n + 2]! - position[2];
      const d2 = dx * dx + dy * dy + dz * dz;
      if (d2 < bestD2) {
        bestD2 = d2;
        best = n;
      }
    }
    return {
      name,
      position,
      node: best,
      distanceMm: Math.sqrt(bestD2),
      ...enclosingTet(points, tets, position),
    };
  });

  return {
    nodeCount,
    tetCount,
    points,
    tets,
    tetVolume,
    tetGradients,
    edges,
    adjStart,
    adjNode,
    adjEdge,
    surface,
    transmural,
    wall,
    apexBase,
    fibres,
    sites,
    areas,
  };
}

function dist(p: Float64Array, a: number, b: number): number {
  const dx = p[3 * a]! - p[3 * b]!;
  const dy = p[3 * a + 1]! - p[3 * b + 1]!;
  const dz = p[3 * a + 2]! - p[3 * b + 2]!;
  return Math.sqrt(dx * dx + dy * dy + dz * dz);
}

/** Volumes and shape-function gradients: with J the rows p1−p0, p2−p0, p3−p0, ∇N_i = J⁻¹ e_i. */
function tetGeometry(points: Float64Array, tets: Uint16Array) {
  const tetCount = tets.length / 4;
  const tetVolume = new Float64Array(tetCount);
  const tetGradients = new Float64Array(tetCount * 12);
  for (let t = 0; t < tetCount; t++) {
    const p0 = tets[4 * t]! * 3;
    const j: number[] = [];
    for (let r = 1; r < 4; r++) {
      const pr = tets[4 * t + r]! * 3;
      for (let c = 0; c < 3; c++) j.push(points[pr + c]! - points[p0 + c]!);
    }
    const [a, b, c, d, e, f, g, h, i] = j as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
    tetVolume[t] = Math.abs(det) / 6;
    // Inverse of J (row-major); column r of J⁻¹ is ∇N_{r+1}.
    const inv = [
      (e * i - f * h) / det,
      (c * h - b * i) / det,
      (b * f - c * e) / det,
      (f * g - d * i) / det,
      (a * i - c * g) / det,
      (c * d - a * f) / det,
      (d * h - e * g) / det,
      (b * g - a * h) / det,
      (a * e - b * d) / det,
    ];
    for (let r = 0; r < 3; r++) {
      for (let k = 0; k < 3; k++) {
        const g = inv[3 * k + r]!;
        tetGradients[12 * t + 3 * (r + 1) + k] = g;
        tetGradients[12 * t + k] = tetGradients[12 * t + k]! - g;
      }
    }
  }
  return { tetVolume, tetGradients };
}

const TET_EDGES = [
  [0, 1],
  [0, 2],
  [0, 3],
  [1, 2],
  [1, 3],
  [2, 3],
] as const;

function edgeGraph(nodeCount: number, tets: Uint16Array) {
  const seen = new Map<number, number>();
  const list: number[] = [];
  for (let t = 0; t < tets.length / 4; t++) {
    for (const [i, j] of TET_EDGES) {
      const a = tets[4 * t + i]!;
      const b = tets[4 * t + j]!;
      const key = a < b ? a * nodeCount + b : b * nodeCount + a;
      if (!seen.has(key)) {
        seen.set(key, list.length / 2);
        list.push(Math.min(a, b), Math.max(a, b));
      }
    }
  }
  const edges = Uint16Array.from(list);
  const edgeCount = edges.length / 2;
  const adjStart = new Int32Array(nodeCount + 1);
  for (const n of edges) adjStart[n + 1]!++;
  for (let n = 0; n < nodeCount; n++) adjStart[n + 1]! += adjStart[n]!;
  const fill = adjStart.slice(0, nodeCount);
  const adjNode = new Uint16Array(2 * edgeCount);
  const adjEdge = new Int32Array(2 * edgeCount);
  for (let k = 0; k < edgeCount; k++) {
    const a = edges[2 * k]!;
    const b = edges[2 * k + 1]!;
    adjNode[fill[a]!] = b;
    adjEdge[fill[a]!++] = k;
    adjNode[fill[b]!] = a;
    adjEdge[fill[b]!++] = k;
  }
  return { edges, adjStart, adjNode, adjEdge };
}

const TET_FACES = [
  [1, 2, 3, 0],
  [0, 2, 3, 1],
  [0, 1, 3, 2],
  [0, 1, 2, 3],
] as const;

/** Finds the boundary faces and labels their nodes base / epicardium / LV / RV endocardium. */
function labelSurfaces(points: Float64Array, tets: Uint16Array) {
  const nodeCount = points.length / 3;
  const faceCount = new Map<number, number>();
  const faceKey = (a: number, b: number, c: number): number => {
    const s = [a, b, c].sort((x, y) => x - y) as [number, number, number];
    return (s[0] * nodeCount + s[1]) * nodeCount + s[2];
  };
  for (let t = 0; t < tets.length / 4; t++) {
    for (const [i, j, k] of TET_FACES) {
      const key = faceKey(tets[4 * t + i]!, tets[4 * t + j]!, tets[4 * t + k]!);
      faceCount.set(key, (faceCount.get(key) ?? 0) + 1);
    }
  }
  // Boundary faces, oriented outward (away from the tet's fourth node).
  const faces: number[] = [];
  const normals: number[] = [];
  const faceArea: number[] = [];
  for (let t = 0; t < tets.length / 4; t++) {
    for (const [i, j, k, l] of TET_FACES) {
      const a = tets[4 * t + i]!;
      const b = tets[4 * t + j]!;
      const c = tets[4 * t + k]!;
      if (faceCount.get(faceKey(a, b, c)) !== 1) continue;
      const u = [0, 1, 2].map((d) => points[3 * b + d]! - points[3 * a + d]!) as [number, number, number];
      const v = [0, 1, 2].map((d) => points[3 * c + d]! - points[3 * a + d]!) as [number, number, number];
      let n = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]];
      const o = tets[4 * t + l]!;
      const inward = [0, 1, 2].reduce((s, d) => s + n[d]! * (points[3 * o + d]! - points[3 * a + d]!), 0);
      if (inward > 0) n = n.map((x) => -x);
      const len = Math.hypot(n[0]!, n[1]!, n[2]!);
      faces.push(a, b, c);
      normals.push(n[0]! / len, n[1]! / len, n[2]! / len);
      faceArea.push(len / 2);
    }
  }
  const nFaces = faceArea.length;
  let zMax = Number.NEGATIVE_INFINITY;
  for (let n = 0; n < nodeCount; n++) zMax = Math.max(zMax, points[3 * n + 2]!);
  const isBase = new Uint8Array(nFaces);
  for (let f = 0; f < nFaces; f++) {
    const top = [0, 1, 2].every((d) => points[3 * faces[3 * f + d]! + 2]! > zMax - 0.5);
    isBase[f] = top && normals[3 * f + 2]! > 0.9 ? 1 : 0;
  }
  // Edge-connected components of the non-base boundary (union-find over shared edges).
  const parent = Int32Array.from({ length: nFaces }, (_, i) => i);
  const root = (x: number): number => {
    let r = x;
    while (parent[r] !== r) r = parent[r]!;
    while (parent[x] !== r) {
      const next = parent[x]!;
      parent[x] = r;
      x = next;
    }
    return r;
  };
  const edgeOwner = new Map<number, number>();
  for (let f = 0; f < nFaces; f++) {
    if (isBase[f]) continue;
    for (let e = 0; e < 3; e++) {
      const a = faces[3 * f + e]!;
      const b = faces[3 * f + ((e + 1) % 3)]!;
      const key = a < b ? a * nodeCount + b : b * nodeCount + a;
      const other = edgeOwner.get(key);
      if (other === undefined) edgeOwner.set(key, f);
      else parent[root(f)] = root(other);
    }
  }
  const comps = new Map<number, { area: number; cx: number; faces: number[] }>();
  for (let f = 0; f < nFaces; f++) {
    if (isBase[f]) continue;
    const r = root(f);
    const comp = comps.get(r) ?? { area: 0, cx: 0, faces: [] };
    comp.area += faceArea[f]!;
    comp.cx += faceArea[f]! * ((points[3 * faces[3 * f]!]! + points[3 * faces[3 * f + 1]!]!) / 2);
    comp.faces.push(f);
    comps.set(r, comp);
  }
  const sorted = [...comps.values()].sort((a, b) => b.area - a.area);
  if (sorted.length < 3)
    throw new Error(`mesh: expected epicardium + 2 endocardia, found ${sorted.length} surfaces`);
  const [epi, endoA, endoB] = sorted as [(typeof sorted)[0], (typeof sorted)[0], (typeof sorted)[0]];
  const [lv, rv] = endoA.cx / endoA.area > endoB.cx / endoB.area ? [endoA, endoB] : [endoB, endoA];

  const surface = new Uint8Array(nodeCount);
  const mark = (fs: number[], label: SurfaceLabel) => {
    for (const f of fs) {
      for (let d = 0; d < 3; d++) {
        const n = faces[3 * f + d]!;
        if (surface[n] === SURFACE.interior || surface[n] === SURFACE.base || label >= SURFACE.lvEndo) {
          surface[n] = label;
        }
      }
    }
  };
  const baseFaces: number[] = [];
  let baseArea = 0;
  for (let f = 0; f < nFaces; f++) {
    if (isBase[f]) {
      baseFaces.push(f);
      baseArea += faceArea[f]!;
    }
  }
  mark(baseFaces, SURFACE.base);
  mark(epi.faces, SURFACE.epi);
  mark(lv.faces, SURFACE.lvEndo);
  mark(rv.faces, SURFACE.rvEndo);
  return { surface, areas: { base: baseArea, epi: epi.area, lvEndo: lv.area, rvEndo: rv.area } };
}

/** Multi-source shortest-path distances over the edge graph (mm). */
function graphDistance(
  nodeCount: number,
  adjStart: Int32Array,
  adjNode: Uint16Array,
  adjEdge: Int32Array,
  edgeLength: Float64Array,
  sources: readonly number[],
): Float64Array {
  const d = new Float64Array(nodeCount).fill(Number.POSITIVE_INFINITY);
  const heap = new MinHeap(nodeCount);
  for (const s of sources) {
    d[s] = 0;
    heap.push(s, 0);
  }
  while (heap.size > 0) {
    const n = heap.pop();
    for (let k = adjStart[n]!; k < adjStart[n + 1]!; k++) {
      const m = adjNode[k]!;
      const alt = d[n]! + edgeLength[adjEdge[k]!]!;
      if (alt < d[m]!) {
        d[m] = alt;
        heap.push(m, alt);
      }
    }
  }
  return d;
}

/** Node fibre directions: +60° at the endocardium to −60° at the epicardium from circumferential. */
function fibreField(
  nodeCount: number,
  tets: Uint16Array,
  tetVolume: Float64Array,
  tetGradients: Float64Array,
  transmural: Float64Array,
): Float64Array {
  const grad = new Float64Array(nodeCount * 3);
  for (let t = 0; t < tets.length / 4; t++) {
    let gx = 0;
    let gy = 0;
    let gz = 0;
    for (let i = 0; i < 4; i++) {
      const e = transmural[tets[4 * t + i]!]!;
      gx += e * tetGradients[12 * t + 3 * i]!;
      gy += e * tetGradients[12 * t + 3 * i + 1]!;
      gz += e * tetGradients[12 * t + 3 * i + 2]!;
    }
    const w = tetVolume[t]!;
    for (let i = 0; i < 4; i++) {
      const n = tets[4 * t + i]!;
      grad[3 * n] = grad[3 * n]! + w * gx;
      grad[3 * n + 1] = grad[3 * n + 1]! + w * gy;
      grad[3 * n + 2] = grad[3 * n + 2]! + w * gz;
    }
  }
  const fibres = new Float64Array(nodeCount * 3);
  for (let n = 0; n < nodeCount; n++) {
    let tx = grad[3 * n]!;
    let ty = grad[3 * n + 1]!;
    let tz = grad[3 * n + 2]!;
    const tl = Math.hypot(tx, ty, tz) || 1;
    tx /= tl;
    ty /= tl;
    tz /= tl;
    // Circumferential c = ẑ × t; longitudinal l = t × c.
    let cx = -ty;
    let cy = tx;
    const cl = Math.hypot(cx, cy);
    if (cl < 1e-3) {
      cx = 1;
      cy = 0;
    } else {
      cx /= cl;
      cy /= cl;
    }
    const lx = ty * 0 - tz * cy;
    const ly = tz * cx - tx * 0;
    const lz = tx * cy - ty * cx;
    const ll = Math.hypot(lx, ly, lz) || 1;
    const alpha = ((60 - 120 * transmural[n]!) * Math.PI) / 180;
    const ca = Math.cos(alpha);
    const sa = Math.sin(alpha);
    const fx = ca * cx + (sa * lx) / ll;
    const fy = ca * cy + (sa * ly) / ll;
    const fz = (sa * lz) / ll;
    // Normalise: near the apex t ∥ ẑ and the fallback c is not exactly orthogonal to t.
    const fl = Math.hypot(fx, fy, fz);
    fibres[3 * n] = fx / fl;
    fibres[3 * n + 1] = fy / fl;
    fibres[3 * n + 2] = fz / fl;
  }
  return fibres;
}

/** Binary min-heap of node ids keyed by float64 (lazy: stale entries are skipped by callers' checks). */
export class MinHeap {
  private ids: Int32Array;
  private keys: Float64Array;
  size = 0;
  constructor(capacity: number) {
    this.ids = new Int32Array(capacity);
    this.keys = new Float64Array(capacity);
  }
  push(id: number, key: number): void {
    if (this.size === this.ids.length) {
      const ids = new Int32Array(this.ids.length * 2);
      ids.set(this.ids);
      const keys = new Float64Array(this.keys.length * 2);
      keys.set(this.keys);
      this.ids = ids;
      this.keys = keys;
    }
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.keys[p]! <= key) break;
      this.ids[i] = this.ids[p]!;
      this.keys[i] = this.keys[p]!;
      i = p;
    }
    this.ids[i] = id;
    this.keys[i] = key;
  }
  /** Key of the smallest entry (call only when size > 0). */
  peekKey(): number {
    return this.keys[0]!;
  }
  pop(): number {
    const top = this.ids[0]!;
    const n = --this.size;
    const id = this.ids[n]!;
    const key = this.keys[n]!;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && this.keys[c + 1]! < this.keys[c]!) c++;
      if (this.keys[c]! >= key) break;
      this.ids[i] = this.ids[c]!;
      this.keys[i] = this.keys[c]!;
      i = c;
    }
    this.ids[i] = id;
    this.keys[i] = key;
    return top;
  }
  clear(): void {
    this.size = 0;
  }
}

/** Barycentric coordinates of `p` in tet `k` (4 values summing to 1; all ≥ 0 inside). */
function barycentric(points: Float64Array, tets: Uint16Array, k: number, p: readonly number[]): number[] {
  const [a, b, c, d] = [0, 1, 2, 3].map((i) => 3 * tets[4 * k + i]!) as [number, number, number, number];
  const col = (n: number) => [
    points[n]! - points[d]!,
    points[n + 1]! - points[d + 1]!,
    points[n + 2]! - points[d + 2]!,
  ];
  const [u, v, w] = [col(a), col(b), col(c)] as [number[], number[], number[]];
  const r = [p[0]! - points[d]!, p[1]! - points[d + 1]!, p[2]! - points[d + 2]!];
  const det3 = (x: number[], y: number[], z: number[]) =>
    x[0]! * (y[1]! * z[2]! - y[2]! * z[1]!) -
    y[0]! * (x[1]! * z[2]! - x[2]! * z[1]!) +
    z[0]! * (x[1]! * y[2]! - x[2]! * y[1]!);
  const det = det3(u, v, w);
  const l0 = det3(r, v, w) / det;
  const l1 = det3(u, r, w) / det;
  const l2 = det3(u, v, r) / det;
  return [l0, l1, l2, 1 - l0 - l1 - l2];
}

/** The tet containing `p`, or the one it is least outside of, with clamped, renormalised weights. */
function enclosingTet(
  points: Float64Array,
  tets: Uint16Array,
  p: readonly number[],
): { tetNodes: [number, number, number, number]; weights: [number, number, number, number] } {
  let best = 0;
  let bestWorst = Number.NEGATIVE_INFINITY;
  for (let k = 0; k < tets.length / 4; k++) {
    const worst = Math.min(...barycentric(points, tets, k, p));
    if (worst > bestWorst) {
      bestWorst = worst;
      best = k;
    }
    if (worst >= 0) break;
  }
  const clamped = barycentric(points, tets, best, p).map((w) => Math.max(0, w));
  const sum = clamped.reduce((a, b) => a + b, 0);
  return {
    tetNodes: [0, 1, 2, 3].map((i) => tets[4 * best + i]!) as [number, number, number, number],
    weights: clamped.map((w) => w / sum) as [number, number, number, number],
  };
}
