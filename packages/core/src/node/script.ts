/**
 * @module
 * "Is this module the script node was started with?" — the guard every command-line module puts around
 * its `main()`, in one place so that it also holds inside a bundle.
 *
 * Bundled (esbuild, as ../shared/gpu/pack.sh does), every module shares the bundle's `import.meta.url`,
 * and the usual `process.argv[1] === fileURLToPath(import.meta.url)` is then true in every bundled CLI
 * module at once: each would start its own main(). This module is bundled with them, so a caller whose URL
 * equals this module's own is inside a bundle and is never the script; the bundle's entry runs its
 * top-level code unguarded.
 */

import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/**
 * Whether the module at `moduleUrl` is the script node was started with (`process.argv[1]`), compared as
 * real paths (a symlinked checkout still matches); false for any module bundled into one file.
 * @example
 * if (isMainModule(import.meta.url)) main().catch(fail);
 */
export function isMainModule(moduleUrl: string, argv1: string | undefined = process.argv[1]): boolean {
  if (argv1 === undefined || !moduleUrl.startsWith('file:')) return false;
  if (moduleUrl === import.meta.url) return false;
  return realPath(fileURLToPath(moduleUrl)) === realPath(argv1);
}
