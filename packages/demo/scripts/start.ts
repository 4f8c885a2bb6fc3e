/**
 * @module
 * `npm start` — the local edge API with the default models, and the demo page that reconstructs in the
 * browser against it:
 *
 *   npm start -- [--port 8787] [--persist-to DIR] [--demo-port 8788]
 *
 *   1. builds the demo page (build.ts) while the edge starts: packages/edge-api/scripts/start.ts as a
 *      child, with --port and --persist-to passed on, its output passed through;
 *   2. serves the page on 127.0.0.1:demo-port (serve.ts), its /config.json naming the edge;
 *   3. once the edge has printed its summary line, prints the page's URL and runs until Ctrl-C.
 * The edge runs in its own process group, so a terminal's Ctrl-C reaches it once, from here: the first
 * SIGINT/SIGTERM is passed on (a copy relayed by npm within a second is the same keypress), a later one
 * too, which makes the edge stop at once. Exit codes: the edge's (0 after Ctrl-C, 2 bad flags, 1 the edge
 * failed); 2 also for this script's own bad flags or a demo port in use.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { InputError } from '@ecg-tmp/core';
import { isMainModule } from '@ecg-tmp/core/node';
import { buildDemo } from './build.ts';
import { DEFAULT_DEMO_PORT, startDemoServer } from './serve.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const EDGE_START = join(ROOT, 'packages', 'edge-api', 'scripts', 'start.ts');
/** The edge's summary line (packages/edge-api/scripts/start.ts prints it once it serves the models). */
const EDGE_READY = /^edge API on (\S+) — /m;
const DEFAULT_EDGE_PORT = 8787;
/** Signals closer together than this are one keypress seen twice (the terminal's and npm's relay). */
const DUPLICATE_SIGNAL_MS = 1000;
const USAGE = 'usage: npm start -- [--port 8787] [--persist-to DIR] [--demo-port 8788]';

function parseFlags(argv: readonly string[]) {
  const { values } = parseArgs({
    args: [...argv],
    allowPositionals: false,
    options: { port: { type: 'string' }, 'persist-to': { type: 'string' }, 'demo-port': { type: 'string' } },
  });
  const demoPort = Number(values['demo-port'] ?? DEFAULT_DEMO_PORT);
  if (!Number.isInteger(demoPort) || demoPort < 1 || demoPort > 65535)
    throw new InputError(
      'bad_value',
      `--demo-port must be an integer from 1 to 65535, got '${values['demo-port']}'`,
    );
  // --port is the edge's to check; the page only needs the number to find it.
  const edgeArgs = [
    ...(values.port === undefined ? [] : ['--port', values.port]),
    ...(values['persist-to'] === undefined ? [] : ['--persist-to', values['persist-to']]),
  ];
  const edgePort = Number(values.port ?? DEFAULT_EDGE_PORT);
  return { demoPort, edgeArgs, edgeUrl: `http://127.0.0.1:${edgePort}` };
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const log = (line: string) => process.stderr.write(`start: ${line}\n`);
  let flags: ReturnType<typeof parseFlags>;
  try {
    flags = parseFlags(argv);
  } catch (err) {
    log((err as Error).message);
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }

  const edge: ChildProcess = spawn(process.execPath, ['--import', 'tsx', EDGE_START, ...flags.edgeArgs], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
  });
  const edgeExit = new Promise<number>((resolve) =>
    edge.once('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128))),
  );
  // Should this process end some other way, the edge must not be left running.
  const killEdge = () => {
    if (edge.exitCode === null && edge.signalCode === null) edge.kill('SIGTERM');
  };
  process.once('exit', killEdge);

  let lastSignalAt = Number.NEGATIVE_INFINITY;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    const now = Date.now();
    const duplicate = now - lastSignalAt < DUPLICATE_SIGNAL_MS;
    lastSignalAt = now;
    if (duplicate) return;
    if (!stopping) log(`${signal}: stopping the edge and the demo`);
    stopping = true;
    if (edge.exitCode === null && edge.signalCode === null) edge.kill(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let stdout = '';
  const edgeReady = new Promise<string>((resolve) => {
    edge.stdout!.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      if (stdout.length < 64 * 1024) stdout += chunk.toString('utf8');
      const m = EDGE_READY.exec(stdout);
      if (m !== null) resolve(m[1]!);
    });
  });

  const built = buildDemo().then(() => startDemoServer({ port: flags.demoPort, edgeUrl: flags.edgeUrl }));
  built.catch(() => {});
  try {
    // A failed build or a demo port in use ends the start at once, not after the edge is up.
    const first = await Promise.race([
      edgeReady,
      edgeExit.then((code) => ({ code })),
      built.then(() => edgeReady),
    ]);
    if (typeof first !== 'string') {
      if (!stopping) log(`the edge exited (${first.code}) before it was ready`);
      return stopping ? 0 : first.code;
    }
    const demo = await built;
    process.stdout.write(
      `demo on ${demo.url} — the page reconstructs in the browser with the edge API on ${first}. Ctrl-C stops both.\n`,
    );
    const code = await edgeExit;
    if (!stopping) log(`the edge exited (${code})`);
    return stopping ? 0 : code === 0 ? 1 : code;
  } catch (err) {
    stopping = true;
    killEdge();
    await edgeExit;
    log((err as Error).message);
    return err instanceof InputError ? 2 : 1;
  } finally {
    // Also a server that came up after the edge had already gone.
    await built.then(
      (d) => d.close(),
      () => {},
    );
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

if (isMainModule(import.meta.url)) {
  process.exitCode = await main();
}
