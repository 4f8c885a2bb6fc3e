/**
 * @module
 * One-off converter: the LLNL ventricular mesh (legacy ASCII VTK unstructured grid of tetrahedra) →
 * `assets/heart/mesh.bin`, the compact form the simulator loads at run time.
 *
 *   npx tsx packages/simulator/scripts/convert-vtk.ts ../shared/data/heart/heart_mesh.vtk
 *
 * mesh.bin layout (little-endian): magic "ECGMESH1" (8 bytes), uint32 point count, uint32 tet count,
 * float32 xyz per point (mm), uint16 × 4 node indices per tetrahedron.
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isMainModule } from '@ecg-tmp/core/node';
import { MESH_MAGIC } from '../src/mesh.ts';

/** Parses the POINTS and CELLS sections of a legacy ASCII VTK file made only of tetrahedra. */
export function parseVtkTets(text: string): { points: Float32Array; tets: Uint16Array } {
  const tokens = text.split(/\s+/);
  const find = (word: string): number => {
    const i = tokens.indexOf(word);
    if (i < 0) throw new Error(`VTK: no ${word} section`);
    return i;
  };
  const p = find('POINTS');
  const nPoints = Number(tokens[p + 1]);
  const points = new Float32Array(nPoints * 3);
  for (let i = 0; i < nPoints * 3; i++) points[i] = Number(tokens[p + 3 + i]);
  const c = find('CELLS');
  const nCells = Number(tokens[c + 1]);
  if (nPoints > 0xffff) throw new Error(`VTK: ${nPoints} points do not fit uint16 indices`);
  const tets = new Uint16Array(nCells * 4);
  for (let k = 0; k < nCells; k++) {
    const at = c + 3 + k * 5;
    if (tokens[at] !== '4') throw new Error(`VTK: cell ${k} is not a tetrahedron`);
    for (let j = 0; j < 4; j++) tets[k * 4 + j] = Number(tokens[at + 1 + j]);
  }
  if (points.some(Number.isNaN)) throw new Error('VTK: unreadable coordinates');
  return { points, tets };
}

export function encodeMesh(points: Float32Array, tets: Uint16Array): Uint8Array {
  const out = new Uint8Array(16 + points.byteLength + tets.byteLength);
  const view = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) out[i] = MESH_MAGIC.charCodeAt(i);
  view.setUint32(8, points.length / 3, true);
  view.setUint32(12, tets.length / 4, true);
  for (let i = 0; i < points.length; i++) view.setFloat32(16 + i * 4, points[i]!, true);
  const t0 = 16 + points.byteLength;
  for (let i = 0; i < tets.length; i++) view.setUint16(t0 + i * 2, tets[i]!, true);
  return out;
}

if (isMainModule(import.meta.url)) {
  const src = process.argv[2];
  if (!src) {
    console.error('usage: tsx scripts/convert-vtk.ts <heart_mesh.vtk>');
    process.exit(2);
  }
  const { points, tets } = parseVtkTets(readFileSync(src, 'latin1'));
  const dest = fileURLToPath(new URL('../assets/heart/mesh.bin', import.meta.url));
  writeFileSync(dest, encodeMesh(points, tets));
  console.log(`${dest}: ${points.length / 3} points, ${tets.length / 4} tetrahedra`);
}
