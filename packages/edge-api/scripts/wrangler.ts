/**
 * @module
 * Runs the pinned wrangler from Node for the edge's scripts (token admin, `npm start`, the benchmark):
 * always from the repository root (where the registry's wrangler.toml is), with no metrics, no banner and — for local
 * state — no request.cf lookup, so everything local works offline. Standard input is closed, which keeps
 * wrangler from prompting (it takes its non-interactive default, e.g. "apply these migrations").
 */

import { execFile, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const DATABASE = 'ecg-tmp';

const WRANGLER = createRequire(import.meta.url).resolve('wrangler/bin/wrangler.js');

/** Local state (optionally under another persist folder than .wrangler/state) or the real account. */
export type D1Target = { readonly kind: 'local'; readonly persistTo?: string } | { readonly kind: 'remote' };

export function targetArgs(target: D1Target): string[] {
  if (target.kind === 'remote') return ['--remote'];
  return ['--local', ...(target.persistTo === undefined ? [] : ['--persist-to', target.persistTo])];
}

export function wranglerEnv(target: D1Target): NodeJS.ProcessEnv {
  return {
    ...process.env,
    WRANGLER_SEND_METRICS: 'false',
    WRANGLER_HIDE_BANNER: 'true',
    ...(target.kind === 'local' ? { CLOUDFLARE_CF_FETCH_ENABLED: 'false' } : {}),
  };
}

/** wrangler exited non-zero; `message` carries the end of its output. */
export class WranglerError extends Error {
  override readonly name = 'WranglerError';
  constructor(
    message: string,
    readonly exitCode: number | null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Runs `wrangler <args>` to completion; resolves with its stdout. */
export function runWrangler(args: readonly string[], target: D1Target): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [WRANGLER, ...args],
      { cwd: ROOT, env: wranglerEnv(target), maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err === null) return resolve(stdout);
        const output = `${stdout}\n${stderr}`.trim().split('\n').slice(-15).join('\n');
        reject(
          new WranglerError(`wrangler ${args.slice(0, 3).join(' ')} failed:\n${output}`, child.exitCode, {
            cause: err,
          }),
        );
      },
    );
    child.stdin?.end();
  });
}

/** `wrangler d1 migrations apply ecg-tmp` against the target. */
export async function applyMigrations(target: D1Target): Promise<void> {
  await runWrangler(['d1', 'migrations', 'apply', DATABASE, ...targetArgs(target)], target);
}

/**
 * Runs SQL through `wrangler d1 execute --json` and returns each statement's rows. Wrangler has no bound
 * parameters on the command line, so callers must only interpolate values they generated or checked
 * against a strict pattern (see `sqlString`).
 */
export async function d1Execute(sql: string, target: D1Target): Promise<Record<string, unknown>[][]> {
  let stdout: string;
  try {
    stdout = await runWrangler(
      ['d1', 'execute', DATABASE, ...targetArgs(target), '--json', '--command', sql],
      target,
    );
  } catch (err) {
    if (err instanceof WranglerError && /no such table/.test(err.message)) {
      const where = targetArgs(target).join(' ');
      throw new WranglerError(
        `${err.message}\nthe database has no tables yet: npx wrangler d1 migrations apply ${DATABASE} ${where}`,
        err.exitCode,
        { cause: err },
      );
    }
    throw err;
  }
  const parsed = JSON.parse(stdout) as { results: Record<string, unknown>[] }[];
  return parsed.map((r) => r.results);
}

/** A SQL string literal of a value that matches `pattern`, a pattern that must exclude quotes. */
export function sqlString(value: string, pattern: RegExp, what: string): string {
  if (!pattern.test(value) || value.includes("'"))
    throw new TypeError(`${what} '${value}' is not allowed in SQL`);
  return `'${value}'`;
}

/** wrangler's --log-level: `info` logs every request, which costs time under load. */
export type LogLevel = 'debug' | 'info' | 'log' | 'warn' | 'error' | 'none';

/**
 * The Worker configs one local `wrangler dev` runs, from the repository root: the dev router first (the
 * one wrangler serves over HTTP), then the registry and the inference Worker it passes requests to.
 */
export const DEV_CONFIGS = [
  'packages/edge-api/wrangler.dev.toml',
  'wrangler.toml',
  'packages/edge-api/wrangler.inference.toml',
] as const;

/**
 * `wrangler dev` on loopback with local state, both Workers behind one origin (/v1 the registry, /v2
 * the inference Worker); the child leads its own process group (see stopDev).
 */
export function spawnDev(options: { port: number; persistTo?: string; ip?: string; logLevel?: LogLevel }) {
  const target: D1Target = {
    kind: 'local',
    ...(options.persistTo === undefined ? {} : { persistTo: options.persistTo }),
  };
  return spawn(
    process.execPath,
    [
      WRANGLER,
      'dev',
      ...DEV_CONFIGS.flatMap((config) => ['-c', config]),
      '--ip',
      options.ip ?? '127.0.0.1',
      '--port',
      String(options.port),
      ...(options.persistTo === undefined ? [] : ['--persist-to', options.persistTo]),
      '--show-interactive-dev-session=false',
      // The inference Worker's rate limit is off locally through packages/edge-api/.dev.vars.
      ...(options.logLevel === undefined ? [] : ['--log-level', options.logLevel]),
    ],
    { cwd: ROOT, env: wranglerEnv(target), stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
}
