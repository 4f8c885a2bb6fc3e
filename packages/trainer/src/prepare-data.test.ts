import { mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeNpy, InputError } from '@ecg-tmp/core';
import { listPairs, readPair } from '@ecg-tmp/core/node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openCache, readCacheIndex, SPLITS } from './data.ts';
import { assignSplits, main, prepareData, splitSizes } from './prepare-data.ts';

const GKR = 'data_hearts_dd_0p2_geo_act_1_bcl_gkr';

/** Folder → number of pairs; names in the real styles. */
const FOLDERS: [string, number][] = [
  ['data_hearts_dd_0p2', 20],
  [GKR, 10],
  ['data_hearts_dd_0p2_geo_inn_act_2_bcl_I', 5],
];

function suffix(folder: string, i: number): string {
  if (folder === 'data_hearts_dd_0p2') return `hearts_dd_0p2_volunteer.v${10 + i}_pattern.${i % 4}`;
  const tail = folder.replace('data_', '');
  return `${tail}_bcl.1000.gkr.${i % 2 ? '050' : '000'}.pattern.${i}.volunteer.v${12 + (i % 3)}`;
}

function random64(n: number, seed: number): Float64Array {
  let s = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 180 - 90 + i * 1e-9;
  }
  return out;
}

let tmp: string;
let root: string;

async function writeFixture(dir: string, only?: string): Promise<void> {
  let seed = 1;
  for (const [folder, n] of FOLDERS) {
    if (only !== undefined && folder !== only) continue;
    await mkdir(join(dir, folder), { recursive: true });
    for (let i = 0; i < n; i++) {
      const s = suffix(folder, i);
      await writeFile(join(dir, folder, `pECGData_${s}.npy`), encodeNpy(random64(5000, seed++), [500, 10]));
      await writeFile(join(dir, folder, `VmData_${s}.npy`), encodeNpy(random64(37500, seed++), [500, 75]));
    }
  }
}

async function filesOf(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const name of (await readdir(dir)).sort()) out.set(name, await readFile(join(dir, name)));
  return out;
}

async function errorOf(promise: Promise<unknown>): Promise<InputError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InputError);
  return err as InputError;
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'prepare-data-test-'));
  root = join(tmp, 'intracardiac_dataset');
  await writeFixture(root);
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('splitSizes / assignSplits', () => {
  it('rounds each tenth half up and gives train the rest', () => {
    expect(splitSizes(435)).toEqual({ train: 347, val: 44, test: 44 });
    expect(splitSizes(20)).toEqual({ train: 16, val: 2, test: 2 });
    expect(splitSizes(5)).toEqual({ train: 3, val: 1, test: 1 });
    expect(splitSizes(4)).toEqual({ train: 4, val: 0, test: 0 });
    expect(splitSizes(0)).toEqual({ train: 0, val: 0, test: 0 });
  });

  it('does not depend on the order of the pairs, and is not the name order', async () => {
    const { pairs } = await listPairs(root);
    const forward = assignSplits(pairs);
    const reversed = assignSplits([...pairs].reverse()).reverse();
    expect(reversed).toEqual(forward);
    const base = forward.slice(0, 20);
    expect(base.filter((s) => s === 'train')).toHaveLength(16);
    // Hash order: the held-out pairs are not simply the last ones by name.
    expect(base.slice(16)).not.toEqual(['val', 'val', 'test', 'test']);
  });
});

