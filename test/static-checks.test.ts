/**
 * Type checking and lint/format run as tests, so `npm test` (and CI's count) includes them.
 */
import { spawnSync } from 'node:child_process';
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
});
