/**
 * @module
 * Opening damaged and hostile .onnx files with onnxruntime-web's WASM build (the trainer's ORT runner,
 * `verify-model`): a few hundred mutated copies of the shipped CNN-LSTM graph (bit flips, cuts, inserted
 * and overwritten bytes) and hand-made hostile protobufs (initializers claiming huge, negative or more
 * dimensions than their data, external data pointing at other files, unknown ops and opsets, a cycle,
 * an empty or non-protobuf file). Each must open (a flip in a weight value is still a model) or fail
 * with an InputError 'bad_model' naming the file — never another exception, a hang or a dead runtime.
 */

import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError, N_LEADS, N_STEPS } from '@ecg-tmp/core';
import fc from 'fast-check';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { reportFigure } from '../../../../test/reliability.ts';
import { OrtModel, openSession } from './ort-node.ts';
import { openModel } from './verify.ts';

const { onnx } = onnxProto;
const FOLDER = new URL('../../../../models/cnn-lstm/0.1.0/', import.meta.url);
const original = new Uint8Array(await readFile(new URL('model.onnx', FOLDER)));
/** A session that takes longer than this to open or fail counts as a hang. */
const HANG_MS = 20_000;

/** Byte-level damage to the real graph; fast-check picks the edits from a fixed seed. */
const mutation = fc.array(
  fc.record({
    op: fc.constantFrom('flip', 'cut', 'insert', 'delete', 'overwrite'),
    at: fc.nat({ max: original.length - 1 }),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
  }),
  { minLength: 1, maxLength: 3 },
);

function mutate(edits: readonly { op: string; at: number; bytes: Uint8Array }[]): Uint8Array {
  let b = original.slice();
  const splice = (i: number, remove: number, insert: Uint8Array) => {
    const out = new Uint8Array(b.length - Math.min(remove, b.length - i) + insert.length);
    out.set(b.subarray(0, i));
    out.set(insert, i);
    out.set(b.subarray(i + remove), i + insert.length);
    b = out;
  };
  for (const { op, at, bytes } of edits) {
    const i = at % Math.max(1, b.length);
    if (op === 'flip') b[i] = b[i]! ^ (1 << (bytes[0]! % 8));
    else if (op === 'cut') b = b.slice(0, i);
    else if (op === 'overwrite') b.set(bytes.subarray(0, b.length - i), i);
    else if (op === 'insert') splice(i, 0, bytes);
    else splice(i, bytes.length, new Uint8Array(0));
  }
  return b;
}

/** The real graph with one change made through its protobuf, re-encoded. */
function edited(change: (m: onnxProto.onnx.ModelProto) => void): Uint8Array {
  const m = onnx.ModelProto.decode(original);
  change(m);
  return onnx.ModelProto.encode(m).finish();
}

const firstWeight = (m: onnxProto.onnx.ModelProto) => m.graph!.initializer![0]!;

/** Hand-made hostile files: each is a valid protobuf (or plainly not one) that must still be refused. */
const HOSTILE: [string, Uint8Array][] = [
  ['an empty file', new Uint8Array(0)],
  ['text', new TextEncoder().encode('this is not an ONNX model\n')],
  ['a .npy file', Uint8Array.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0])],
  ['the first half', original.subarray(0, original.length >> 1)],
  ['all but the last byte', original.subarray(0, original.length - 1)],
  ['a weight claiming (2^31, 2^31)', edited((m) => (firstWeight(m).dims = [2 ** 31, 2 ** 31]))],
  ['a weight claiming 2^62 elements', edited((m) => (firstWeight(m).dims = [2 ** 31, 2 ** 31, 1]))],
  ['a weight with a negative dimension', edited((m) => (firstWeight(m).dims = [-64, 12, 3]))],
  ['a weight claiming more data than it holds', edited((m) => firstWeight(m).dims!.push(1000))],
  ['a weight holding more data than it claims', edited((m) => (firstWeight(m).dims = [1]))],
  [
    'a weight whose data is cut',
    edited((m) => (firstWeight(m).rawData = firstWeight(m).rawData!.subarray(0, 100))),
  ],
  ['a weight of an unknown data type', edited((m) => (firstWeight(m).dataType = 99))],
  [
    'a weight in an external file',
    edited((m) => {
      const w = firstWeight(m);
      w.rawData = new Uint8Array(0);
      w.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      w.externalData = [
        { key: 'location', value: '../../../../etc/passwd' },
        { key: 'length', value: String(2 ** 40) },
      ];
    }),
  ],
  ['an unknown operator', edited((m) => (m.graph!.node![0]!.opType = 'NotAnOp'))],
  ['an unknown domain', edited((m) => (m.graph!.node![0]!.domain = 'com.example.hostile'))],
  ['opset 9999', edited((m) => (m.opsetImport![0]!.version = 9999))],
  ['IR version 9999', edited((m) => (m.irVersion = 9999))],
  ['no graph', edited((m) => (m.graph = null))],
  ['a node reading a value nothing makes', edited((m) => (m.graph!.node![0]!.input![0] = 'nowhere'))],
  [
    'a cycle',
    edited((m) => {
      const nodes = m.graph!.node!;
      nodes[0]!.input![0] = nodes[nodes.length - 1]!.output![0]!;
    }),
  ],
  ['an output nothing makes', edited((m) => (m.graph!.output![0]!.name = 'nothing'))],
];