describe('prepareData', () => {
  let out: string;

  beforeAll(async () => {
    out = join(tmp, 'cache');
    await prepareData({ from: root, out });
  });

  it('splits 80/10/10 within each folder and stores every sample exactly once', async () => {
    const index = await readCacheIndex(out);
    expect(index.perFolder).toEqual({
      data_hearts_dd_0p2: { train: 16, val: 2, test: 2 },
      data_hearts_dd_0p2_geo_act_1_bcl_gkr: { train: 8, val: 1, test: 1 },
      data_hearts_dd_0p2_geo_inn_act_2_bcl_I: { train: 3, val: 1, test: 1 },
    });
    expect(index.counts).toEqual({ train: 27, val: 4, test: 4, total: 35 });
    const stored = SPLITS.flatMap((s) =>
      index.splits[s].ids.map((id, i) => `${index.splits[s].folders[i]}/${id}`),
    );
    const { pairs } = await listPairs(root);
    expect(stored.sort()).toEqual(pairs.map((p) => `${p.folder}/${p.id}`).sort());
    expect(new Set(stored).size).toBe(35);
    expect(index.skipped).toEqual([]);
    expect(index.ecg.leads).toEqual([
      'I',
      'II',
      'III',
      'aVR',
      'aVL',
      'aVF',
      'V1',
      'V2',
      'V3',
      'V4',
      'V5',
      'V6',
    ]);
  });

  it('reads back exactly what readPair gives, in file order', async () => {
    const cache = await openCache(out, { verify: true });
    const { pairs } = await listPairs(root);
    for (const split of SPLITS) {
      const s = cache[split];
      expect(s.ecg).toHaveLength(s.count * 12 * 500);
      expect(s.vm).toHaveLength(s.count * 75 * 500);
      for (let i = 0; i < s.count; i++) {
        const pair = pairs.find((p) => p.folder === s.folders[i] && p.id === s.ids[i])!;
        const expected = await readPair(pair);
        const ecg = s.ecg.subarray(i * 6000, (i + 1) * 6000);
        const vm = s.vm.subarray(i * 37500, (i + 1) * 37500);
        expect(ecg.findIndex((v, k) => v !== expected.ecg[k])).toBe(-1);
        expect(vm.findIndex((v, k) => v !== expected.vm[k])).toBe(-1);
      }
    }
    // One value checked against the source file by hand: site 7 at t = 3 of the first train sample.
    const first = pairs.find((p) => p.id === cache.train.ids[0] && p.folder === cache.train.folders[0])!;
    const raw = new DataView((await readFile(first.vmPath)).buffer);
    const headerEnd = 128; // encodeNpy pads a (500, 75) float64 header to 128 bytes
    expect(cache.train.vm[7 * 500 + 3]).toBe(Math.fround(raw.getFloat64(headerEnd + (3 * 75 + 7) * 8, true)));
  });

  it('writes identical bytes when run again', async () => {
    const again = join(tmp, 'cache-again');
    await prepareData({ from: root, out: again });
    const a = await filesOf(out);
    const b = await filesOf(again);
    expect([...b.keys()]).toEqual([...a.keys()]);
    expect([...a.keys()]).toEqual([
      'index.json',
      'test.ecg.f32',
      'test.vm.f32',
      'train.ecg.f32',
      'train.vm.f32',
      'val.ecg.f32',
      'val.vm.f32',
    ]);
    for (const [name, bytes] of a) expect(bytes.equals(b.get(name)!), name).toBe(true);
  });

  it('converts only the folders asked for', async () => {
    const small = join(tmp, 'cache-small');
    const index = await prepareData({
      from: root,
      out: small,
      folders: ['data_hearts_dd_0p2_geo_inn_act_2_bcl_I'],
    });
    expect(index.counts).toEqual({ train: 3, val: 1, test: 1, total: 5 });
  });
});

