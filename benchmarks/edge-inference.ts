/**
 * @module
 * `npm run bench:edge-inference` — the inference Worker's CPU time per request and peak memory, per
 * default model at its stable version (models/aliases.json), and the Cloudflare plan each fits
 * (Workers Free: 10 ms CPU per request; both plans: 128 MB per isolate).
 *
 *   npm run bench:edge-inference -- [--requests 30]
 *
 * How: Workers expose no CPU clock to a Worker (time stands still while it computes), so the Worker's
 * own code runs in Node instead — the inference Worker's Hono app (src/inference/index.ts) unchanged,
 * its onnxruntime-web .wasm handed over as a precompiled WebAssembly.Module exactly as wrangler's
 * CompiledWasm rule does (a Node loader hook), its D1 and R2 the real local ones of wrangler's
 * getPlatformProxy (workerd, in another process: their I/O is not Worker CPU time there either). The
 * models are published through the registry Worker's app with the publish client. Each model runs in
 * a fresh child process, so its ORT heap is its own:
 *   1. the first infer (the version's graphs read from R2, verified, ORT sessions created) — cold;
 *   2. `--requests` more infers of one reference ECG ([1, 12, 500], JSON and binary) — warm;
 *   CPU: the Worker's own per warm request, from a sampling profile of each kind's requests (attribute():
 *   the local D1/R2 proxy's client runs in this process and is not the Worker's CPU — deployed, a binding
 *   call is I/O; before this split the figures counted it, 13–31 ms a request), and process.cpuUsage()
 *   (user + system) around each request, both together; the cold request's is process CPU. Memory: the
 *   ORT WebAssembly memory (it never shrinks, so its final size is its peak) plus the JS heap's growth.
 * Writes benchmarks/results/edge-inference.{json,md}.
 */

import { execFileSync, fork } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { register } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FREE_CPU_MS = 10;
const MEMORY_MB = 128;

interface WasmInstance {
  readonly exports: Record<string, unknown>;
}
interface WasmApi {
  Memory: abstract new (...args: never[]) => unknown;
  Instance: abstract new (...args: never[]) => WasmInstance;
  instantiate: (source: unknown, imports?: Record<string, Record<string, unknown>>) => Promise<unknown>;
}

/** The Worker's bindings as far as this script passes them on (the Worker's own `Env` is Workers-typed). */
type Bindings = Record<string, unknown> & { DB: unknown };

/**
 * The Worker's modules, imported by a computed URL: their types need the Workers runtime's, which this
 * Node script's tsconfig does not have; the shapes used are declared here.
 */
interface HonoApp {
  request(url: string, init: RequestInit | undefined, env: Bindings): Response | Promise<Response>;
}
const workerModule = <T>(path: string): Promise<T> =>
  import(new URL(`../packages/edge-api/${path}`, import.meta.url).href) as Promise<T>;

/**
 * Per warm request: the Worker's own CPU and the local binding proxy's (mean, attributed by the
 * sampling profiler), and this process's CPU in all (process.cpuUsage(), median and p95).
 */
interface WarmFigures {
  workerCpuMs: number;
  /** The Worker's CPU per request by part (self time: ORT, zod, core, …), and its costliest frames. */
  workerParts: Record<string, number>;
  workerFrames: { frame: string; ms: number }[];
  proxyCpuMs: number;
  medianCpuMs: number;
  p95CpuMs: number;
  medianWallMs: number;
}

