/**
 * @module
 * The recording readers under hostile input (fast-check, seeded): WFDB headers with fields swapped for
 * hostile tokens and damaged data files, EDF files with damaged bytes and header numbers, CSV text with
 * damaged characters, and random bytes for each. Every case is read as a recording whose leads all hold
 * `length` samples at an accepted rate, or rejected with the reader's InputError naming the file —
 * quickly, never another exception.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { reportFigure } from '../../../../test/reliability.ts';
import { InputError } from '../errors.ts';
import { LEAD_NAMES, type LeadName } from '../layout.ts';
import { encodeRecordingCsv, parseRecordingCsv } from './csv.ts';
import { encodeEdf, parseEdf } from './edf.ts';
import { MAX_RATE_HZ, MIN_RATE_HZ, type Recording } from './recording.ts';
import { encodeWfdb, parseWfdb, WFDB_FORMATS } from './wfdb.ts';

const SOURCE = 'fuzz';
/** Per case; generous because test machines are shared. */
const SLOW_MS = 2000;
const RUNS = 2000;

/** What went wrong with one read, or undefined when the reader kept its contract. */
function violation(read: () => Recording, code: string): string | undefined {
  const started = performance.now();
  let problem: string | undefined;
  try {
    const rec = read();
    if (!(rec.rate >= MIN_RATE_HZ && rec.rate <= MAX_RATE_HZ)) problem = `rate ${rec.rate}`;
    else if (!Number.isSafeInteger(rec.length) || rec.length < 1) problem = `length ${rec.length}`;
    else {
      const leads = Object.entries(rec.leads);
      if (leads.length === 0) problem = 'no leads';
      for (const [name, data] of leads) {
        if (!(data instanceof Float32Array) || data.length !== rec.length)
          problem = `lead ${name}: ${data?.length} samples`;
      }
    }
  } catch (err) {
    if (!(err instanceof InputError)) problem = `${(err as Error).name}: ${(err as Error).message}`;
    else if (err.code !== code) problem = `code ${err.code}: ${err.message}`;
    else if (!err.message.startsWith(`${SOURCE}: `))
      problem = `message '${err.message}' does not name the file`;
  }
  const ms = performance.now() - started;
  return problem ?? (ms > SLOW_MS ? `took ${ms.toFixed(0)} ms` : undefined);
}

const recording = fc
  .record({
    rate: fc.constantFrom(250, 360, 500, 1000),
    length: fc.integer({ min: 1, max: 600 }),
    leads: fc.shuffledSubarray([...LEAD_NAMES], { minLength: 1, maxLength: 12 }),
    seed: fc.integer(),
  })
  .map(({ rate, length, leads, seed }): Recording => {
    const out: Partial<Record<LeadName, Float32Array>> = {};
    leads.forEach((name, l) => {
      out[name] = Float32Array.from({ length }, (_, t) => Math.sin(seed + t * 0.1 + l) * 2);
    });
    return { rate, length, leads: out, source: 'gen', warnings: [] };
  });

const edits = fc.array(
  fc.record({
    op: fc.constantFrom('flip', 'set', 'insert', 'delete', 'cut'),
    at: fc.nat(),
    byte: fc.integer({ min: 0, max: 255 }),
  }),
  { minLength: 1, maxLength: 4 },
);

function damage(bytes: Uint8Array, list: readonly { op: string; at: number; byte: number }[]): Uint8Array {
  let b = Array.from(bytes);
  for (const { op, at, byte } of list) {
    const i = b.length === 0 ? 0 : at % b.length;
    if (op === 'flip') b[i] = (b[i] ?? 0) ^ (1 << (byte % 8));
    else if (op === 'set') b[i] = byte;
    else if (op === 'insert') b.splice(i, 0, byte);
    else if (op === 'delete') b.splice(i, 1);
    else b = b.slice(0, i);
  }
  return Uint8Array.from(b);
}

const HOSTILE_TOKENS = [
  '0',
  '-1',
  '1e308',
  '999999999999999',
  '16x2',
  '212+99999999',
  '16:5',
  '8',
  '~',
  '../x.dat',
  '200(abc)/mV',
  '0(0)/uV',
  '1e-300',
  'NaN',
  'Infinity',
  '250/0(1)',
  '',
  '#',
  'r/2',
  '1.5',
  'V1',
  'mV',
];

/** A WFDB record, then header fields replaced by hostile tokens and data bytes damaged or files dropped. */
const wfdbCase = fc
  .record({
    rec: recording,
    format: fc.constantFrom(...WFDB_FORMATS),
    files: fc.constantFrom('one' as const, 'per-lead' as const),
    tokens: fc.array(fc.tuple(fc.nat(), fc.constantFrom(...HOSTILE_TOKENS)), { maxLength: 3 }),
    dataEdits: fc.option(edits),
    dropFile: fc.boolean(),
  })
  .map(({ rec, format, files, tokens, dataEdits, dropFile }) => {
    const gainPerMv = format === 80 ? 50 : undefined;
    const encoded = encodeWfdb(rec, { record: 'r', format, files, gainPerMv });
    const fields = encoded.header.split(/( |\n)/);
    for (const [at, token] of tokens) {
      const words = fields.flatMap((f, i) => (f === ' ' || f === '\n' ? [] : [i]));
      fields[words[at % words.length]!] = token;
    }
    const data = { ...encoded.files };
    const names = Object.keys(data);
    if (dataEdits !== null) data[names[0]!] = damage(data[names[0]!]!, dataEdits);
    if (dropFile) delete data[names.at(-1)!];
    return { header: fields.join(''), data };
  });

