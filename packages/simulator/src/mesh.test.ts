import { N_SITES } from '@ecg-tmp/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type HeartMesh, loadHeartMesh, SURFACE, WALL } from './mesh.ts';

let mesh: HeartMesh;
beforeAll(() => {
  mesh = loadHeartMesh();
});

describe('heart mesh', () => {
  it('has the real mesh sizes and the 75 sites within 3.2 mm of a node', () => {
    expect(mesh.nodeCount).toBe(8033);
    expect(mesh.tetCount).toBe(26854);
    expect(mesh.sites).toHaveLength(N_SITES);
    expect(mesh.sites[0]!.name).toBe('AHA01');
    expect(Math.max(...mesh.sites.map((s) => s.distanceMm))).toBeLessThan(3.2);
  });

  it('places each site inside a tetrahedron whose weighted corners give back its position', () => {
    for (const site of mesh.sites) {
      expect(site.weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
      expect(Math.min(...site.weights)).toBeGreaterThanOrEqual(0);
      const rebuilt = [0, 1, 2].map((axis) =>
        site.tetNodes.reduce((sum, n, i) => sum + site.weights[i]! * mesh.points[3 * n + axis]!, 0),
      );
      expect(Math.hypot(...rebuilt.map((v, axis) => v - site.position[axis]!))).toBeLessThan(1e-6);
    }
  });

  it('shape-function gradients reproduce a linear field exactly in every tetrahedron', () => {
    const f = (n: number) =>
      2 * mesh.points[3 * n]! - mesh.points[3 * n + 1]! + 0.5 * mesh.points[3 * n + 2]!;
    for (let t = 0; t < mesh.tetCount; t += 97) {
      const g = [0, 0, 0];
      for (let i = 0; i < 4; i++) {
        for (let d = 0; d < 3; d++)
          g[d]! += f(mesh.tets[4 * t + i]!) * mesh.tetGradients[12 * t + 3 * i + d]!;
      }
      expect(g[0]).toBeCloseTo(2, 6);
      expect(g[1]).toBeCloseTo(-1, 6);
      expect(g[2]).toBeCloseTo(0.5, 6);
      expect(mesh.tetVolume[t]).toBeGreaterThan(0);
    }
  });

  it('splits the boundary into base, epicardium (largest) and two endocardia, LV toward +x', () => {
    const { base, epi, lvEndo, rvEndo } = mesh.areas;
    expect(epi).toBeGreaterThan(lvEndo + rvEndo * 0.5);
    expect(Math.min(base, lvEndo, rvEndo)).toBeGreaterThan(500);
    const meanX = (label: number) => {
      let s = 0;
      let n = 0;
      mesh.surface.forEach((l, i) => {
        if (l === label) {
          s += mesh.points[3 * i]!;
          n++;
        }
      });
      return s / n;
    };
    expect(meanX(SURFACE.lvEndo)).toBeGreaterThan(meanX(SURFACE.rvEndo));
  });

  it('transmural coordinate is 0 on the endocardium and 1 on the epicardium; sites sit where named', () => {
    mesh.surface.forEach((l, n) => {
      if (l === SURFACE.lvEndo || l === SURFACE.rvEndo) expect(mesh.transmural[n]).toBe(0);
      if (l === SURFACE.epi) expect(mesh.transmural[n]).toBe(1);
    });
    const site = (name: string) => mesh.sites.find((s) => s.name === name)!;
    expect(mesh.surface[site('AHA02').node]).toBe(SURFACE.lvEndo);
    expect(mesh.surface[site('RV02').node]).toBe(SURFACE.rvEndo);
    expect(mesh.transmural[site('EPI_AHA05').node]).toBe(1);
    expect(mesh.apexBase[site('AHA17').node]).toBeLessThan(0.15);
    expect(mesh.apexBase[site('AHA01').node]).toBeGreaterThan(0.85);
  });

  it('splits the wall into LV free wall, septum (between the cavities) and RV free wall', () => {
    const at = (name: string) => mesh.wall[mesh.sites.find((s) => s.name === name)!.node];
    expect(at('EPI_AHA05')).toBe(WALL.lvFree);
    expect(at('EPI_RV07')).toBe(WALL.rvFree);
    expect(at('SEPTM_AHA08_RV10')).toBe(WALL.septum);
    const volume = [0, 0, 0];
    for (let t = 0; t < mesh.tetCount; t++) volume[mesh.wall[mesh.tets[4 * t]!]!]! += mesh.tetVolume[t]!;
    const total = volume[0]! + volume[1]! + volume[2]!;
    expect(volume[WALL.septum]! / total).toBeGreaterThan(0.1);
    expect(volume[WALL.septum]! / total).toBeLessThan(0.25);
    for (let n = 0; n < mesh.nodeCount; n++) {
      if (mesh.surface[n] === SURFACE.lvEndo) expect(mesh.wall[n]).not.toBe(WALL.rvFree);
      if (mesh.surface[n] === SURFACE.rvEndo) expect(mesh.wall[n]).not.toBe(WALL.lvFree);
    }
  });

  it('fibres are unit vectors', () => {
    for (let n = 0; n < mesh.nodeCount; n += 13) {
      expect(Math.hypot(mesh.fibres[3 * n]!, mesh.fibres[3 * n + 1]!, mesh.fibres[3 * n + 2]!)).toBeCloseTo(
        1,
        9,
      );
    }
  });
});
