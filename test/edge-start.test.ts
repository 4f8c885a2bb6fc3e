/**
 * `npm start` (packages/edge-api/scripts/start.ts) end to end: it comes up on a free port with fresh
 * state, serves every default model's manifest and blobs byte for byte from the registry Worker and its
 * inference metadata from the inference Worker on the same origin, stops cleanly on SIGINT, and a
 * second start on the same state republishes nothing.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAliases, parseManifest } from '@ecg-tmp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultModels, freePort } from '../packages/edge-api/scripts/start.ts';
import { listTokens } from '../packages/edge-api/scripts/token.ts';

const root = new URL('..', import.meta.url).pathname;
const READY = /^edge API on (\S+) — serving (.*); (\d+) published now, (\d+) already there\./m;

interface Started {
  child: ChildProcess;
  url: string;
  line: string;
  /** What the line says it serves: "cnn 0.1.0, 0.2.0 (latest, stable); …". */
  served: string;
  published: number;
  unchanged: number;
  stderr: () => string;
}

const running = new Set<ChildProcess>();

/** "1.10.0" after "1.9.0". */
function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The summary's entries, "name v1, v2 (latest, stable)", one per model, sorted. */
function expectedSummary(
  folders: readonly { name: string; version: string }[],
  aliases: Record<string, Record<string, string>>,
): string[] {
  const names = [...new Set(folders.map((f) => f.name))];
  return names
    .map((name) => {
      const versions = folders
        .filter((f) => f.name === name)
        .map((f) => f.version)
        .sort(compareVersions)
        .map((v) => {
          const labels = Object.keys(aliases[name] ?? {})
            .filter((a) => aliases[name]![a] === v)
            .sort();
          return labels.length > 0 ? `${v} (${labels.join(', ')})` : v;
        });
      return `${name} ${versions.join(', ')}`;
    })
    .sort();
}

/** Spawns start.ts as `npm start` does and resolves on its summary line. */
function start(port: number, state: string): Promise<Started> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'packages/edge-api/scripts/start.ts', '--port', String(port), '--persist-to', state],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  running.add(child);
  child.once('exit', () => running.delete(child));
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString();
      const m = READY.exec(stdout);
      if (m !== null) {
        resolve({
          child,
          url: m[1]!,
          line: m[0],
          served: m[2]!,
          published: Number(m[3]),
          unchanged: Number(m[4]),
          stderr: () => stderr,
        });
      }
    });
    child.once('exit', (code) => reject(new Error(`start exited ${code} before it was ready:\n${stderr}`)));
  });
}

/** Sends `signal` and resolves with the exit code. */
function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill(signal);
  });
}

describe('npm start (the local edge with the default models)', () => {
  let state: string;
  let port: number;

  beforeAll(async () => {
    state = await mkdtemp(join(tmpdir(), 'edge-start-'));
    port = await freePort();
  });

  afterAll(async () => {
    // SIGTERM, not SIGKILL: start.ts passes it on to wrangler, which runs in its own process group.
    await Promise.all([...running].map((child) => stop(child, 'SIGTERM')));
    await rm(state, { recursive: true, force: true });
  });

  it('serves every default model: manifests, aliases and blobs whose sha256 match', async () => {
    const edge = await start(port, state);
    expect(edge.url).toBe(`http://127.0.0.1:${port}`);
    // Every version folder under models/ (a version the aliases moved off stays downloadable).
    const folders = await defaultModels();
    expect(folders.length).toBeGreaterThanOrEqual(3);
    expect(edge.published).toBe(folders.length);
    expect(edge.unchanged).toBe(0);

    const aliases = parseAliases(JSON.parse(await readFile(join(root, 'models/aliases.json'), 'utf8')));
    const listed = (await (await fetch(`${edge.url}/v1/models`)).json()) as {
      models: { name: string; aliases: Record<string, string> }[];
    };
    expect(Object.fromEntries(listed.models.map((m) => [m.name, m.aliases]))).toEqual(aliases);
    for (const { name, version } of folders) {
      const res = await fetch(`${edge.url}/v1/models/${name}/versions/${version}`);
      expect(res.status, `${name} ${version}`).toBe(200);
    }

    for (const [name, byAlias] of Object.entries(aliases)) {
      const res = await fetch(`${edge.url}/v1/models/${name}`);
      expect(res.status).toBe(200);
      const served = parseManifest(await res.json());
      const local = parseManifest(
        JSON.parse(await readFile(join(root, 'models', name, byAlias.stable!, 'manifest.json'), 'utf8')),
      );
      expect(served).toEqual(local);
      for (const file of served.files) {
        const blob = await fetch(`${edge.url}/v1/blobs/${file.sha256}`);
        expect(blob.status).toBe(200);
        const bytes = new Uint8Array(await blob.arrayBuffer());
        expect(bytes.length).toBe(file.bytes);
        expect(createHash('sha256').update(bytes).digest('hex')).toBe(file.sha256);
      }
      // The inference Worker, behind the same origin, reads the same registry.
      const oip = await fetch(`${edge.url}/v2/models/${name}/versions/stable`);
      expect(oip.status, `/v2 metadata of ${name}`).toBe(200);
      const metadata = (await oip.json()) as { name: string; versions: string[] };
      expect(metadata.name).toBe(name);
      expect(metadata.versions).toContain(byAlias.stable);
    }
    expect(await stop(edge.child, 'SIGINT')).toBe(0);
    expect(edge.stderr()).toContain('start: SIGINT: stopping');
  }, 120_000);

  it('republishes nothing on a second start and still stops cleanly', async () => {
    const edge = await start(port, state);
    expect(edge.published).toBe(0);
    expect(edge.unchanged).toBe((await defaultModels()).length);
    // Every version folder in version order, the aliases on the ones they name, read from models/ here
    // rather than spelled out, so a release needs no edit to this test.
    const aliases = parseAliases(JSON.parse(await readFile(join(root, 'models/aliases.json'), 'utf8')));
    expect(edge.served.split('; ').sort()).toEqual(expectedSummary(await defaultModels(), aliases));
    expect(await stop(edge.child, 'SIGTERM')).toBe(0);
    // The seeding tokens are revoked, not left live.
    const tokens = await listTokens({ kind: 'local', persistTo: state });
    expect(tokens).toHaveLength(2);
    for (const t of tokens) expect(t).toMatchObject({ scopes: ['publish'], label: 'npm-start-seed' });
    for (const t of tokens) expect(t.revokedAt).not.toBeNull();
  }, 120_000);
});