describe('recording readers under hostile input', () => {
  it(`WFDB: keeps its contract on ${RUNS} damaged records and ${RUNS / 4} random headers`, ({ task }) => {
    const failures: string[] = [];
    let cases = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          { arbitrary: wfdbCase, weight: 4 },
          {
            arbitrary: fc.record({ header: fc.string({ maxLength: 200 }), data: fc.constant({}) }),
            weight: 1,
          },
        ),
        ({ header, data }) => {
          cases++;
          const problem = violation(
            () => parseWfdb(header, data as Record<string, Uint8Array>, SOURCE),
            'bad_wfdb',
          );
          if (problem !== undefined) failures.push(problem);
        },
      ),
      { numRuns: Math.round(RUNS * 1.25), seed: 19_001 },
    );
    reportFigure(task, {
      area: 'bad input',
      what: 'WFDB reader: damaged and random records (fast-check)',
      count: cases,
      unit: 'records',
      failures: failures.length,
    });
    expect(failures.slice(0, 5)).toEqual([]);
  });

  it(`EDF: keeps its contract on ${RUNS} damaged files and random bytes`, ({ task }) => {
    const failures: string[] = [];
    let cases = 0;
    const damagedHeader = fc
      .tuple(
        recording,
        fc.integer({ min: 0, max: 767 }),
        fc.constantFrom('-1', '0', '99999999', '1e300', '0.0001', ' ', 'x', '-32769'),
      )
      .map(([rec, at, text]) => {
        const bytes = encodeEdf(rec);
        bytes.set(
          [...text].map((c) => c.charCodeAt(0)),
          Math.min(at, bytes.length - text.length),
        );
        return bytes;
      });
    fc.assert(
      fc.property(
        fc.oneof(
          { arbitrary: fc.tuple(recording, edits).map(([rec, e]) => damage(encodeEdf(rec), e)), weight: 3 },
          { arbitrary: damagedHeader, weight: 3 },
          { arbitrary: fc.uint8Array({ maxLength: 1024 }), weight: 1 },
        ),
        (bytes) => {
          cases++;
          const problem = violation(() => parseEdf(bytes, SOURCE), 'bad_edf');
          if (problem !== undefined) failures.push(problem);
        },
      ),
      { numRuns: RUNS, seed: 19_002 },
    );
    reportFigure(task, {
      area: 'bad input',
      what: 'EDF reader: damaged and random files (fast-check)',
      count: cases,
      unit: 'files',
      failures: failures.length,
    });
    expect(failures.slice(0, 5)).toEqual([]);
  });

  it(`CSV: keeps its contract on ${RUNS} damaged files and random text`, ({ task }) => {
    const failures: string[] = [];
    let cases = 0;
    const damagedText = fc
      .tuple(recording, edits)
      .map(([rec, e]) =>
        damage(new TextEncoder().encode(encodeRecordingCsv({ ...rec, length: Math.min(rec.length, 50) })), e),
      );
    fc.assert(
      fc.property(
        fc.oneof(
          { arbitrary: damagedText, weight: 3 },
          { arbitrary: fc.string({ maxLength: 300 }).map((s) => new TextEncoder().encode(s)), weight: 1 },
          { arbitrary: fc.uint8Array({ maxLength: 300 }), weight: 1 },
        ),
        (bytes) => {
          cases++;
          const problem = violation(() => parseRecordingCsv(bytes, { rate: 500 }, SOURCE), 'bad_csv');
          if (problem !== undefined) failures.push(problem);
        },
      ),
      { numRuns: RUNS, seed: 19_003 },
    );
    reportFigure(task, {
      area: 'bad input',
      what: 'recording CSV reader: damaged and random files (fast-check)',
      count: cases,
      unit: 'files',
      failures: failures.length,
    });
    expect(failures.slice(0, 5)).toEqual([]);
  });

  it('refuses huge claims without allocating them: a WFDB header of 10^14 samples, an EDF of 10^8 records', () => {
    const before = process.memoryUsage().arrayBuffers;
    expect(() =>
      parseWfdb(
        'r 1 500 99999999999999\nr.dat 16 200 16 0 0 0 0 I\n',
        { 'r.dat': new Uint8Array(10) },
        SOURCE,
      ),
    ).toThrow(/r\.dat holds 5 frames of 1 signals, the header says 99999999999999/);
    const edf = encodeEdf({
      rate: 250,
      length: 250,
      leads: { I: new Float32Array(250) },
      source: 'x',
      warnings: [],
    });
    edf.set(
      [...'99999999'].map((c) => c.charCodeAt(0)),
      236,
    );
    expect(() => parseEdf(edf, SOURCE)).toThrow(/header says 99999999 data records, the file holds 1/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1 << 20);
  });
});
