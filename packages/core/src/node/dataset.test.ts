import { mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InputError } from '../errors.ts';
import { type EncodeNpyOptions, encodeNpy } from '../npy.ts';
import { type DatasetSample, listPairs, readDataset } from './dataset.ts';

const BASE = 'data_hearts_dd_0p2';
const GKR = 'data_hearts_dd_0p2_geo_act_1_bcl_gkr';
const INN = 'data_hearts_dd_0p2_geo_inn';

/** Deterministic float64 values in [-100, 100). */
function random64(n: number, seed: number): Float64Array {
  let s = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * 200 - 100;
  }
  return out;
}

interface FixturePair {
  folder: string;
  suffix: string;
  ecg: Float64Array;
  vm: Float64Array;
}

let root: string;
let fixture: FixturePair[];

async function writePair(p: FixturePair, options?: EncodeNpyOptions): Promise<void> {
  await mkdir(join(root, p.folder), { recursive: true });
  await writeFile(join(root, p.folder, `pECGData_${p.suffix}.npy`), encodeNpy(p.ecg, [500, 10], options));
  await writeFile(join(root, p.folder, `VmData_${p.suffix}.npy`), encodeNpy(p.vm, [500, 75], options));
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'dataset-test-'));
  const specs: [string, string][] = [
    [BASE, 'hearts_dd_0p2_volunteer.v10_pattern.0'],
    [BASE, 'hearts_dd_0p2_volunteer.v11_pattern.3'],
    [GKR, 'hearts_dd_0p2_geo_act_1_bcl_gkr_bcl.1000.gkr.000.pattern.0.volunteer.v12'],
    [GKR, 'hearts_dd_0p2_geo_act_1_bcl_gkr_bcl.1000.gkr.050.pattern.2.volunteer.v09'],
    [GKR, 'hearts_dd_0p2_geo_act_1_bcl_gkr_bcl.1000.gkr.000.pattern.1.volunteer.v12'],
    [INN, 'hearts_dd_0p2_geo_inn_volunteer.v13_pattern.4'],
  ];
  fixture = specs.map(([folder, suffix], i) => ({
    folder,
    suffix,
    ecg: random64(500 * 10, 2 * i + 1),
    vm: random64(500 * 75, 2 * i + 2),
  }));
  for (const p of fixture) await writePair(p);
  // Things the scan must ignore: another folder, a stray file, a non-.npy file in a pair folder.
  await mkdir(join(root, 'unrelated'));
  await writeFile(join(root, 'unrelated', 'pECGData_x.npy'), 'not read');
  await writeFile(join(root, 'README.txt'), 'hello');
  await writeFile(join(root, BASE, 'notes.txt'), 'hello');
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function collect(it: AsyncIterable<DatasetSample>): Promise<DatasetSample[]> {
  const out: DatasetSample[] = [];
  for await (const s of it) out.push(s);
  return out;
}

function find(folder: string, suffix: string): FixturePair {
  return fixture.find((p) => p.folder === folder && p.suffix === suffix)!;
}

/** Index of the first differing value, or -1 (one assertion instead of 37,500). */
function firstMismatch(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  return a.findIndex((v, i) => !Object.is(v, b[i]));
}

async function expectBad(promise: Promise<unknown>, ...fragments: string[]): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InputError);
  expect((err as InputError).code).toBe('bad_dataset');
  for (const f of fragments) expect((err as InputError).message).toContain(f);
}

