/**
 * @module
 * `npm run bench:soak` — a mixed load soak of the edge API in `wrangler dev` on loopback, started and
 * seeded with the default models as `npm start` does, in a temporary state folder (never .wrangler/state).
 * For a fixed time (bounded; it stops itself) concurrent loops send:
 *   - blob reads of the default models' files: whole (each body hashed against its sha256), with
 *     If-None-Match (→ 304) and with a Range (→ 206, checked against the whole file);
 *   - manifest reads (each version's manifest and the listing);
 *   - infers (OIP v2 JSON): the CNN-LSTM, and every tenth the Transformer;
 *   - publishes of fresh small versions of a `soak` model, alternating multipart and blob-by-blob.
 * Then it checks the properties: no 5xx, no unexpected status, no lost or torn version (every version
 * whose publish got a 2xx is listed with its manifest, and every visible version's blobs hash to their
 * sha256). test/soak.test.ts runs the same soak and asserts them.
 *
 *   npm run bench:soak -- [--seconds 120]
 *
 * Writes benchmarks/results/soak.{json,md}: throughput and p50/p99 per request kind, machine, date, load
 * average. The load generator shares the cores with workerd; latencies are for this machine only.
 */

import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { N_LEADS, N_STEPS, parseManifest } from '@ecg-tmp/core';
import { isMainModule } from '@ecg-tmp/core/node';
import { freePort, startEdge } from '../packages/edge-api/scripts/start.ts';
import { createToken } from '../packages/edge-api/scripts/token.ts';
import { ROOT } from '../packages/edge-api/scripts/wrangler.ts';
import { fakeVersion } from '../packages/edge-api/test/fake-version.ts';

export const DEFAULT_SOAK_SECONDS = 120;

export type Kind =
  | 'blob'
  | 'blob If-None-Match'
  | 'blob Range'
  | 'manifest'
  | 'listing'
  | 'infer cnn-lstm'
  | 'infer transformer'
  | 'publish multipart'
  | 'publish blob-by-blob';

export interface KindStats {
  readonly requests: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Responses by status (a network error counts as status 0). */
  readonly statuses: Record<string, number>;
}