describe('damaged input and damaged caches', () => {
  it('leaves no cache (and no temporaries) when a run fails, and keeps an older cache intact', async () => {
    const broken = join(tmp, 'broken');
    await writeFixture(broken, GKR);
    const folder = join(broken, GKR);
    const bad = join(folder, `VmData_${suffix(GKR, 3)}.npy`);
    await writeFile(bad, encodeNpy(random64(500 * 74, 1), [500, 74]));

    const fresh = join(tmp, 'fresh');
    const err = await errorOf(prepareData({ from: broken, out: fresh }));
    expect(err.code).toBe('bad_dataset');
    expect(err.message).toContain(bad);
    expect(await readdir(fresh)).toEqual([]);
    expect((await errorOf(openCache(fresh))).message).toContain('no data cache');

    const existing = join(tmp, 'existing');
    await prepareData({ from: root, out: existing, folders: ['data_hearts_dd_0p2_geo_inn_act_2_bcl_I'] });
    const before = await filesOf(existing);
    await errorOf(prepareData({ from: broken, out: existing }));
    const after = await filesOf(existing);
    expect([...after.keys()]).toEqual([...before.keys()]);
    for (const [name, bytes] of before) expect(bytes.equals(after.get(name)!), name).toBe(true);

    const skipping = join(tmp, 'skipping');
    const index = await prepareData({ from: broken, out: skipping, skipBad: true });
    // The damaged pair was assigned before it was read: its split is one short of the rule.
    const { pairs } = await listPairs(broken, { skipBad: true });
    const lost = assignSplits(pairs)[pairs.findIndex((p) => p.vmPath === bad)]!;
    expect(index.counts).toEqual({ ...splitSizes(10), [lost]: splitSizes(10)[lost] - 1, total: 9 });
    expect(index.skipped).toEqual([{ path: bad, reason: 'expected shape (500, 75), got (500, 74)' }]);
    expect(index.splits.train.ids.concat(index.splits.val.ids, index.splits.test.ids)).not.toContain(
      suffix(GKR, 3),
    );
    expect((await openCache(skipping)).train.count).toBe(index.counts.train);
  });

  it('says which file of a cache is missing, short, altered or unreadable', async () => {
    const dir = join(tmp, 'damaged');
    await prepareData({ from: root, out: dir, folders: [GKR] });
    const index = await readFile(join(dir, 'index.json'), 'utf8');

    await truncate(join(dir, 'val.vm.f32'), 1000);
    expect((await errorOf(openCache(dir))).message).toMatch(/val\.vm\.f32 holds 1000 bytes.*prepare-data/);

    await rm(join(dir, 'val.vm.f32'));
    expect((await errorOf(openCache(dir))).message).toContain('cannot open val.vm.f32');

    await prepareData({ from: root, out: dir, folders: [GKR] });
    const train = await readFile(join(dir, 'train.ecg.f32'));
    train[100] = train[100]! ^ 1;
    await writeFile(join(dir, 'train.ecg.f32'), train);
    await openCache(dir); // sizes still agree
    expect((await errorOf(openCache(dir, { verify: true }))).message).toContain(
      'train.ecg.f32 does not match its sha256',
    );

    await writeFile(join(dir, 'index.json'), index.slice(0, 100));
    expect((await errorOf(openCache(dir))).message).toContain('not valid JSON');
    await writeFile(join(dir, 'index.json'), index.replace('"version": 1', '"version": 7'));
    expect((await errorOf(openCache(dir))).message).toContain('format version 7');
    await writeFile(join(dir, 'index.json'), index.replace('"count": 8', '"count": 9'));
    expect((await errorOf(openCache(dir))).message).toContain("split 'train' needs 9 ids");
  });
});

describe('main', () => {
  async function run(...argv: string[]): Promise<{ code: number; stderr: string }> {
    let stderr = '';
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr += String(chunk);
      return true;
    });
    try {
      return { code: await main(argv), stderr };
    } finally {
      spy.mockRestore();
    }
  }

  it('rejects bad flags with a message and the usage', async () => {
    const unknown = await run('--form', root);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Unknown option '--form'");
    expect(unknown.stderr).toContain('usage: npm run prepare-data');
    const missing = await run('--from', root);
    expect(missing).toMatchObject({ code: 2, stderr: expect.stringContaining('missing --out <dir>') });
    const empty = await run('--from', root, '--out', join(tmp, 'x'), '--folders', ',');
    expect(empty).toMatchObject({ code: 2, stderr: expect.stringContaining('--folders needs') });
  });

  it('reports bad data without a stack trace', async () => {
    const result = await run('--from', join(tmp, 'nowhere'), '--out', join(tmp, 'x'));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${join(tmp, 'nowhere')}: cannot read the data set folder (ENOENT)`);
    expect(result.stderr).not.toContain('    at ');
  });

  it('converts and prints progress', async () => {
    const result = await run('--from', root, '--out', join(tmp, 'cli'), '--skip-bad');
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('35 pairs in 3 folders');
    expect(result.stderr).toContain('train 27, val 4, test 4');
    expect((await openCache(join(tmp, 'cli'))).test.count).toBe(4);
  });
});
