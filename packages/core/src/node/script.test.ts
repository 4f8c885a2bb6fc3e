import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isMainModule } from './script.ts';

const run = promisify(execFile);

describe('isMainModule', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'script-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is true only for the file node was started with', async () => {
    const cli = join(dir, 'cli.mjs');
    await writeFile(cli, '');
    const url = pathToFileURL(cli).href;
    expect(isMainModule(url, cli)).toBe(true);
    expect(isMainModule(url, join(dir, 'other.mjs'))).toBe(false);
    expect(isMainModule(url, undefined)).toBe(false);
    expect(isMainModule('data:text/javascript,', cli)).toBe(false);
  });

  it('matches through a symlinked folder', async () => {
    const real = join(dir, 'real');
    await mkdir(real);
    await writeFile(join(real, 'cli.mjs'), '');
    await symlink(real, join(dir, 'link'));
    expect(isMainModule(pathToFileURL(join(real, 'cli.mjs')).href, join(dir, 'link', 'cli.mjs'))).toBe(true);
  });

  /** dir/<name>.ts bundled into one file as ../shared/gpu/pack.sh bundles (esbuild, ESM for node). */
  async function bundle(name: string): Promise<string> {
    const { build } = await import('esbuild');
    const outfile = join(dir, `${name}.mjs`);
    const options = { bundle: true, platform: 'node', format: 'esm', target: 'node20' } as const;
    await build({ ...options, entryPoints: [join(dir, `${name}.ts`)], outfile, logLevel: 'warning' });
    return outfile;
  }

  it('keeps a bundled CLI module from starting, where the usual guard starts it', async () => {
    // Two command-line modules bundled into one entry, as ../shared/gpu/pack.sh bundles gpu-run.ts.
    const script = fileURLToPath(new URL('./script.ts', import.meta.url));
    await writeFile(
      join(dir, 'guarded.ts'),
      `import { isMainModule } from ${JSON.stringify(script)};\n` +
        `if (isMainModule(import.meta.url)) console.log('guarded main');\n`,
    );
    await writeFile(
      join(dir, 'usual.ts'),
      `import { fileURLToPath } from 'node:url';\n` +
        `if (process.argv[1] === fileURLToPath(import.meta.url)) console.log('usual main');\n`,
    );
    await writeFile(
      join(dir, 'entry.ts'),
      `import './guarded.ts';\nimport './usual.ts';\nconsole.log('entry');\n`,
    );
    const { stdout } = await run(process.execPath, [await bundle('entry')]);
    expect(stdout.trim().split('\n')).toEqual(['usual main', 'entry']);

    // Bundled as its own entry it does not start either: a bundle's entry calls main() itself.
    const own = await run(process.execPath, [await bundle('guarded')]);
    expect(own.stdout.trim()).toBe('');
  });
});
