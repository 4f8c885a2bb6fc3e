/**
 * `npm run bench:edge` — the edge API under load, in `wrangler dev` (workerd) on this machine over
 * loopback, seeded with the default models as `npm start` seeds it:
 *   - cold start: spawning wrangler dev → the first 200 on /v2/health/live, and each model's first infer
 *     (it fetches the graphs from R2 and opens the ONNX sessions);
 *   - closed-loop load, each scenario for a fixed time over a fixed number of keep-alive connections:
 *     GET /v2/health/live (the floor: what wrangler dev costs per request), blob GET 200 (cnn-lstm
 *     model.onnx), blob GET with If-None-Match → 304, manifest GET, and OIP infer on the CNN-LSTM and the
 *     Transformer (one connection: those targets are latencies, and one isolate runs one inference at a
 *     time, so more connections would only measure the queue) — with latency percentiles, req/s and the
 *     CPU per request of wrangler dev's processes and of the load generator;
 *   - the Worker bundle, raw and gzip (`wrangler deploy --dry-run --outdir`).
 * A scenario whose probe request does not get the expected status (e.g. the infer route is not there
 * yet) is reported as skipped with that status; the others still run and are written. One during which
 * wrangler restarted workerd (it watches the sources) is measured again, up to three times.
 *
 *   npm run bench:edge -- [--duration 10] [--connections 8]
 *
 * Writes benchmarks/results/edge.{md,json}. The load generator shares the machine's cores with workerd and
 * wrangler's proxy, so absolute numbers are pessimistic for a Worker on Cloudflare's network.
 */

import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { N_LEADS, N_STEPS, parseManifest } from '@ecg-tmp/core';
import { freePort, publishDefaults, startDev } from '../packages/edge-api/scripts/start.ts';
import { createToken, revokeToken } from '../packages/edge-api/scripts/token.ts';
import { applyMigrations, ROOT, runWrangler } from '../packages/edge-api/scripts/wrangler.ts';

const { values } = parseArgs({
  options: { duration: { type: 'string', default: '10' }, connections: { type: 'string', default: '8' } },
});
const durationS = Number(values.duration);
const connections = Number(values.connections);
if (!(durationS > 0) || !Number.isInteger(connections) || connections < 1) {
  console.error('usage: npm run bench:edge -- [--duration SECONDS] [--connections N]');
  process.exit(2);
}
const log = (line: string) => console.error(`bench:edge: ${line}`);

/** A raw ECG in mV: smooth, deterministic, about 1 mV peak, different in each lead. */
function ecgBody(): string {
  const data: number[] = [];
  for (let lead = 0; lead < N_LEADS; lead++) {
    for (let t = 0; t < N_STEPS; t++) {
      const phase = (2 * Math.PI * t) / N_STEPS;
      const v = 0.8 * Math.sin(3 * phase + lead * 0.4) + 0.2 * Math.sin(11 * phase + lead);
      data.push(Math.round(v * 1e4) / 1e4);
    }
  }
  return JSON.stringify({ inputs: [{ name: 'ecg', shape: [1, N_LEADS, N_STEPS], datatype: 'FP32', data }] });
}

interface Scenario {
  readonly name: string;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly expect: number;
  readonly connections: number;
}

interface Probe {
  status: number;
  ms: number;
  bytes: number;
  text: string;
}