interface ModelFigures {
  model: string;
  version: string;
  architecture: string;
  coldCpuMs: number;
  warmJson: WarmFigures;
  warmBinary: WarmFigures;
  ortWasmMiB: number;
  jsHeapGrowthMiB: number;
  peakMiB: number;
  fitsFreeCpu: boolean;
  fitsMemory: boolean;
  plan: string;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Frames of the local D1/R2 proxy (wrangler's getPlatformProxy client and the HTTP under it). */
const BINDING_PROXY =
  /node_modules\/(miniflare|undici|wrangler|ws)\/|^node:(net|_http|http|internal\/http|stream|internal\/streams)/;
/** Frames of this benchmark's own measuring (the profiler's stop, process.cpuUsage, memoryUsage). */
const MEASURING = /^node:inspector/;
/** process.memoryUsage and process.cpuUsage, which this benchmark calls around each request. */
const MEASURING_NATIVES = new Set(['memoryUsage', 'cpuUsage']);

/**
 * Splits a CPU profile of this process into the Worker's own CPU and the binding proxy's: a sample
 * whose stack passes through the proxy's frames (BINDING_PROXY) is the proxy's — work a deployed Worker
 * does not do, as there a binding call is I/O — and idle samples and the profiler's own are nobody's;
 * every other sample (the Worker's code, ORT's WebAssembly, hono, zod, core, garbage collection, this
 * script's loop around the requests) is counted as the Worker's, so the figure is an upper bound.
 */
/** Where the Worker's own samples fall, by the frame that was running (its self time). */
const PARTS: readonly [string, (f: { functionName: string; url: string }) => boolean][] = [
  ['garbage collection', (f) => f.functionName === '(garbage collector)'],
  ['ORT (wasm + its JS)', (f) => f.url.startsWith('wasm://') || f.url.includes('onnxruntime-web')],
  ['zod', (f) => f.url.includes('node_modules/zod')],
  ['hono', (f) => f.url.includes('node_modules/hono')],
  ['core', (f) => f.url.includes('packages/core/')],
  ['edge-api', (f) => f.url.includes('packages/edge-api/')],
  ['node and V8 built-ins', (f) => f.url === '' || f.url.startsWith('node:')],
];

function partOf(frame: { functionName: string; url: string }): string {
  return PARTS.find(([, test]) => test(frame))?.[0] ?? 'other (this script)';
}

function attribute(profile: Profile): {
  workerMs: number;
  proxyMs: number;
  /** The Worker's ms by part (self time), and its ten costliest frames. */
  parts: Record<string, number>;
  frames: { frame: string; ms: number }[];
} {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const kind = new Map<number, 'worker' | 'proxy' | 'idle'>();
  const classify = (id: number): 'worker' | 'proxy' | 'idle' => {
    let k = kind.get(id);
    if (k !== undefined) return k;
    const { functionName, url } = byId.get(id)!.callFrame;
    if (
      functionName === '(idle)' ||
      functionName === '(program)' ||
      MEASURING.test(url) ||
      (url === '' && MEASURING_NATIVES.has(functionName))
    )
      k = 'idle';
    else if (BINDING_PROXY.test(url)) k = 'proxy';
    else {
      const up = parent.get(id);
      k = up === undefined ? 'worker' : classify(up);
    }
    kind.set(id, k);
    return k;
  };
  let workerUs = 0;
  let proxyUs = 0;
  const parts = new Map<string, number>();
  const frames = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const k = classify(id);
    const dt = profile.timeDeltas[i] ?? 0;
    if (k === 'worker') {
      workerUs += dt;
      const frame = byId.get(id)!.callFrame;
      const part = partOf(frame);
      parts.set(part, (parts.get(part) ?? 0) + dt);
      const name = `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*\/(node_modules|packages)\//, '')}`;
      frames.set(name, (frames.get(name) ?? 0) + dt);
    } else if (k === 'proxy') proxyUs += dt;
  });
  return {
    workerMs: workerUs / 1000,
    proxyMs: proxyUs / 1000,
    parts: Object.fromEntries([...parts].sort((a, b) => b[1] - a[1]).map(([p, us]) => [p, us / 1000])),
    frames: [...frames]
      .sort((a, b) => b[1] - a[1])
      .slice(0, Number(process.env.EDGE_BENCH_FRAMES ?? 10))
      .map(([frame, us]) => ({ frame, ms: us / 1000 })),
  };
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

/** One model, in this (child) process. */
async function measure(model: string, requests: number): Promise<ModelFigures> {
  // wrangler's CompiledWasm rule in Node: `import m from 'x.wasm'` gives a compiled WebAssembly.Module.
  register(
    `data:text/javascript,${encodeURIComponent(`
      export async function load(url, context, next) {
        if (!url.endsWith('.wasm')) return next(url, context);
        return { format: 'module', shortCircuit: true, source:
          'import { readFileSync } from "node:fs"; export default new WebAssembly.Module(readFileSync(new URL(' + JSON.stringify(url) + ')));' };
      }`)}`,
  );
  // The ORT heap: Emscripten's memory, found among the instance's imports or exports. (The root
  // tsconfig has no DOM or Workers types, so WebAssembly is typed here as far as it is used.)
  const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
  const memories: { buffer: ArrayBuffer }[] = [];
  const instantiate = wasm.instantiate.bind(wasm);
  wasm.instantiate = async (source: unknown, imports?: Record<string, Record<string, unknown>>) => {
    const result = await instantiate(source, imports);
    const instance =
      result instanceof wasm.Instance ? result : (result as { instance: WasmInstance }).instance;
    const seen = [
      ...Object.values(instance.exports),
      ...Object.values(imports ?? {}).flatMap((m) => Object.values(m)),
    ];
    for (const v of seen) if (v instanceof wasm.Memory) memories.push(v as { buffer: ArrayBuffer });
    return result;
  };

  const state = await mkdtemp(join(tmpdir(), 'edge-inference-bench-'));
  try {
    const { applyMigrations } = await import('../packages/edge-api/scripts/wrangler.ts');
    await applyMigrations({ kind: 'local', persistTo: state });
    const { getPlatformProxy } = await import('wrangler');
    const proxy = await getPlatformProxy<Bindings>({
      configPath: join(ROOT, 'packages/edge-api/wrangler.inference.toml'),
      persist: { path: join(state, 'v3') },
    });
    const env: Bindings = { ...proxy.env, INFER_RATE_LIMIT: '0' };
    const { app: registry } = await workerModule<{ app: HonoApp }>('src/index.ts');
    const { insertToken } = await workerModule<{
      insertToken(db: unknown, token: string, scopes: string[], label: string, at: string): Promise<unknown>;
    }>('src/db/index.ts');
    const { publishModel } = await import('../packages/edge-api/client/publish.ts');
    const aliases = JSON.parse(await readFile(join(ROOT, 'models/aliases.json'), 'utf8')) as Record<
      string,
      { stable: string }
    >;
    const version = aliases[model]!.stable;
    const token = `bench-${crypto.randomUUID()}`;
    await insertToken(env.DB, token, ['publish'], 'bench', new Date().toISOString());
    await publishModel(join(ROOT, 'models', model, version), {
      url: 'https://edge.bench',
      token,
      aliases: ['stable'],
      fetch: (input, init) => Promise.resolve(registry.request(String(input), init, env)),
    });
    const manifest = JSON.parse(
      await readFile(join(ROOT, 'models', model, version, 'manifest.json'), 'utf8'),
    ) as { architecture: string };

    const ecgBytes = await readFile(join(ROOT, 'packages/edge-api/test/fixtures/ecg.bin'));
    const ecg = Array.from(new Float32Array(ecgBytes.buffer, ecgBytes.byteOffset, 12 * 500));
    const jsonBody = JSON.stringify({
      inputs: [{ name: 'ecg', shape: [1, 12, 500], datatype: 'FP32', data: ecg }],
    });
    const header = JSON.stringify({
      inputs: [
        {
          name: 'ecg',
          shape: [1, 12, 500],
          datatype: 'FP32',
          parameters: { binary_data_size: 12 * 500 * 4 },
        },
      ],
      outputs: [{ name: 'tmp', parameters: { binary_data: true } }],
    });
    const headerBytes = new TextEncoder().encode(header);
    const binaryBody = new Uint8Array(headerBytes.length + 12 * 500 * 4);
    binaryBody.set(headerBytes);
    binaryBody.set(new Uint8Array(new Float32Array(ecg).buffer), headerBytes.length);

    const { app } = await workerModule<{ app: HonoApp }>('src/inference/index.ts');
    const url = `https://edge.bench/v2/models/${model}/infer`;
    global.gc?.();
    const baseHeap = process.memoryUsage().heapUsed;
    let peakHeap = baseHeap;
    const one = async (binary: boolean) => {
      const init: RequestInit = binary
        ? {
            method: 'POST',
            headers: {
              'Content-Type': 'application/octet-stream',
              'Inference-Header-Content-Length': String(headerBytes.length),
            },
            body: binaryBody,
          }
        : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: jsonBody };
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const res = await app.request(url, init, env);
      await res.arrayBuffer();
      const c = process.cpuUsage(c0);
      const wall = performance.now() - t0;
      peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
      if (res.status !== 200) throw new Error(`infer answered ${res.status}`);
      return { cpu: (c.user + c.system) / 1000, wall };
    };
    // The warm requests of each kind under the sampling profiler, to tell the Worker's CPU from the
    // local binding proxy's (attribute()); process.cpuUsage() per request counts both.
    const inspector = new Session();
    inspector.connect();
    await inspector.post('Profiler.enable');
    await inspector.post('Profiler.setSamplingInterval', {
      interval: Number(process.env.EDGE_BENCH_INTERVAL_US ?? 100),
    });
    const profiled = async (binary: boolean) => {
      const xs: { cpu: number; wall: number }[] = [];
      await inspector.post('Profiler.start');
      for (let i = 0; i < requests; i++) xs.push(await one(binary));
      const { profile } = (await inspector.post('Profiler.stop')) as { profile: Profile };
      const { workerMs, proxyMs, parts, frames } = attribute(profile);
      const per = (ms: number) => round(ms / requests, 3);
      return {
        xs,
        workerMs: workerMs / requests,
        proxyMs: proxyMs / requests,
        parts: Object.fromEntries(Object.entries(parts).map(([p, ms]) => [p, per(ms)])),
        frames: frames.map((f) => ({ frame: f.frame, ms: per(f.ms) })),
      };
    };
    const cold = await one(false);
    await one(true);
    const json = await profiled(false);
    const binary = await profiled(true);
    inspector.disconnect();
    const summary = ({
      xs,
      workerMs,
      proxyMs,
      parts,
      frames,
    }: Awaited<ReturnType<typeof profiled>>): WarmFigures => ({
      workerCpuMs: round(workerMs),
      workerParts: parts,
      workerFrames: frames,
      proxyCpuMs: round(proxyMs),
      medianCpuMs: round(
        quantile(
          xs.map((x) => x.cpu),
          0.5,
        ),
      ),
      p95CpuMs: round(
        quantile(
          xs.map((x) => x.cpu),
          0.95,
        ),
      ),
      medianWallMs: round(
        quantile(
          xs.map((x) => x.wall),
          0.5,
        ),
      ),
    });
    const ortWasmMiB = round(Math.max(0, ...memories.map((m) => m.buffer.byteLength)) / 2 ** 20, 1);
    const jsHeapGrowthMiB = round((peakHeap - baseHeap) / 2 ** 20, 1);
    const peakMiB = round(ortWasmMiB + jsHeapGrowthMiB, 1);
    const warmJson = summary(json);
    const warmBinary = summary(binary);
    const fitsFreeCpu = Math.max(warmJson.workerCpuMs, warmBinary.workerCpuMs) <= FREE_CPU_MS;
    const fitsMemory = peakMiB * 1.048576 <= MEMORY_MB;
    await proxy.dispose();
    return {
      model,
      version,
      architecture: manifest.architecture,
      coldCpuMs: round(cold.cpu),
      warmJson,
      warmBinary,
      ortWasmMiB,
      jsHeapGrowthMiB,
      peakMiB,
      fitsFreeCpu,
      fitsMemory,
      plan: !fitsMemory
        ? 'none (over 128 MB)'
        : fitsFreeCpu
          ? "within Free's 10 ms CPU"
          : warmBinary.workerCpuMs <= FREE_CPU_MS
            ? "within Free's 10 ms CPU with binary tensors (JSON: over)"
            : 'over 10 ms CPU: Paid',
    };
  } finally {
    await rm(state, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { requests: { type: 'string' }, model: { type: 'string' } },
  });
  const requests = Number(values.requests ?? 30);
  if (values.model !== undefined) {
    const figures = await measure(values.model, requests);
    if (process.send === undefined) process.stdout.write(`${JSON.stringify(figures)}\n`);
    else process.send(figures);
    return;
  }
  const aliases = JSON.parse(await readFile(join(ROOT, 'models/aliases.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  const results: ModelFigures[] = [];
  for (const model of Object.keys(aliases).sort()) {
    const child = fork(fileURLToPath(import.meta.url), ['--model', model, '--requests', String(requests)], {
      execArgv: ['--import', 'tsx', '--expose-gc'],
      stdio: 'inherit',
    });
    const figures = await new Promise<ModelFigures>((resolve, reject) => {
      child.once('message', (m) => resolve(m as ModelFigures));
      child.once('exit', (code) => reject(new Error(`the ${model} run exited ${code}`)));
    });
    await new Promise((r) => child.once('exit', r));
    process.stderr.write(`${model}: ${JSON.stringify(figures)}\n`);
    results.push(figures);
  }
  const machine = `${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length}, Node ${process.versions.node} (V8 ${process.versions.v8})`;
  const date = new Date().toISOString().slice(0, 10);
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
  await writeFile(
    join(ROOT, 'benchmarks/results/edge-inference.json'),
    `${JSON.stringify({ date, commit, machine, requests, freeCpuMs: FREE_CPU_MS, memoryMB: MEMORY_MB, results }, null, 2)}\n`,
  );
  const rows = results.map(
    (r) =>
      `| ${r.model} ${r.version} (${r.architecture}) | ${r.coldCpuMs} | **${r.warmBinary.workerCpuMs}** | ${r.warmJson.workerCpuMs} | ${r.warmBinary.proxyCpuMs} / ${r.warmJson.proxyCpuMs} | ${r.warmBinary.medianCpuMs} (p95 ${r.warmBinary.p95CpuMs}) / ${r.warmJson.medianCpuMs} (p95 ${r.warmJson.p95CpuMs}) | ${r.ortWasmMiB} | ${r.jsHeapGrowthMiB} | ${r.peakMiB} | ${r.plan} |`,
  );
  await writeFile(
    join(ROOT, 'benchmarks/results/edge-inference.md'),
    `# The inference Worker per model: CPU per request, peak memory, plan

${date}, commit ${commit}, ${machine}; ${requests} warm requests of each kind per model, one reference ECG
[1, 12, 500]. Method: benchmarks/edge-inference.ts (the Worker's own app in Node, its .wasm precompiled as
wrangler does, real local D1/R2 out of process). The Worker's CPU per warm request is the mean of a
sampling profile with the local D1/R2 proxy's client taken out (in Node it runs in this process; deployed,
a binding call is I/O, not the Worker's CPU); process CPU counts both. Upper bounds: the profile counts
garbage collection and this script's loop as the Worker's.

| model (stable) | cold infer process CPU ms (load + first) | Worker CPU ms, warm binary | Worker CPU ms, warm JSON | binding proxy ms (binary / JSON) | process CPU ms median, binary / JSON | ORT wasm MiB | JS heap growth MiB | peak MiB | plan |
| -------------- | ---------------------------------------- | -------------------------- | ------------------------ | -------------------------------- | ------------------------------------ | ------------ | ------------------ | -------- | ---- |
${rows.join('\n')}

Workers Free gives a request 10 ms of CPU, Paid 30 s by default (up to 5 min); both give an isolate 128 MB.
The plan column holds a model to the larger of its two Worker CPU figures, or says when only binary
requests (the SDK's; OIP's binary tensor extension) stay within 10 ms. It is about a request's limits
only: the inference Worker's bundle (onnxruntime-web's .wasm, ~3.7 MB gzip) is over the Free plan's 3 MB,
so that Worker deploys on Paid whatever the model (docs/deploy.md); there the CPU is what a request costs.
`,
  );
}

await main();
