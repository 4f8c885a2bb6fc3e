import { beforeAll, describe, expect, it } from 'vitest';
import { edgeTable, propagate } from './eikonal.ts';
import { type HeartMesh, loadHeartMesh } from './mesh.ts';

let mesh: HeartMesh;
beforeAll(() => {
  mesh = loadHeartMesh();
});

const dist = (a: number, b: number) =>
  Math.hypot(
    mesh.points[3 * a]! - mesh.points[3 * b]!,
    mesh.points[3 * a + 1]! - mesh.points[3 * b + 1]!,
    mesh.points[3 * a + 2]! - mesh.points[3 * b + 2]!,
  );

describe('eikonal propagation', () => {
  it('isotropic, no fast layer: times are path lengths / v, never faster than the straight line', () => {
    const v = 0.5;
    const cond = { vLong: v, vTrans: v, vEndoLv: v, vEndoRv: v };
    const src = mesh.sites.find((s) => s.name === 'AHA17')!.node;
    const meanRatio = (refine: boolean) => {
      const t = propagate(
        mesh,
        edgeTable(mesh),
        cond,
        [{ node: src, timeMs: 3 }],
        undefined,
        undefined,
        undefined,
        refine,
      );
      expect(t[src]).toBe(3);
      let ratioSum = 0;
      let count = 0;
      for (let n = 0; n < mesh.nodeCount; n++) {
        expect(Number.isFinite(t[n]!)).toBe(true);
        const straight = dist(src, n) / v;
        expect(t[n]! - 3).toBeGreaterThanOrEqual(straight - 1e-9);
        if (straight > 40) {
          ratioSum += (t[n]! - 3) / straight;
          count++;
        }
      }
      return ratioSum / count;
    };
    // Edge paths are ~10% longer than straight lines (metrication error); the face updates halve that.
    const graph = meanRatio(false);
    const refined = meanRatio(true);
    expect(graph).toBeLessThan(1.2);
    expect(refined).toBeLessThan(graph - 0.03);
    expect(refined).toBeLessThan(1.08);
  });

  it('satisfies the eikonal (triangle) condition over every edge', () => {
    const cond = { vLong: 0.6, vTrans: 0.3, vEndoLv: 2.5, vEndoRv: 2.5 };
    const t = propagate(mesh, edgeTable(mesh), cond, [{ node: 100, timeMs: 0 }]);
    const edges = edgeTable(mesh);
    for (let k = 0; k < mesh.edges.length / 2; k++) {
      const a = mesh.edges[2 * k]!;
      const b = mesh.edges[2 * k + 1]!;
      // Slowest possible edge time is length / vTrans.
      expect(Math.abs(t[a]! - t[b]!)).toBeLessThanOrEqual(edges.length[k]! / 0.3 + 1e-9);
    }
  });

  it('a fast endocardial layer and anisotropy speed activation up; blocked nodes never activate', () => {
    const edges = edgeTable(mesh);
    const src = [{ node: mesh.sites.find((s) => s.name === 'AHA09')!.node, timeMs: 0 }];
    const slow = propagate(mesh, edges, { vLong: 0.5, vTrans: 0.5, vEndoLv: 0.5, vEndoRv: 0.5 }, src);
    const fast = propagate(mesh, edges, { vLong: 0.5, vTrans: 0.5, vEndoLv: 3, vEndoRv: 3 }, src);
    const max = (a: Float64Array) => Math.max(...a);
    expect(max(fast)).toBeLessThan(0.8 * max(slow));
    const blocked = new Float64Array(mesh.nodeCount).fill(1);
    blocked[500] = Number.POSITIVE_INFINITY;
    const t = propagate(mesh, edges, { vLong: 0.5, vTrans: 0.5, vEndoLv: 0.5, vEndoRv: 0.5 }, src, blocked);
    expect(t[500]).toBe(Number.POSITIVE_INFINITY);
  });

  it('the RV free wall is activated through its thickness at the fast speed; the LV wall is not', () => {
    const node = (name: string) => mesh.sites.find((s) => s.name === name)!.node;
    const cond = { vLong: 0.5, vTrans: 0.2, vEndoLv: 1, vEndoRv: 1 };
    const crossing = (edges: ReturnType<typeof edgeTable>, endo: string, epi: string) => {
      const t = propagate(mesh, edges, cond, [{ node: node(endo), timeMs: 0 }]);
      return t[node(epi)]! - t[node(endo)]!;
    };
    const wallFast = edgeTable(mesh);
    const endoOnly = edgeTable(mesh, false);
    expect(crossing(wallFast, 'RV07', 'EPI_RV07')).toBeLessThan(0.5 * crossing(endoOnly, 'RV07', 'EPI_RV07'));
    expect(crossing(wallFast, 'AHA05', 'EPI_AHA05')).toBe(crossing(endoOnly, 'AHA05', 'EPI_AHA05'));
    // RBBB: without its bundle's drive the RV wall is crossed as if only the endocardium were fast.
    const t = propagate(mesh, wallFast, { ...cond, rvWallFast: false }, [{ node: node('RV07'), timeMs: 0 }]);
    expect(t[node('EPI_RV07')]! - t[node('RV07')]!).toBeCloseTo(crossing(endoOnly, 'RV07', 'EPI_RV07'), 9);
  });
});
