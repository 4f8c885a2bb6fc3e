/**
 * Type checking and lint/format run as tests, so `npm test` (and CI's count) includes them.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

function run(command: string, args: string[]) {
  const r = spawnSync(command, args, { encoding: 'utf8', cwd: new URL('..', import.meta.url).pathname });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('static checks', () => {
  it('type-checks every package (tsc, strict)', () => {
    const r = run('npm', ['run', '--silent', 'typecheck']);
    expect(r.output).not.toMatch(/error TS\d+/);
    expect(r.status).toBe(0);
  }, 240_000);

  it('passes biome lint and format checks', () => {
    const r = run('npx', ['biome', 'check', '--max-diagnostics=50', '.']);
    expect(r.status, r.output).toBe(0);
  }, 120_000);

  it("starts every command-line module through core's isMainModule (which holds inside a bundle)", () => {
    // The usual `process.argv[1] === fileURLToPath(import.meta.url)` is true for every module of a bundle.
    const root = new URL('..', import.meta.url).pathname;
    const files = run('git', ['ls-files', '-co', '--exclude-standard', '*.ts'])
      .output.split('\n')
      .filter(
        (f) =>
          f !== '' && !f.startsWith('packages/core/src/node/script') && f !== 'test/static-checks.test.ts',
      );
    expect(files.length).toBeGreaterThan(100);
    const usual =
      /process\.argv\[1\][^;{]{0,120}import\.meta\.url|import\.meta\.url[^;{]{0,120}process\.argv\[1\]/;
    const offenders = files.filter((f) => usual.test(readFileSync(`${root}${f}`, 'utf8')));
    expect(offenders).toEqual([]);
  });
});
