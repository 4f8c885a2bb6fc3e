/**
 * @module
 * A real edge for the browser tests and benchmarks/sdk.ts: `npm start` (packages/edge-api/scripts/start.ts)
 * on a free port with its own temporary state, seeded with the three default models; resolved once it
 * prints its summary line, stopped with SIGTERM (which start.ts passes on to wrangler's process group).
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../../edge-api/scripts/start.ts';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const READY = /^edge API on (\S+) — serving /m;

export interface Edge {
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * @example
 * const edge = await startEdge();
 * await fetch(`${edge.url}/v1/models`);
 * await edge.stop();
 */
export async function startEdge(): Promise<Edge> {
  const state = await mkdtemp(join(tmpdir(), 'sdk-browser-edge-'));
  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', 'packages/edge-api/scripts/start.ts', '--port', String(port), '--persist-to', state],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-8000);
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    await rm(state, { recursive: true, force: true });
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let stdout = '';
      child.stdout!.on('data', (c: Buffer) => {
        stdout += c.toString();
        const m = READY.exec(stdout);
        if (m !== null) resolve(m[1]!);
      });
      child.once('exit', (code) =>
        reject(new Error(`npm start exited ${code} before it was ready:\n${stderr}`)),
      );
    });
    return { url, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
