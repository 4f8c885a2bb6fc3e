/**
 * @module
 * The SDK loading damaged and hostile graphs from a self-hosted models folder, in Node on ORT wasm:
 * bytes that do not match the manifest are an IntegrityError before ORT sees them; a graph that matches
 * its manifest (a publisher recomputed the digest) but is damaged or hostile — mutated copies of the
 * CNN-LSTM graph, an initializer claiming (2^31, 2^31), an empty file — either loads or is a
 * BackendUnavailableError naming the graph (a 0-byte file: a ManifestError), never another exception or a hang.
 */

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { reportFigure } from '../../../test/reliability.ts';
import {
  BackendUnavailableError,
  createReconstructor,
  IntegrityError,
  ManifestError,
  memoryStore,
  ReconstructorError,
} from '../src/index.ts';

const { onnx } = onnxProto;
const FOLDER = join(import.meta.dirname, '../../../models/cnn-lstm/0.1.0');
const original = new Uint8Array(await readFile(join(FOLDER, 'model.onnx')));
const manifestText = await readFile(join(FOLDER, 'manifest.json'), 'utf8');
const HANG_MS = 20_000;

interface ManifestFile {
  path: string;
  sha256: string;
  bytes: number;
}

/**
 * A models folder holding cnn-lstm 0.1.0 with `graph` as its fp32 model.onnx; with `rehash`, the
 * manifest carries the graph's own digest and size (a hostile or careless publisher).
 */
function folder(graph: Uint8Array, rehash: boolean): typeof fetch {
  const manifest = JSON.parse(manifestText) as { files: ManifestFile[] };
  if (rehash) {
    const file = manifest.files.find((f) => f.path === 'model.onnx')!;
    file.sha256 = createHash('sha256').update(graph).digest('hex');
    file.bytes = graph.length;
  }
  const body = new TextEncoder().encode(JSON.stringify(manifest));
  return async (input) => {
    const path = new URL(String(input instanceof Request ? input.url : input)).pathname;
    if (path === '/cnn-lstm/0.1.0/manifest.json') return new Response(body);
    if (path === '/cnn-lstm/0.1.0/model.onnx') return new Response(graph.slice());
    if (path.startsWith('/cnn-lstm/0.1.0/'))
      return new Response(new Uint8Array(await readFile(join(FOLDER, path.slice(16)))));
    return new Response('not found', { status: 404 });
  };
}

type Outcome = 'loaded' | 'BackendUnavailableError' | 'IntegrityError' | 'ManifestError' | string;

async function load(graph: Uint8Array, rehash: boolean): Promise<Outcome> {
  const started = performance.now();
  let result: Outcome;
  try {
    const r = await createReconstructor({
      model: 'cnn-lstm',
      version: '0.1.0',
      modelsUrl: 'https://models.test',
      fetch: folder(graph, rehash),
      device: 'wasm',
      cache: memoryStore(),
    });
    await r.dispose();
    result = 'loaded';
  } catch (err) {
    if (err instanceof BackendUnavailableError) {
      result = /model graph/.test(err.message) ? err.name : `message '${err.message}'`;
    } else if (err instanceof IntegrityError || err instanceof ManifestError) result = err.name;
    else if (err instanceof ReconstructorError) result = `${err.name}: ${err.message}`;
    else result = `untyped ${(err as Error).name}: ${(err as Error).message}`;
  }
  const ms = performance.now() - started;
  return ms > HANG_MS ? `took ${ms.toFixed(0)} ms` : result;
}

const mutation = fc.array(
  fc.record({ at: fc.nat({ max: original.length - 1 }), bit: fc.nat({ max: 7 }), cut: fc.boolean() }),
  { minLength: 1, maxLength: 3 },
);

function mutate(edits: readonly { at: number; bit: number; cut: boolean }[]): Uint8Array {
  let b = original.slice();
  for (const { at, bit, cut } of edits) {
    const i = at % Math.max(1, b.length);
    if (cut) b = b.slice(0, Math.max(i, b.length >> 1));
    else b[i] = b[i]! ^ (1 << bit);
  }
  return b;
}

function hugeWeight(): Uint8Array {
  const m = onnx.ModelProto.decode(original);
  m.graph!.initializer![0]!.dims = [2 ** 31, 2 ** 31];
  return onnx.ModelProto.encode(m).finish();
}

/** The CNN-LSTM graph with its output 'tmp' renamed 'out': valid ONNX, not the SDK's contract. */
function renamedOutput(): Uint8Array {
  const m = onnx.ModelProto.decode(original);
  const g = m.graph!;
  for (const node of g.node!) node.output = node.output!.map((o) => (o === 'tmp' ? 'out' : o));
  g.output![0]!.name = 'out';
  return onnx.ModelProto.encode(m).finish();
}