export interface SoakReport {
  readonly date: string;
  readonly machine: { cpu: string; cores: number; node: string; platform: string };
  readonly loadAverage: { start: number[]; end: number[] };
  readonly seconds: number;
  readonly requests: number;
  readonly perSecond: number;
  readonly kinds: Partial<Record<Kind, KindStats>>;
  /** Responses with a 5xx or no response at all. */
  readonly serverErrors: number;
  /** Responses other than the one expected (a 5xx counts here too), with a sample. */
  readonly unexpected: number;
  readonly unexpectedSamples: string[];
  /** Published versions (2xx) later missing or served with another manifest. */
  readonly lostVersions: string[];
  /** Visible versions with a blob missing or not hashing to its sha256. */
  readonly tornVersions: string[];
  readonly versionsPublished: number;
  readonly versionsChecked: number;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** A raw ECG in mV: smooth, deterministic, about 1 mV peak, different in each lead. */
function ecgBody(): string {
  const data: number[] = [];
  for (let lead = 0; lead < N_LEADS; lead++) {
    for (let t = 0; t < N_STEPS; t++) {
      const phase = (2 * Math.PI * t) / N_STEPS;
      data.push(
        Math.round((0.8 * Math.sin(3 * phase + lead * 0.4) + 0.2 * Math.sin(11 * phase + lead)) * 1e4) / 1e4,
      );
    }
  }
  return JSON.stringify({ inputs: [{ name: 'ecg', shape: [1, N_LEADS, N_STEPS], datatype: 'FP32', data }] });
}

/** A small valid version of the `soak` model: two made-up files, unique to this run, with their real digests. */
function soakVersion(version: string) {
  const unique = () => `${crypto.randomUUID()} `.repeat(20);
  return fakeVersion('soak', version, [unique(), unique()], { parameters: 1, dataset: 'soak' });
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;

/**
 * Runs the soak against a fresh seeded `wrangler dev` and returns the report (it throws only when the
 * edge cannot be started).
 * @example
 * const report = await runSoak({ seconds: 120, log: console.error });
 */
export async function runSoak(options: {
  seconds: number;
  log?: (line: string) => void;
}): Promise<SoakReport> {
  const log = options.log ?? (() => {});
  const loadStart = loadavg().map((x) => Math.round(x * 100) / 100);
  const state = await mkdtemp(join(tmpdir(), 'soak-'));
  const port = await freePort();
  log(`state ${state}, port ${port}, load average ${loadStart.join(' ')}`);
  const { server } = await startEdge({ port, persistTo: state, log });
  try {
    const url = server.url;
    const { token } = await createToken(
      { scope: 'publish', label: 'soak' },
      { kind: 'local', persistTo: state },
    );

    // What there is to read: every default version's manifest and files (bytes kept to check reads).
    const listing = (await (await fetch(`${url}/v1/models`)).json()) as {
      models: { name: string; versions: string[] }[];
    };
    const versions = listing.models.flatMap((m) => m.versions.map((v) => `${m.name}/versions/${v}`));
    const files: { sha256: string; bytes: Uint8Array }[] = [];
    for (const path of versions) {
      const manifest = parseManifest(await (await fetch(`${url}/v1/models/${path}`)).json(), path);
      for (const f of manifest.files) {
        const bytes = new Uint8Array(await (await fetch(`${url}/v1/blobs/${f.sha256}`)).arrayBuffer());
        files.push({ sha256: f.sha256, bytes });
      }
    }
    const ecg = ecgBody();

    const latencies = new Map<Kind, number[]>();
    const statuses = new Map<Kind, Record<string, number>>();
    let serverErrors = 0;
    let unexpected = 0;
    const unexpectedSamples: string[] = [];
    /** One request: timed, its status counted, checked against `expect` (and `check` on the body). */
    async function send(
      kind: Kind,
      path: string,
      init: RequestInit,
      expect: number,
      check?: (body: Uint8Array) => string | null,
    ): Promise<boolean> {
      const t0 = performance.now();
      let status = 0;
      let problem: string | null = null;
      try {
        const res = await fetch(`${url}${path}`, { ...init, signal: AbortSignal.timeout(60_000) });
        status = res.status;
        const body = new Uint8Array(await res.arrayBuffer());
        if (status !== expect) problem = `${status}: ${new TextDecoder().decode(body.subarray(0, 200))}`;
        else if (check !== undefined) problem = check(body);
      } catch (err) {
        problem = `no response: ${(err as Error).message}`;
      }
      const ms = performance.now() - t0;
      (latencies.get(kind) ?? latencies.set(kind, []).get(kind)!).push(ms);
      const counts = statuses.get(kind) ?? statuses.set(kind, {}).get(kind)!;
      counts[status] = (counts[status] ?? 0) + 1;
      if (status === 0 || status >= 500) serverErrors++;
      if (problem !== null) {
        unexpected++;
        if (unexpectedSamples.length < 20) unexpectedSamples.push(`${kind} ${path}: ${problem}`);
      }
      return problem === null;
    }

    const t0 = performance.now();
    const deadline = t0 + options.seconds * 1000;
    let n = 0;
    const pick = <T>(xs: readonly T[]) => xs[n++ % xs.length]!;
    const loop = (body: (i: number) => Promise<unknown>) => async () => {
      for (let i = 0; performance.now() < deadline; i++) await body(i);
    };

    const blobReader = loop(async (i) => {
      const f = pick(files);
      const path = `/v1/blobs/${f.sha256}`;
      if (i % 3 === 0) {
        await send('blob', path, {}, 200, (b) =>
          sha256(b) === f.sha256 ? null : 'body does not hash to its sha256',
        );
      } else if (i % 3 === 1) {
        await send('blob If-None-Match', path, { headers: { 'If-None-Match': `"${f.sha256}"` } }, 304);
      } else {
        const start = (i * 7919) % Math.max(1, f.bytes.length - 4096);
        const end = Math.min(f.bytes.length - 1, start + 4095);
        const want = f.bytes.subarray(start, end + 1);
        await send('blob Range', path, { headers: { Range: `bytes=${start}-${end}` } }, 206, (b) =>
          b.length === want.length && b.every((x, k) => x === want[k]) ? null : 'range bytes differ',
        );
      }
    });
    const manifestReader = loop(async (i) => {
      if (i % 4 === 3) await send('listing', '/v1/models', {}, 200);
      else await send('manifest', `/v1/models/${pick(versions)}`, {}, 200);
    });
    const inferer = loop(async (i) => {
      const model = i % 10 === 9 ? 'transformer' : 'cnn-lstm';
      await send(
        `infer ${model}`,
        `/v2/models/${model}/infer`,
        {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: ecg,
        },
        200,
      );
    });
    const published: Awaited<ReturnType<typeof soakVersion>>['manifest'][] = [];
    const auth = { Authorization: `Bearer ${token}` };
    const publisher = loop(async (i) => {
      const v = await soakVersion(`0.${Math.floor(i / 1000)}.${i % 1000}`);
      let ok: boolean;
      if (i % 2 === 0) {
        const form = new FormData();
        form.set('manifest', JSON.stringify(v.manifest));
        for (const [path, bytes] of v.files) form.set(path, new Blob([bytes]), path);
        ok = await send(
          'publish multipart',
          '/v1/models/soak/versions',
          { method: 'POST', headers: auth, body: form },
          201,
        );
      } else {
        ok = true;
        for (const f of v.manifest.files) {
          ok &&= await send(
            'publish blob-by-blob',
            `/v1/blobs/${f.sha256}`,
            {
              method: 'PUT',
              headers: auth,
              body: v.files.get(f.path)!,
            },
            201,
          );
        }
        if (ok) {
          ok = await send(
            'publish blob-by-blob',
            '/v1/models/soak/versions',
            {
              method: 'POST',
              headers: { ...auth, 'Content-Type': 'application/json' },
              body: JSON.stringify(v.manifest),
            },
            201,
          );
        }
      }
      if (ok) published.push(v.manifest);
    });

    log(`soaking for ${options.seconds} s`);
    await Promise.all([
      blobReader(),
      blobReader(),
      blobReader(),
      manifestReader(),
      manifestReader(),
      inferer(),
      publisher(),
    ]);
    const elapsed = (performance.now() - t0) / 1000;

    // The properties: every 2xx publish is there with its manifest; every visible version is whole.
    const lostVersions: string[] = [];
    const tornVersions: string[] = [];
    const after = (await (await fetch(`${url}/v1/models`)).json()) as {
      models: { name: string; versions: string[] }[];
    };
    const visible = after.models.flatMap((m) => m.versions.map((v) => ({ name: m.name, version: v })));
    for (const m of published) {
      const res = await fetch(`${url}/v1/models/soak/versions/${m.version}`);
      const served = res.status === 200 ? ((await res.json()) as { files: unknown }) : null;
      if (served === null || JSON.stringify(served.files) !== JSON.stringify(m.files))
        lostVersions.push(`soak ${m.version}`);
    }
    for (const { name, version } of visible) {
      const manifest = parseManifest(
        await (await fetch(`${url}/v1/models/${name}/versions/${version}`)).json(),
      );
      for (const f of manifest.files) {
        const res = await fetch(`${url}/v1/blobs/${f.sha256}`);
        const bytes = new Uint8Array(await res.arrayBuffer());
        if (res.status !== 200 || bytes.length !== f.bytes || sha256(bytes) !== f.sha256) {
          tornVersions.push(`${name} ${version}: ${f.path}`);
        }
      }
    }

    const kinds: Partial<Record<Kind, KindStats>> = {};
    let requests = 0;
    for (const [kind, ms] of latencies) {
      ms.sort((a, b) => a - b);
      requests += ms.length;
      kinds[kind] = {
        requests: ms.length,
        perSecond: ms.length / elapsed,
        p50Ms: quantile(ms, 0.5),
        p99Ms: quantile(ms, 0.99),
        maxMs: ms.at(-1) ?? Number.NaN,
        statuses: statuses.get(kind) ?? {},
      };
    }
    return {
      date: new Date().toISOString(),
      machine: {
        cpu: cpus()[0]?.model ?? 'unknown',
        cores: availableParallelism(),
        node: process.version,
        platform: `${process.platform} ${process.arch}`,
      },
      loadAverage: { start: loadStart, end: loadavg().map((x) => Math.round(x * 100) / 100) },
      seconds: Math.round(elapsed * 10) / 10,
      requests,
      perSecond: requests / elapsed,
      kinds,
      serverErrors,
      unexpected,
      unexpectedSamples,
      lostVersions,
      tornVersions,
      versionsPublished: published.length,
      versionsChecked: visible.length,
    };
  } finally {
    await server.stop();
    await rm(state, { recursive: true, force: true });
  }
}

/** One line per kind: "blob 812 req (6.8/s) p50 12 ms p99 80 ms". */
export function summary(report: SoakReport): string {
  return Object.entries(report.kinds)
    .map(
      ([k, s]) =>
        `${k} ${s.requests} req (${s.perSecond.toFixed(1)}/s) p50 ${s.p50Ms.toFixed(0)} ms p99 ${s.p99Ms.toFixed(0)} ms`,
    )
    .join('; ');
}

function markdown(r: SoakReport): string {
  const ms = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(1));
  const rows = Object.entries(r.kinds).map(
    ([k, s]) =>
      `| ${k} | ${s.requests} | ${s.perSecond.toFixed(1)} | ${ms(s.p50Ms)} | ${ms(s.p99Ms)} | ${ms(s.maxMs)} | ${Object.entries(
        s.statuses,
      )
        .map(([st, c]) => `${st}: ${c}`)
        .join(', ')} |`,
  );
  return `# Edge API mixed soak (\`npm run bench:soak\`)

${r.date.slice(0, 10)} · ${r.machine.cores} × ${r.machine.cpu} · Node ${r.machine.node} · \`wrangler dev\` (workerd) on loopback, seeded as \`npm start\` seeds it · load average ${r.loadAverage.start.join(' ')} at the start, ${r.loadAverage.end.join(' ')} at the end

${r.seconds} s of concurrent loops (3 blob readers, 2 manifest readers, 1 inferer, 1 publisher), closed loop:
**${r.requests} requests, ${r.perSecond.toFixed(1)} req/s**. The load generator shares the cores with workerd
and wrangler's proxy (and here with other work on the machine), so latencies are for this machine only.

| kind | requests | req/s | p50 ms | p99 ms | max ms | statuses |
| ---- | -------- | ----- | ------ | ------ | ------ | -------- |
${rows.join('\n')}

| property | result |
| -------- | ------ |
| 5xx or no response | ${r.serverErrors} |
| unexpected status or body | ${r.unexpected}${r.unexpectedSamples.length > 0 ? ` (e.g. ${r.unexpectedSamples[0]})` : ''} |
| versions published (2xx) | ${r.versionsPublished}, lost: ${r.lostVersions.length} |
| visible versions whose blobs all hash | ${r.versionsChecked - new Set(r.tornVersions.map((t) => t.split(':')[0])).size} of ${r.versionsChecked} |
`;
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: { seconds: { type: 'string', default: String(DEFAULT_SOAK_SECONDS) } },
  });
  const seconds = Number(values.seconds);
  if (!(seconds > 0 && seconds <= 3600)) {
    console.error('usage: npm run bench:soak -- [--seconds 1..3600]');
    return 2;
  }
  const report = await runSoak({ seconds, log: (line) => console.error(`bench:soak: ${line}`) });
  const out = join(ROOT, 'benchmarks/results');
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'soak.json'), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(join(out, 'soak.md'), markdown(report));
  console.error(`bench:soak: ${summary(report)}`);
  const ok =
    report.serverErrors === 0 &&
    report.unexpected === 0 &&
    report.lostVersions.length === 0 &&
    report.tornVersions.length === 0;
  console.error(
    `bench:soak: ${ok ? 'no 5xx, nothing lost or torn' : 'FAILED — see benchmarks/results/soak.md'}`,
  );
  return ok ? 0 : 1;
}

if (isMainModule(import.meta.url)) {
  process.exitCode = await main();
}
