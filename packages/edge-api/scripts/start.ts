/**
 * @module
 * `npm start` — the edge API on this machine with the default models, as a newcomer first runs it.
 *
 *   npm start -- [--port 8787] [--persist-to DIR]
 *
 *   1. applies the D1 migrations to the local state (.wrangler/state, or DIR), then creates a short-lived
 *      local publish token;
 *   2. meanwhile starts `wrangler dev` on 127.0.0.1 (offline: no metrics, no request.cf lookup) with both
 *      Workers behind one origin: /v1 the registry, /v2 the inference Worker (scripts/wrangler.ts);
 *   3. waits until GET /v2/health/live answers 200;
 *   4. publishes every version folder of the models models/aliases.json names, with their aliases (a
 *      version the aliases moved off stays downloadable) — a version already there with the same files
 *      is left as it is, so a second `npm start` republishes nothing;
 *   5. revokes the token (also when publishing failed), prints the URL and what is served, and runs until
 *      Ctrl-C, which it passes on to wrangler before exiting 0.
 * Exit codes: 0 stopped by Ctrl-C/SIGTERM, 2 bad flags or a model folder that fails its checks, 1 wrangler
 * or the local edge failed.
 */

import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { InputError, parseAliases } from '@ecg-tmp/core';
import { isMainModule } from '@ecg-tmp/core/node';
import { PublishError, type PublishReport, publishModel } from '../client/publish.ts';
import { createToken, revokeToken } from './token.ts';
import { applyMigrations, type LogLevel, ROOT, spawnDev, WranglerError } from './wrangler.ts';

export const DEFAULT_PORT = 8787;
export const MODELS_DIR = join(ROOT, 'models');
/** Long enough for a cold bundle of the Worker (onnxruntime-web included) on a busy two-core machine. */
const READY_TIMEOUT_MS = 90_000;
const SEED_LABEL = 'npm-start-seed';

/** A running `wrangler dev`. */
export interface DevServer {
  readonly url: string;
  readonly child: ChildProcess;
  /** performance.now() when wrangler was spawned and when /v2/health/live first answered 200. */
  readonly spawnedAt: number;
  readonly liveAt: number;
  /** The last lines wrangler wrote, for error messages. */
  recentOutput(): string;
  /** Resolves with wrangler's exit code (or the signal's name) once it has exited. */
  readonly exited: Promise<number | string>;
  /** Sends `signal` to wrangler's process group and waits for it to exit (SIGKILL after 10 s). */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Whether 127.0.0.1:port can be listened on; wrangler would otherwise quietly take another port. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port the OS says is free now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Spawns `wrangler dev` and resolves once it answers GET /v2/health/live with 200.
 * @example
 * const dev = await startDev({ port: 8787, echo: process.stderr });
 * await dev.stop();
 */
export async function startDev(options: {
  port: number;
  persistTo?: string;
  /** Where wrangler's own log lines go (they are kept for error messages either way). */
  echo?: NodeJS.WritableStream;
  logLevel?: LogLevel;
  signal?: AbortSignal;
}): Promise<DevServer> {
  options.signal?.throwIfAborted();
  if (!(await portFree(options.port)))
    throw new InputError('bad_value', `port ${options.port} is in use; pass --port N`);
  const url = `http://127.0.0.1:${options.port}`;
  const spawnedAt = performance.now();
  const child = spawnDev(options);
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    options.echo?.write(chunk);
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    lines.splice(0, Math.max(0, lines.length - 40));
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  // wrangler leads its own process group (so a terminal's Ctrl-C reaches it only through us): should this
  // process end without stop(), the group would be left running.
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // Already gone.
    }
  };
  const onExit = () => killGroup('SIGTERM');
  process.once('exit', onExit);
  let stopping: Promise<void> | undefined;
  const stop = (signal: NodeJS.Signals = 'SIGTERM') => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        killGroup(signal);
        const timer = setTimeout(() => killGroup('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      process.removeListener('exit', onExit);
    })();
    return stopping;
  };
  const recentOutput = () => lines.join('\n');

  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  try {
    for (;;) {
      options.signal?.throwIfAborted();
      if (gone) throw new WranglerError(`wrangler dev exited early:\n${recentOutput()}`, child.exitCode);
      if (Date.now() > deadline)
        throw new WranglerError(
          `wrangler dev did not answer within ${READY_TIMEOUT_MS / 1000} s:\n${recentOutput()}`,
          null,
        );
      const ok = await fetch(`${url}/v2/health/live`, { signal: AbortSignal.timeout(5_000) }).then(
        async (res) => {
          await res.body?.cancel();
          return res.status === 200;
        },
        () => false,
      );
      if (ok) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, child, spawnedAt, liveAt: performance.now(), recentOutput, exited, stop };
}

/** Orders "X.Y.Z" versions numerically (0.1.10 after 0.1.9). */
const byVersion = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

/**
 * Every version folder (one with a manifest.json) of each model models/aliases.json names, oldest
 * first: a version the aliases have moved off stays downloadable by its number.
 */
export async function defaultModels(modelsDir = MODELS_DIR): Promise<{ name: string; version: string }[]> {
  const path = join(modelsDir, 'aliases.json');
  const aliases = parseAliases(JSON.parse(await readFile(path, 'utf8')), path);
  const out: { name: string; version: string }[] = [];
  for (const name of Object.keys(aliases).sort()) {
    const folders = await readdir(join(modelsDir, name), { withFileTypes: true });
    const versions = new Set(Object.values(aliases[name]!));
    for (const f of folders) {
      if (f.isDirectory() && existsSync(join(modelsDir, name, f.name, 'manifest.json'))) versions.add(f.name);
    }
    for (const version of [...versions].sort(byVersion)) out.push({ name, version });
  }
  return out;
}