/**
 * A graph that loads and fails when run: `tmp = Reshape(ecg, [1, 75, 500])` over symbolic dimensions, so
 * ORT cannot check it until a 12 × 500 ECG (6000 values, not 37 500) arrives.
 */
function failsWhenRun(): Uint8Array {
  const dims = (...d: (number | string)[]) =>
    d.map((x) => (typeof x === 'number' ? { dimValue: x } : { dimParam: x }));
  const shape = new DataView(new ArrayBuffer(24));
  for (const [i, v] of [1, 75, 500].entries()) shape.setBigInt64(i * 8, BigInt(v), true);
  return onnx.ModelProto.encode(
    onnx.ModelProto.fromObject({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'fails-when-run',
        node: [{ opType: 'Reshape', input: ['ecg', 'shape'], output: ['tmp'] }],
        initializer: [{ name: 'shape', dataType: 7, dims: [3], rawData: new Uint8Array(shape.buffer) }],
        input: [
          { name: 'ecg', type: { tensorType: { elemType: 1, shape: { dim: dims('batch', 12, 'time') } } } },
        ],
        output: [
          { name: 'tmp', type: { tensorType: { elemType: 1, shape: { dim: dims('batch', 75, 'time') } } } },
        ],
      },
    }),
  ).finish();
}

describe('the SDK loading damaged and hostile graphs', () => {
  it('refuses at load a graph without the ecg → tmp contract, and types a failure inside a run', async () => {
    const open = (graph: Uint8Array) =>
      createReconstructor({
        model: 'cnn-lstm',
        version: '0.1.0',
        modelsUrl: 'https://models.test',
        fetch: folder(graph, true),
        device: 'wasm',
        cache: memoryStore(),
      });
    const refused = await open(renamedOutput()).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(BackendUnavailableError);
    expect((refused as Error).message).toMatch(
      /the model graph has inputs \[ecg\], outputs \[out\]; the SDK runs input 'ecg' to output 'tmp'/,
    );
    const r = await open(failsWhenRun());
    try {
      const err = await r.reconstruct(new Float32Array(12 * 500).fill(0.1)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ReconstructorError);
      expect((err as Error).message).toMatch(/^cnn-lstm 0\.1\.0 failed while running on wasm: .*/);
      // ORT's own error kept as the cause.
      expect((err as Error).cause).toBeInstanceOf(Error);
      expect((err as Error).cause).not.toBeInstanceOf(ReconstructorError);
    } finally {
      await r.dispose();
    }
  });

  it('refuses bytes that do not match the manifest with an IntegrityError', async () => {
    expect(await load(mutate([{ at: 5000, bit: 3, cut: false }]), false)).toBe('IntegrityError');
    expect(await load(original.subarray(0, 1000), false)).toBe('IntegrityError');
    expect(await load(new Uint8Array(0), false)).toBe('IntegrityError');
  });

  it('loads or refuses (BackendUnavailableError) 100 mutated and 3 hostile graphs that match their manifest', async ({
    task,
  }) => {
    const cases: [string, Uint8Array][] = [
      ['an empty graph', new Uint8Array(0)],
      ['text', new TextEncoder().encode('not a model')],
      ['a weight claiming (2^31, 2^31)', hugeWeight()],
      ...fc
        .sample(mutation, { numRuns: 100, seed: 10_030 })
        .map((edits, i): [string, Uint8Array] => [`mutant ${i}`, mutate(edits)]),
    ];
    // An empty graph never reaches ORT: a manifest listing a 0-byte file is itself refused.
    const counts = { loaded: 0, BackendUnavailableError: 0, ManifestError: 0 };
    const failures: string[] = [];
    for (const [what, graph] of cases) {
      const result = await load(graph, true);
      if (result === 'loaded' || result === 'BackendUnavailableError' || result === 'ManifestError')
        counts[result]++;
      else failures.push(`${what}: ${result}`);
    }
    reportFigure(task, {
      area: 'bad input',
      what: 'SDK (ORT wasm): damaged and hostile graphs whose digest matches the manifest',
      count: cases.length,
      unit: 'graphs',
      failures: failures.length,
      note: `${counts.BackendUnavailableError} refused (BackendUnavailableError), ${counts.ManifestError} refused (ManifestError), ${counts.loaded} loaded (damage in weight values)`,
    });
    expect(failures.slice(0, 5)).toEqual([]);
    expect(counts.BackendUnavailableError).toBeGreaterThanOrEqual(3);
    // The runtime is not left broken: the real graph still loads.
    expect(await load(original, false)).toBe('loaded');
  }, 180_000);
});
