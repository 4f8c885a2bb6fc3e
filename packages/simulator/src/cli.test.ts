import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseNpy } from '@ecg-tmp/core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main, parseCli, UsageError } from './cli.ts';
import { generate } from './generate.ts';
import { createSimulator } from './simulator.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ecg-sim-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function listPairs(out: string): Promise<Map<string, { folder: string; files: string[] }>> {
  const pairs = new Map<string, { folder: string; files: string[] }>();
  for (const folder of await readdir(out)) {
    for (const file of await readdir(join(out, folder))) {
      const key = file.replace(/^(pECGData|VmData)_/, '');
      const entry = pairs.get(key) ?? { folder, files: [] };
      entry.files.push(file);
      pairs.set(key, entry);
    }
  }
  return pairs;
}

describe('cli', () => {
  it('writes the real layout with worker threads, byte-identical to the in-process simulator', async () => {
    const out = join(dir, 'threads');
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const code = await main(['--count', '20', '--seed', '9', '--out', out, '--workers', '2']);
    stderr.mockRestore();
    expect(code).toBe(0);
    const folders = await readdir(out);
    for (const f of folders) expect(f).toMatch(/^data_hearts_dd_0p2_[a-z]+$/);
    const pairs = await listPairs(out);
    expect(pairs.size).toBe(20);
    const sim = createSimulator();
    for (const [key, { folder, files }] of pairs) {
      expect(files.sort()).toEqual([`VmData_${key}`, `pECGData_${key}`]);
      expect(key).toMatch(new RegExp(`^${folder.slice('data_'.length)}_seed\\.9\\.idx\\.\\d{6}\\.npy$`));
      const ecg = parseNpy(await readFile(join(out, folder, `pECGData_${key}`)));
      const vm = parseNpy(await readFile(join(out, folder, `VmData_${key}`)));
      expect([ecg.dtype, ecg.shape]).toEqual(['<f8', [500, 10]]);
      expect([vm.dtype, vm.shape]).toEqual(['<f8', [500, 75]]);
      const index = Number(/idx\.(\d+)/.exec(key)![1]);
      const ref = sim.simulate(9, index);
      expect(ecg.data).toEqual(ref.electrodes);
      expect(vm.data).toEqual(ref.vm);
    }
  });

  it('a worker bundled away from the sources writes the same bytes, given the repository root', async () => {
    // As ../shared/gpu/pack.sh bundles it for benchmarks/gpu-run.ts: one file, far from assets/heart/.
    const { build } = await import('esbuild');
    const bundle = join(dir, 'bundle', 'worker.mjs');
    await build({
      entryPoints: [fileURLToPath(new URL('./worker.ts', import.meta.url))],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: bundle,
      logLevel: 'warning',
    });
    const out = join(dir, 'bundled');
    process.env.ECG_TMP_SIMULATOR_WORKER = bundle;
    try {
      // Without the root the bundle cannot find the mesh: so it is the bundle that runs.
      await expect(generate({ out: join(dir, 'rootless'), count: 16, seed: 9, workers: 2 })).rejects.toThrow(
        /mesh\.bin/,
      );
      process.env.ECG_TMP_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
      await generate({ out, count: 16, seed: 9, workers: 2 });
    } finally {
      delete process.env.ECG_TMP_SIMULATOR_WORKER;
      delete process.env.ECG_TMP_ROOT;
    }
    const pairs = await listPairs(out);
    expect(pairs.size).toBe(16);
    for (const [key, { folder }] of pairs) {
      for (const kind of ['pECGData', 'VmData']) {
        const a = await readFile(join(out, folder, `${kind}_${key}`));
        const b = await readFile(join(dir, 'threads', folder, `${kind}_${key}`));
        expect(a.equals(b)).toBe(true);
      }
    }
  });

  it('one worker writes the same bytes as two', async () => {
    const out = join(dir, 'single');
    await main(['--count', '6', '--seed', '9', '--out', out, '--workers', '1', '--quiet']);
    const pairs = await listPairs(out);
    expect(pairs.size).toBe(6);
    for (const [key, { folder }] of pairs) {
      const a = await readFile(join(out, folder, `pECGData_${key}`));
      const b = await readFile(join(dir, 'threads', folder, `pECGData_${key}`));
      expect(a.equals(b)).toBe(true);
    }
  });

  it('--ap fixed writes the fixed-AP variant in the same layout', async () => {
    const out = join(dir, 'fixed-ap');
    expect(
      await main(['--count', '3', '--seed', '9', '--out', out, '--workers', '1', '--quiet', '--ap', 'fixed']),
    ).toBe(0);
    const pairs = await listPairs(out);
    expect(pairs.size).toBe(3);
    const sim = createSimulator();
    for (const [key, { folder }] of pairs) {
      const vm = parseNpy(await readFile(join(out, folder, `VmData_${key}`)));
      const index = Number(/idx\.(\d+)/.exec(key)![1]);
      expect(vm.data).toEqual(sim.simulate(9, index, { ap: 'fixed' }).vm);
      expect(vm.data).not.toEqual(sim.simulate(9, index).vm);
    }
    expect(parseCli(['--count', '1', '--seed', '0', '--out', dir])?.ap).toBeUndefined();
  });

  it('rejects bad flags with a message naming the flag and the expected form, no stack trace', async () => {
    const cases: [string[], RegExp][] = [
      [['--count', 'ten', '--seed', '1', '--out', dir], /--count expects a positive integer/],
      [['--count', '5', '--seed', '-3', '--out', dir], /--seed/],
      [['--count', '5', '--out', dir], /--seed is required/],
      [
        ['--count', '5', '--seed', '1', '--out', dir, '--noise-snr', 'loud'],
        /--noise-snr expects a number of dB/,
      ],
      [
        ['--count', '5', '--seed', '1', '--out', dir, '--workers', '0'],
        /--workers expects a positive integer/,
      ],
      [
        ['--count', '5', '--seed', '1', '--out', dir, '--variant', 'weird'],
        /--variant expects one of normal, lbbb/,
      ],
      [['--count', '5', '--seed', '1', '--out', dir, '--colour'], /Unknown option '--colour'/],
      [['--count', '5', '--seed', '1', '--out', dir, '--start', '4294967295'], /--start \+ --count/],
      [['--count', '5', '--seed', '1', '--out', dir, '--mains-hz', '55'], /--mains-hz expects 50 or 60/],
      [['--count', '5', '--seed', '1', '--out', dir, '--ap', 'nominal'], /--ap expects one of drawn, fixed/],
    ];
    for (const [argv, message] of cases) expect(() => parseCli(argv)).toThrow(message);
    let text = '';
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      text += String(chunk);
      return true;
    });
    const code = await main(['--count', 'ten', '--seed', '1', '--out', dir]);
    stderr.mockRestore();
    expect(code).toBe(2);
    expect(text).toMatch(/^error: --count expects a positive integer \(number of pairs\), got 'ten'\n/);
    expect(text).not.toMatch(/\n\s+at /);
    expect(new UsageError('x')).toBeInstanceOf(Error);
  });

  it('parses noise flags', () => {
    const o = parseCli([
      '--count',
      '1',
      '--seed',
      '0',
      '--out',
      dir,
      '--noise-snr',
      '25',
      '--mains-hz',
      '60',
      '--mains-mv',
      '0.05',
    ]);
    expect(o?.noise).toEqual({ snrDb: 25, mainsHz: 60, mainsMv: 0.05 });
    expect(parseCli(['--help'])).toBeNull();
  });
});
