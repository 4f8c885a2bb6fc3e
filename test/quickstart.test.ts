/**
 * `npm run quickstart` end to end on a small set: simulate → cache → evaluate, as a newcomer runs it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'quickstart-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function start(...args: string[]) {
  const r = spawnSync('npm', ['run', '--silent', 'quickstart', '--', ...args], {
    cwd: root,
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Row {
  name: string;
  exp: string;
  m: Record<string, number>;
}

describe('npm run quickstart', () => {
  const report = join(dir, 'report.json');

  it('simulates, caches and evaluates the baselines under Exp I and Exp II', () => {
    const r = start('--count', '40', '--seed', '3', '--data', dir, '--report', report);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('simulating 40 pairs');
    expect(r.stdout).toMatch(/predictor\s+experiment\s+mae\s+mse\s+r2\s+pearson\s+spearman/);
    const rows = (JSON.parse(readFileSync(report, 'utf8')) as { results: Row[] }).results;
    expect(rows.map((row) => `${row.name}/${row.exp}`)).toEqual([
      'mean/full',
      'mean/limited',
      'nearest/full',
      'nearest/limited',
    ]);
    for (const { m } of rows) {
      for (const k of ['mae', 'mse', 'r2', 'pearson', 'spearman']) expect(Number.isFinite(m[k])).toBe(true);
      expect(m.count).toBe(4 * 75 * 500);
    }
    // The mean template ignores the ECG: both experiments score the same.
    expect(rows[0]!.m.mae).toBe(rows[1]!.m.mae);
  }, 300_000);

  it('reuses the cached data on the second run', () => {
    const r = start('--count', '40', '--seed', '3', '--data', dir, '--report', report);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('simulating');
  }, 120_000);

  it('names a bad flag instead of crashing', () => {
    const r = start('--count', 'lots');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("--count must be an integer ≥ 20, got 'lots'");
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