describe('listPairs', () => {
  it('pairs files by name without the token, sorted by folder then file name', async () => {
    const { pairs, folders, skipped } = await listPairs(root);
    expect(folders).toEqual([join(root, BASE), join(root, GKR), join(root, INN)]);
    expect(skipped).toEqual([]);
    expect(pairs.map((p) => [p.folder, p.id])).toEqual([
      [BASE, 'hearts_dd_0p2_volunteer.v10_pattern.0'],
      [BASE, 'hearts_dd_0p2_volunteer.v11_pattern.3'],
      [GKR, 'hearts_dd_0p2_geo_act_1_bcl_gkr_bcl.1000.gkr.000.pattern.0.volunteer.v12'],
      [GKR, 'hearts_dd_0p2_geo_act_1_bcl_gkr_bcl.1000.gkr.000.pattern.1.volunteer.v12'],
      [GKR, 'hearts_dd_0p2_geo_act_1_bcl_gkr_bcl.1000.gkr.050.pattern.2.volunteer.v09'],
      [INN, 'hearts_dd_0p2_geo_inn_volunteer.v13_pattern.4'],
    ]);
    const first = pairs[2]!;
    expect(first.ecgPath).toBe(
      join(
        root,
        GKR,
        'pECGData_hearts_dd_0p2_geo_act_1_bcl_gkr_bcl.1000.gkr.000.pattern.0.volunteer.v12.npy',
      ),
    );
    expect(first.vmPath).toBe(
      join(root, GKR, 'VmData_hearts_dd_0p2_geo_act_1_bcl_gkr_bcl.1000.gkr.000.pattern.0.volunteer.v12.npy'),
    );
  });

  it('takes an explicit folder list', async () => {
    const { pairs } = await listPairs({ folders: [join(root, INN), join(root, BASE)] });
    expect(pairs.map((p) => p.folder)).toEqual([BASE, BASE, INN]);
  });

  it('follows symbolic links to folders and files', async () => {
    const elsewhere = await mkdtemp(join(tmpdir(), 'dataset-linked-'));
    try {
      await mkdir(join(elsewhere, 'files'));
      await symlink(join(root, INN), join(elsewhere, 'data_hearts_dd_0p2_geo_inn'));
      const linked = join(elsewhere, 'files', 'data_hearts_dd_0p2_geo_act_9_bcl');
      await mkdir(linked);
      for (const name of ['pECGData_x.npy', 'VmData_x.npy'])
        await symlink(join(root, BASE, name.replace('_x', `_${fixture[0]!.suffix}`)), join(linked, name));
      await symlink(linked, join(elsewhere, 'data_hearts_dd_0p2_geo_act_9_bcl'));
      const { pairs } = await listPairs(elsewhere);
      expect(pairs.map((p) => [p.folder, p.id])).toEqual([
        ['data_hearts_dd_0p2_geo_act_9_bcl', 'x'],
        ['data_hearts_dd_0p2_geo_inn', fixture[5]!.suffix],
      ]);
      const [first] = await collect(readDataset(elsewhere));
      expect(first!.vm[75]).toBe(Math.fround(fixture[0]!.vm[75 * 75]!));
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  it('fails clearly when no data set folder is there', async () => {
    await expectBad(listPairs(join(root, 'unrelated')), 'no data_hearts_dd_0p2* folders');
    await expectBad(listPairs(join(root, 'missing')), join(root, 'missing'), 'cannot read');
    await expectBad(listPairs({ folders: [] }), 'no data set folders');
  });

  it('treats a file without its partner as bad, or skips and reports it', async () => {
    const lone = join(root, INN, 'VmData_hearts_dd_0p2_geo_inn_volunteer.v20_pattern.0.npy');
    await writeFile(lone, encodeNpy(random64(500 * 75, 99), [500, 75]));
    await expectBad(listPairs(root), lone, 'no matching pECGData');

    const reported: string[] = [];
    const listing = await listPairs(root, { skipBad: true, onSkip: (path) => reported.push(path) });
    expect(listing.pairs).toHaveLength(6);
    expect(reported).toEqual([lone]);
    expect(listing.skipped).toEqual([{ path: lone, reason: expect.stringContaining('pECGData') }]);
  });
});

describe('readDataset', () => {
  it('round-trips float64 values to float32, derives the 12 leads and transposes Vm', async () => {
    const samples = await collect(readDataset(root, { electrodes: true }));
    expect(samples).toHaveLength(6);
    for (const s of samples) {
      const src = find(s.folder, fixture.find((p) => p.suffix === s.id)!.suffix);
      expect(s.ecg).toBeInstanceOf(Float32Array);
      expect(s.ecg).toHaveLength(12 * 500);
      expect(s.vm).toHaveLength(75 * 500);
      const vm = new Float32Array(75 * 500);
      for (let site = 0; site < 75; site++) {
        for (let t = 0; t < 500; t++) vm[site * 500 + t] = src.vm[t * 75 + site]!;
      }
      expect(firstMismatch(s.vm, vm)).toBe(-1);
      for (const t of [0, 1, 137, 499]) {
        const e = (c: number) => src.ecg[t * 10 + c]!;
        const w = (e(0) + e(1) + e(2)) / 3;
        const expected = [
          e(1) - e(0),
          e(2) - e(0),
          e(2) - e(1),
          1.5 * (e(0) - w),
          1.5 * (e(1) - w),
          1.5 * (e(2) - w),
          ...[4, 5, 6, 7, 8, 9].map((c) => e(c) - w),
        ];
        for (let lead = 0; lead < 12; lead++) {
          expect(s.ecg[lead * 500 + t]).toBe(Math.fround(expected[lead]!));
        }
        for (let c = 0; c < 10; c++) expect(s.electrodes![c * 500 + t]).toBe(Math.fround(e(c)));
      }
    }
    // Specific indices, so a transposition slip cannot hide behind a symmetric loop.
    const p = find(GKR, 'hearts_dd_0p2_geo_act_1_bcl_gkr_bcl.1000.gkr.050.pattern.2.volunteer.v09');
    const s = samples.find((x) => x.id === p.suffix)!;
    expect(s.vm[3 * 500 + 7]).toBe(Math.fround(p.vm[7 * 75 + 3]!));
    expect(s.vm[74 * 500 + 499]).toBe(Math.fround(p.vm[499 * 75 + 74]!));
    expect(s.ecg[6 * 500 + 10]).toBe(
      Math.fround(p.ecg[10 * 10 + 4]! - (p.ecg[100]! + p.ecg[101]! + p.ecg[102]!) / 3),
    );
    expect(s.electrodes).toBeDefined();
    expect(samples[0]!.id).toBe('hearts_dd_0p2_volunteer.v10_pattern.0');
  });

  it('leaves out the raw electrodes unless asked', async () => {
    const [first] = await collect(readDataset(root));
    expect(first!.electrodes).toBeUndefined();
  });

  it('reads big-endian float64 and float32 files alike', async () => {
    const p = fixture[0]!;
    await writePair(p, { endian: 'big' });
    const q = fixture[1]!;
    const q32 = { ...q, ecg: Float32Array.from(q.ecg), vm: Float32Array.from(q.vm) };
    await mkdir(join(root, q.folder), { recursive: true });
    await writeFile(join(root, q.folder, `pECGData_${q.suffix}.npy`), encodeNpy(q32.ecg, [500, 10]));
    await writeFile(
      join(root, q.folder, `VmData_${q.suffix}.npy`),
      encodeNpy(q32.vm, [500, 75], { endian: 'big' }),
    );
    const [a, b] = await collect(readDataset({ folders: [join(root, BASE)] }));
    expect(a!.vm[5 * 500 + 123]).toBe(Math.fround(p.vm[123 * 75 + 5]!));
    expect(a!.ecg[0 * 500 + 9]).toBe(Math.fround(p.ecg[91]! - p.ecg[90]!));
    expect(b!.vm[60 * 500 + 1]).toBe(q32.vm[1 * 75 + 60]);
    expect(b!.ecg[1 * 500 + 2]).toBe(Math.fround(q32.ecg[22]! - q32.ecg[20]!));
  });

  it('names the file and the problem for a wrong shape, NaN, Inf, or a truncated file', async () => {
    const p = fixture[3]!;
    const ecgPath = join(root, p.folder, `pECGData_${p.suffix}.npy`);
    const vmPath = join(root, p.folder, `VmData_${p.suffix}.npy`);

    await writeFile(vmPath, encodeNpy(random64(500 * 74, 1), [500, 74]));
    await expectBad(collect(readDataset(root)), vmPath, 'expected shape (500, 75), got (500, 74)');
    await writeFile(vmPath, encodeNpy(random64(500 * 75, 1), [75, 500]));
    await expectBad(collect(readDataset(root)), vmPath, 'got (75, 500)');
    await writePair(p);

    const nan = Float64Array.from(p.ecg);
    nan[3 * 10 + 2] = Number.NaN;
    await writeFile(ecgPath, encodeNpy(nan, [500, 10]));
    await expectBad(collect(readDataset(root)), ecgPath, 'NaN at row 3, column 2');

    const inf = Float64Array.from(p.vm);
    inf[10 * 75 + 5] = Number.NEGATIVE_INFINITY;
    await writePair(p);
    await writeFile(vmPath, encodeNpy(inf, [500, 75]));
    await expectBad(collect(readDataset(root)), vmPath, '-Infinity at row 10, column 5');

    inf[10 * 75 + 5] = 1e300;
    await writeFile(vmPath, encodeNpy(inf, [500, 75]));
    await expectBad(collect(readDataset(root)), vmPath, 'beyond float32 range');

    const big = Float64Array.from(p.ecg);
    big[20 * 10 + 0] = -3e38;
    big[20 * 10 + 1] = 3e38;
    await writePair(p);
    await writeFile(ecgPath, encodeNpy(big, [500, 10]));
    await expectBad(collect(readDataset(root)), ecgPath, 'lead I at step 20 overflows float32');

    await writePair(p);
    await truncate(ecgPath, 1000);
    await expectBad(collect(readDataset(root)), ecgPath, 'truncated');
  });

  it('with skipBad, leaves out damaged pairs and reports each one', async () => {
    const p = fixture[2]!;
    const ecgPath = join(root, p.folder, `pECGData_${p.suffix}.npy`);
    const nan = Float64Array.from(p.ecg);
    nan[0] = Number.NaN;
    await writeFile(ecgPath, encodeNpy(nan, [500, 10]));
    const q = fixture[5]!;
    const vmPath = join(root, q.folder, `VmData_${q.suffix}.npy`);
    await writeFile(vmPath, 'garbage');
    const lone = join(root, BASE, 'pECGData_hearts_dd_0p2_volunteer.v99_pattern.0.npy');
    await writeFile(lone, encodeNpy(random64(5000, 3), [500, 10]));

    const skipped: [string, string][] = [];
    const samples = await collect(
      readDataset(root, { skipBad: true, onSkip: (path, why) => skipped.push([path, why]) }),
    );
    expect(samples.map((s) => s.id)).toEqual([
      'hearts_dd_0p2_volunteer.v10_pattern.0',
      'hearts_dd_0p2_volunteer.v11_pattern.3',
      'hearts_dd_0p2_geo_act_1_bcl_gkr_bcl.1000.gkr.000.pattern.1.volunteer.v12',
      'hearts_dd_0p2_geo_act_1_bcl_gkr_bcl.1000.gkr.050.pattern.2.volunteer.v09',
    ]);
    expect(skipped.map(([path]) => path)).toEqual([lone, ecgPath, vmPath]);
    expect(skipped[1]![1]).toBe('NaN at row 0, column 0');
    expect(skipped[2]![1]).toContain('not a .npy file');
  });

  it('is lazy: samples before a damaged pair arrive before its error', async () => {
    await writeFile(join(root, INN, `VmData_${fixture[5]!.suffix}.npy`), 'garbage');
    const seen: string[] = [];
    await expectBad(
      (async () => {
        for await (const s of readDataset(root, { readAhead: 2 })) seen.push(s.id);
      })(),
      'VmData_hearts_dd_0p2_geo_inn',
    );
    expect(seen).toHaveLength(5);
    // Stopping early reads nothing more and throws nothing.
    for await (const s of readDataset(root)) {
      expect(s.folder).toBe(BASE);
      break;
    }
  });
});