/** One request over `agent`, the whole body read. */
function send(agent: Agent, port: number, s: Scenario): Promise<Probe> {
  const body = s.body === undefined ? undefined : Buffer.from(s.body);
  const headers = { ...s.headers, ...(body === undefined ? {} : { 'Content-Length': String(body.length) }) };
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(
      { host: '127.0.0.1', port, method: s.method, path: s.path, headers, agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const all = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            ms: performance.now() - t0,
            bytes: all.length,
            text: all.subarray(0, 300).toString('utf8'),
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;

/**
 * The processes of one process group (wrangler dev and its workerd children) and the CPU seconds they
 * have used so far, from /proc; null where there is no /proc. A changed set of processes means wrangler
 * restarted workerd (it reloads when a source file changes), which spoils a measurement.
 */
async function groupCpu(pgid: number): Promise<{ pids: string; seconds: number } | null> {
  const entries = await readdir('/proc').catch(() => null);
  if (entries === null) return null;
  let ticks = 0;
  const pids: string[] = [];
  for (const pid of entries.filter((e) => /^\d+$/.test(e))) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) !== pgid || fields[0] === 'Z') continue;
    pids.push(pid);
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return { pids: pids.sort().join(' '), seconds: ticks / 100 }; // USER_HZ, 100 on Linux
}

type Result =
  | {
      name: string;
      status: 'ok';
      connections: number;
      durationS: number;
      requests: number;
      errors: number;
      rps: number;
      p50Ms: number;
      p99Ms: number;
      maxMs: number;
      bytesPerResponse: number;
      /** CPU per request of wrangler dev's processes and of this load generator. */
      serverCpuUs: number | null;
      clientCpuUs: number;
    }
  | { name: string; status: 'disturbed'; reason: string }
  | { name: string; status: 'skipped'; httpStatus: number; reason: string };

/** Closed loop: each connection sends its next request as soon as the last one is answered. */
async function load(port: number, pgid: number, s: Scenario): Promise<Result> {
  const agent = new Agent({ keepAlive: true, maxSockets: s.connections });
  try {
    const probe = await send(agent, port, s);
    if (probe.status !== s.expect) {
      return { name: s.name, status: 'skipped', httpStatus: probe.status, reason: probe.text.trim() };
    }
    const latencies: number[] = [];
    let errors = 0;
    const server0 = await groupCpu(pgid);
    const client0 = process.cpuUsage();
    const t0 = performance.now();
    const deadline = t0 + durationS * 1000;
    await Promise.all(
      Array.from({ length: s.connections }, async () => {
        while (performance.now() < deadline) {
          const r = await send(agent, port, s).catch(() => null);
          if (r === null || r.status !== s.expect) errors++;
          else latencies.push(r.ms);
        }
      }),
    );
    const elapsed = (performance.now() - t0) / 1000;
    const client = process.cpuUsage(client0);
    const server1 = await groupCpu(pgid);
    if (server0 !== null && server1 !== null && server0.pids !== server1.pids) {
      return {
        name: s.name,
        status: 'disturbed',
        reason: 'wrangler dev restarted workerd (a source file changed)',
      };
    }
    const done = latencies.length + errors;
    latencies.sort((a, b) => a - b);
    return {
      name: s.name,
      status: 'ok',
      connections: s.connections,
      durationS: Math.round(elapsed * 10) / 10,
      requests: latencies.length,
      errors,
      rps: latencies.length / elapsed,
      p50Ms: quantile(latencies, 0.5),
      p99Ms: quantile(latencies, 0.99),
      maxMs: latencies.at(-1) ?? Number.NaN,
      bytesPerResponse: probe.bytes,
      serverCpuUs:
        server0 === null || server1 === null ? null : ((server1.seconds - server0.seconds) * 1e6) / done,
      clientCpuUs: (client.user + client.system) / done,
    };
  } finally {
    agent.destroy();
  }
}

/** The Worker as `wrangler deploy` would upload it: every emitted module except source maps. */
async function bundleSize(): Promise<{ rawBytes: number; gzipBytes: number; files: string[] }> {
  const out = await mkdtemp(join(tmpdir(), 'edge-bundle-'));
  try {
    await runWrangler(['deploy', '--dry-run', '--outdir', out], { kind: 'local' });
    const files = (await readdir(out, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile() && !e.name.endsWith('.map') && e.name !== 'README.md')
      .map((e) => join(e.parentPath, e.name));
    let rawBytes = 0;
    let gzipBytes = 0;
    for (const file of files) {
      const bytes = await readFile(file);
      rawBytes += bytes.length;
      gzipBytes += gzipSync(bytes).length;
    }
    return { rawBytes, gzipBytes, files: files.map((f) => f.slice(out.length + 1)).sort() };
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

// 1. Fresh state, migrated, with a publish token — before wrangler dev starts, so nothing competes
//    with its cold start for the CPU.
const state = await mkdtemp(join(tmpdir(), 'bench-edge-'));
const target = { kind: 'local', persistTo: state } as const;
const port = await freePort();
const loadAtStart = loadavg().map((x) => Math.round(x * 100) / 100);
log(`state ${state}, port ${port}, load average ${loadAtStart.join(' ')}`);
await applyMigrations(target);
const seed = await createToken({ scope: 'publish', label: 'bench-edge' }, target);

// 2. Cold start.
const dev = await startDev({ port, persistTo: state, logLevel: 'warn' });
const coldStartMs = dev.liveAt - dev.spawnedAt;
log(`wrangler dev answered /v2/health/live ${coldStartMs.toFixed(0)} ms after spawning`);
const results: Result[] = [];
const firstInfer: { model: string; status: number; ms: number }[] = [];
try {
  try {
    await publishDefaults(dev.url, seed.token, { log });
  } finally {
    await revokeToken(seed.id, target);
  }
  const manifest = parseManifest(
    await (await fetch(`${dev.url}/v1/models/cnn-lstm/versions/0.1.0`)).json(),
    'cnn-lstm 0.1.0',
  );
  const blob = manifest.files.find((f) => f.path === 'model.onnx')!;
  const ecg = ecgBody();
  const json = { 'Content-Type': 'application/json' };
  const scenarios: Scenario[] = [
    {
      name: 'health/live (the floor: wrangler dev per request)',
      method: 'GET',
      path: '/v2/health/live',
      expect: 200,
      connections,
    },
    {
      name: 'blob GET 200 (cnn-lstm model.onnx)',
      method: 'GET',
      path: `/v1/blobs/${blob.sha256}`,
      expect: 200,
      connections,
    },
    {
      name: 'blob GET If-None-Match → 304',
      method: 'GET',
      path: `/v1/blobs/${blob.sha256}`,
      headers: { 'If-None-Match': `"${blob.sha256}"` },
      expect: 304,
      connections,
    },
    {
      name: 'manifest GET',
      method: 'GET',
      path: '/v1/models/cnn-lstm/versions/0.1.0',
      expect: 200,
      connections,
    },
    {
      name: 'infer cnn-lstm',
      method: 'POST',
      path: '/v2/models/cnn-lstm/infer',
      headers: json,
      body: ecg,
      expect: 200,
      connections: 1,
    },
    {
      name: 'infer transformer',
      method: 'POST',
      path: '/v2/models/transformer/infer',
      headers: json,
      body: ecg,
      expect: 200,
      connections: 1,
    },
  ];

  // 3. First infer of each model: loads its graphs.
  const agent = new Agent({ keepAlive: false });
  for (const s of scenarios.filter((x) => x.method === 'POST')) {
    const r = await send(agent, port, s);
    firstInfer.push({ model: s.path.split('/')[3]!, status: r.status, ms: r.ms });
    log(`first ${s.name}: ${r.status} in ${r.ms.toFixed(0)} ms`);
  }

  // 4. Load.
  for (const s of scenarios) {
    let r: Result | undefined;
    for (let attempt = 1; attempt <= 3 && (r === undefined || r.status === 'disturbed'); attempt++) {
      log(`${s.name}: ${durationS} s over ${s.connections} connection(s)`);
      r = await load(port, dev.child.pid!, s);
      if (r.status === 'ok')
        log(
          `  ${r.rps.toFixed(0)} req/s, p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms, ${r.errors} errors`,
        );
      else if (r.status === 'skipped') log(`  skipped: HTTP ${r.httpStatus} ${r.reason.slice(0, 120)}`);
      else log(`  ${r.reason}; measuring again`);
    }
    results.push(r!);
  }
} finally {
  await dev.stop();
  await rm(state, { recursive: true, force: true });
}

// 5. Bundle.
const bundle = await bundleSize();
log(`bundle ${bundle.rawBytes} bytes, ${bundle.gzipBytes} gzip (${bundle.files.join(', ')})`);

const cpu = cpus()[0]?.model ?? 'unknown';
const wranglerVersion = (
  JSON.parse(await readFile(join(ROOT, 'node_modules/wrangler/package.json'), 'utf8')) as { version: string }
).version;
const machine = {
  cpu,
  cores: availableParallelism(),
  node: process.version,
  platform: `${process.platform} ${process.arch}`,
  wrangler: wranglerVersion,
  loadAverageAtStart: loadAtStart,
};
// The code measured: wrangler dev bundles the working tree, which may be ahead of the commit.
const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
const commit = `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--', 'packages/edge-api/src', 'packages/core/src') === '' ? '' : ' + uncommitted edge/core changes'}`;
const date = new Date().toISOString();
const report = { date, commit, machine, durationS, coldStartMs, firstInfer, bundle, scenarios: results };
const outDir = join(ROOT, 'benchmarks/results');
await mkdir(outDir, { recursive: true });
await writeFile(join(outDir, 'edge.json'), `${JSON.stringify(report, null, 2)}\n`);

// 6. The markdown, with the targets.
const find = (name: string) => results.find((r) => r.name === name);
const ms = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(1));
const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
type Check = { target: string; measured: string; met: boolean | null };
const check = (
  name: string,
  target: string,
  pick: (r: Extract<Result, { status: 'ok' }>) => [string, boolean],
): Check => {
  const r = find(name);
  if (r === undefined || r.status !== 'ok')
    return {
      target,
      measured: r?.status === 'skipped' ? `skipped (HTTP ${r.httpStatus})` : 'disturbed',
      met: null,
    };
  const [measured, met] = pick(r);
  return { target, measured, met };
};
const checks: Check[] = [
  check('infer cnn-lstm', 'CNN-LSTM infer p50 < 50 ms', (r) => [`${ms(r.p50Ms)} ms`, r.p50Ms < 50]),
  check('infer cnn-lstm', 'CNN-LSTM infer p99 < 200 ms', (r) => [`${ms(r.p99Ms)} ms`, r.p99Ms < 200]),
  check('infer transformer', 'Transformer infer p50 < 500 ms', (r) => [`${ms(r.p50Ms)} ms`, r.p50Ms < 500]),
  check('blob GET If-None-Match → 304', 'blob 304s > 1,000 req/s', (r) => [
    `${r.rps.toFixed(0)} req/s (the health/live floor: ${results[0]?.status === 'ok' ? results[0].rps.toFixed(0) : '–'} req/s)`,
    r.rps > 1000,
  ]),
  { target: 'bundle ≤ 5 MB gzip', measured: mb(bundle.gzipBytes), met: bundle.gzipBytes <= 5e6 },
];
const verdict = (met: boolean | null) => (met === null ? '–' : met ? 'yes' : '**no**');
const floor = results[0]?.status === 'ok' ? results[0].serverCpuUs : null;
const cpuCells = (server: number | null) =>
  server === null ? '– | –' : `${server.toFixed(0)} | ${floor === null ? '–' : (server - floor).toFixed(0)}`;
const rows = results.map((r) =>
  r.status === 'ok'
    ? `| ${r.name} | ${r.connections} | ${r.requests} | ${r.rps.toFixed(0)} | ${ms(r.p50Ms)} | ${ms(r.p99Ms)} | ${r.errors} | ${cpuCells(r.serverCpuUs)} | ${r.clientCpuUs.toFixed(0)} |`
    : `| ${r.name} | – | – | ${r.status === 'skipped' ? `skipped: HTTP ${r.httpStatus}` : r.reason} | – | – | – | – | – | – |`,
);
const md = `# Edge API under load (\`npm run bench:edge\`)

${date.slice(0, 10)} · ${machine.cores} × ${cpu} · Node ${machine.node} · wrangler ${wranglerVersion} (\`wrangler dev\`, workerd, loopback) · load average at start ${loadAtStart.join(' ')} · code ${commit}

The Worker runs in \`wrangler dev\` on this machine, seeded with the default models as \`npm start\` seeds it.
Each scenario is a closed loop for ${durationS} s over fixed keep-alive connections; the load generator, wrangler's
proxy and workerd share the ${machine.cores} cores, so these numbers are a floor for the Worker on Cloudflare, not a forecast.
Infer runs over one connection: its targets are latencies, and an isolate runs one inference at a time.
"Server CPU" is the CPU time of wrangler dev's process group (its proxy and workerd) per request, "client CPU"
this load generator's. The health/live row is the floor: what \`wrangler dev\` itself costs per request here,
route work aside — a req/s target above what that floor allows cannot be met in \`wrangler dev\` on this machine.
Routes that read D1 (manifest GET, infer's version lookup) also pay for miniflare's local D1, a Durable Object
over SQLite in workerd, which is not what D1 costs on Cloudflare.

## Targets

| target | measured | met |
| --- | --- | --- |
${checks.map((c) => `| ${c.target} | ${c.measured} | ${verdict(c.met)} |`).join('\n')}

## Scenarios

| scenario | connections | requests | req/s | p50 ms | p99 ms | errors | server CPU µs/req | above the floor | client CPU µs/req |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

## Cold start

- spawning \`wrangler dev\` → first 200 on \`/v2/health/live\`: ${coldStartMs.toFixed(0)} ms (bundling the Worker, starting workerd, loading the module)
${firstInfer.map((f) => `- first infer of ${f.model} (fetches its graphs from R2, opens the sessions): ${f.status === 200 ? `${f.ms.toFixed(0)} ms` : `HTTP ${f.status} (skipped)`}`).join('\n')}

## Bundle

\`wrangler deploy --dry-run\`: ${bundle.files.join(', ')} — ${mb(bundle.rawBytes)} raw, ${mb(bundle.gzipBytes)} gzip (each file gzipped at the default level; source maps not counted).
`;
await writeFile(join(outDir, 'edge.md'), md);
log(`wrote benchmarks/results/edge.{md,json}`);