/** Publishes the default models (each version with the aliases models/aliases.json gives it). */
export async function publishDefaults(
  url: string,
  token: string,
  options: { log?: (line: string) => void; signal?: AbortSignal; modelsDir?: string } = {},
): Promise<PublishReport[]> {
  const modelsDir = options.modelsDir ?? MODELS_DIR;
  const reports: PublishReport[] = [];
  for (const { name, version } of await defaultModels(modelsDir)) {
    reports.push(
      await publishModel(join(modelsDir, name, version), {
        url,
        token,
        aliasesFrom: join(modelsDir, 'aliases.json'),
        ...(options.log === undefined ? {} : { log: options.log }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      }),
    );
  }
  return reports;
}

/**
 * Steps 1–5 of `npm start` short of waiting: migrations, wrangler dev and a seeding token side by side,
 * the default models published, the token revoked. The caller owns the returned server.
 * @example
 * const { server, reports } = await startEdge({ port: await freePort(), persistTo: tmp });
 */
export async function startEdge(options: {
  port: number;
  persistTo?: string;
  echo?: NodeJS.WritableStream;
  log?: (line: string) => void;
  signal?: AbortSignal;
}): Promise<{ server: DevServer; reports: PublishReport[] }> {
  const log = options.log ?? (() => {});
  const { persistTo, signal } = options;
  const target = { kind: 'local', ...(persistTo === undefined ? {} : { persistTo }) } as const;
  log(
    `applying D1 migrations (${persistTo ?? '.wrangler/state'}) and starting wrangler dev on port ${options.port}`,
  );
  // wrangler dev touches D1 only when a request does, so it can start while the migrations run.
  const [seed, dev] = await Promise.allSettled([
    applyMigrations(target).then(() => createToken({ scope: 'publish', label: SEED_LABEL }, target)),
    startDev(options),
  ]);
  if (seed.status === 'rejected' || dev.status === 'rejected') {
    if (dev.status === 'fulfilled') await dev.value.stop();
    if (seed.status === 'fulfilled') await revokeToken(seed.value.id, target);
    throw seed.status === 'rejected' ? seed.reason : (dev as PromiseRejectedResult).reason;
  }
  try {
    const reports = await publishDefaults(dev.value.url, seed.value.token, {
      log,
      ...(signal === undefined ? {} : { signal }),
    });
    return { server: dev.value, reports };
  } catch (err) {
    await dev.value.stop();
    throw err;
  } finally {
    await revokeToken(seed.value.id, target);
  }
}

/** One line: what GET /v1/models lists, e.g. "cnn 0.1.0 (latest, stable), …". */
export async function servedSummary(url: string): Promise<string> {
  const res = await fetch(`${url}/v1/models`);
  if (!res.ok) throw new WranglerError(`GET ${url}/v1/models answered ${res.status}`, null);
  const { models } = (await res.json()) as {
    models: { name: string; versions: string[]; aliases: Record<string, string> }[];
  };
  if (models.length === 0) return 'no models';
  return models
    .map((m) => {
      const byVersion = m.versions.map((v) => {
        const aliases = Object.keys(m.aliases)
          .filter((a) => m.aliases[a] === v)
          .sort();
        return aliases.length > 0 ? `${v} (${aliases.join(', ')})` : v;
      });
      return `${m.name} ${byVersion.join(', ')}`;
    })
    .join('; ');
}

const USAGE = 'usage: npm start -- [--port 8787] [--persist-to DIR]';

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const log = (line: string) => process.stderr.write(`start: ${line}\n`);
  const abort = new AbortController();
  let server: DevServer | undefined;
  let stopSignal: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopSignal !== undefined) {
      // A second Ctrl-C: the user does not want to wait for a clean stop.
      if (server !== undefined) process.kill(-server.child.pid!, 'SIGKILL');
      process.exit(130);
    }
    stopSignal = signal;
    log(`${signal}: stopping`);
    abort.abort(new Error(`stopped by ${signal}`));
    void server?.stop(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: false,
      options: { port: { type: 'string' }, 'persist-to': { type: 'string' } },
    });
    const port = Number(values.port ?? DEFAULT_PORT);
    if (positionals.length > 0 || !Number.isInteger(port) || port < 1 || port > 65535)
      throw new InputError('bad_value', `--port must be an integer from 1 to 65535, got '${values.port}'`);
    const persistTo = values['persist-to'];
    const started = await startEdge({
      port,
      ...(persistTo === undefined ? {} : { persistTo }),
      echo: process.stderr,
      log,
      signal: abort.signal,
    });
    server = started.server;
    const live = server;
    const reports = started.reports;
    const published = reports.filter((r) => r.outcome === 'published').length;
    process.stdout.write(
      `edge API on ${live.url} — serving ${await servedSummary(live.url)}; ${published} published now, ${reports.length - published} already there. Ctrl-C stops it.\n`,
    );
    const code = await live.exited;
    if (stopSignal !== undefined) return 0;
    log(`wrangler dev exited (${code}):\n${live.recentOutput()}`);
    return 1;
  } catch (e) {
    await server?.stop();
    if (stopSignal !== undefined) return 0;
    const parseError = (e as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS') ?? false;
    if (e instanceof InputError || parseError) {
      log((e as Error).message);
      if (parseError || (e as InputError).code === 'bad_value') process.stderr.write(`${USAGE}\n`);
      return 2;
    }
    if (e instanceof PublishError) {
      log(e.message);
      return e.exitCode;
    }
    if (e instanceof WranglerError) {
      log(e.message);
      return 1;
    }
    throw e;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

if (isMainModule(import.meta.url)) {
  process.exitCode = await main();
}