type Outcome = 'opened' | 'bad_model' | string;

/** Opens `bytes`; 'opened', 'bad_model', or a description of the broken contract. */
async function outcome(bytes: Uint8Array, source: string): Promise<Outcome> {
  const started = performance.now();
  let result: Outcome;
  try {
    const session = await openSession(bytes, source);
    await session.release();
    result = 'opened';
  } catch (err) {
    if (!(err instanceof InputError)) result = `${(err as Error).name}: ${(err as Error).message}`;
    else if (err.code !== 'bad_model') result = `code ${err.code}`;
    else if (!err.message.startsWith(`${source} is not a usable ONNX model: `))
      result = `message '${err.message}'`;
    else result = 'bad_model';
  }
  const ms = performance.now() - started;
  return ms > HANG_MS ? `took ${ms.toFixed(0)} ms` : result;
}

/** The runtime still works: the real graph opens and runs a recording. */
async function stillRuns(): Promise<void> {
  const model = await OrtModel.open('cnn-lstm', { model: original });
  const out = await model.predict({
    data: new Float32Array(N_LEADS * N_STEPS),
    shape: [1, N_LEADS, N_STEPS],
  });
  expect(out.shape).toEqual([1, 75, N_STEPS]);
  expect(out.data.every(Number.isFinite)).toBe(true);
  await model.release();
}

describe('opening damaged and hostile ONNX files', () => {
  it('turns each hand-made hostile file into an InputError bad_model', async ({ task }) => {
    const failures: string[] = [];
    for (const [what, bytes] of HOSTILE) {
      const result = await outcome(bytes, what);
      if (result !== 'bad_model') failures.push(`${what}: ${result}`);
    }
    reportFigure(task, {
      area: 'bad input',
      what: 'ONNX loader (trainer, ORT wasm): hostile protobufs (huge/negative dims, short data, external data, cycles, …)',
      count: HOSTILE.length,
      unit: 'files',
      failures: failures.length,
    });
    expect(failures).toEqual([]);
    await stillRuns();
  });

  it('opens or cleanly refuses 300 mutated copies of the CNN-LSTM graph', async ({ task }) => {
    const variants = fc.sample(mutation, { numRuns: 300, seed: 10_020 });
    const counts = { opened: 0, bad_model: 0 };
    const failures: string[] = [];
    const times: number[] = [];
    for (const [i, edits] of variants.entries()) {
      const started = performance.now();
      const result = await outcome(mutate(edits), `mutant ${i}`);
      times.push(performance.now() - started);
      if (result === 'opened' || result === 'bad_model') counts[result]++;
      else failures.push(`mutant ${i} (${JSON.stringify(edits.map((e) => [e.op, e.at]))}): ${result}`);
    }
    reportFigure(task, {
      area: 'bad input',
      what: 'ONNX loader (trainer, ORT wasm): mutated copies of a real graph',
      count: variants.length,
      unit: 'files',
      failures: failures.length,
      note: `${counts.bad_model} refused as bad_model, ${counts.opened} still opened (damage in weight values); slowest ${Math.max(...times).toFixed(0)} ms`,
    });
    expect(failures.slice(0, 5)).toEqual([]);
    // Most damage must be caught; a run where everything opens would mean the mutations did nothing.
    expect(counts.bad_model).toBeGreaterThan(variants.length / 4);
    await stillRuns();
  }, 180_000);

  it('verify-model refuses a folder whose graph matches its manifest but is hostile', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hostile-model-'));
    try {
      await cp(FOLDER, dir, { recursive: true });
      const hostile = HOSTILE.find(([what]) => what.startsWith('a weight claiming (2^31'))![1];
      await writeFile(join(dir, 'model.onnx'), hostile);
      // A publisher that recomputed the digest: the hash check passes, ORT must still refuse the graph.
      const manifestPath = join(dir, 'manifest.json');
      const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
      const file = manifest.files.find((f: { path: string }) => f.path === 'model.onnx');
      file.sha256 = createHash('sha256').update(hostile).digest('hex');
      file.bytes = hostile.length;
      await writeFile(manifestPath, JSON.stringify(manifest));
      const err = await openModel(dir).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).code).toBe('bad_model');
      expect((err as InputError).message).toContain(`${dir} (fp32) (model) is not a usable ONNX model`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
