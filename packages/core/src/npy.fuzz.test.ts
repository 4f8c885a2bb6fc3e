/**
 * @module
 * The .npy reader under hostile input: random bytes, mutated valid files and generated headers
 * (property-based, fast-check), plus targeted cases — every file truncated at every byte, bad magic and
 * versions, lying header lengths, headers that are not a dict literal, other dtypes, Fortran order and
 * shapes claiming far more data than the file holds. Each is read as an array whose size matches the
 * bytes present or rejected with an InputError 'bad_npy' naming the file, quickly and without
 * allocating anything sized from the header.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { reportFigure } from '../../../test/reliability.ts';
import { InputError } from './errors.ts';
import { encodeNpy, parseNpy } from './npy.ts';

const SOURCE = 'fuzz.npy';
/** Per case; generous because test machines are shared, still far below what a backtracking parse takes. */
const SLOW_MS = 2000;

/** Builds a .npy from a header dict's text (padded as numpy pads it) and raw data bytes. */
function withHeader(dict: string, data: Uint8Array = new Uint8Array(0), version = 1): Uint8Array {
  const lenBytes = version === 1 ? 2 : 4;
  const total = Math.ceil((8 + lenBytes + dict.length + 1) / 64) * 64;
  const out = new Uint8Array(total + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const view = new DataView(out.buffer);
  const headerLen = total - 8 - lenBytes;
  if (version === 1) view.setUint16(8, headerLen, true);
  else view.setUint32(8, headerLen, true);
  out.set(new TextEncoder().encode(dict.padEnd(headerLen - 1, ' ')), 8 + lenBytes);
  out[total - 1] = 0x0a;
  out.set(data, total);
  return out;
}

/**
 * Reads `bytes` and checks the reader's contract; returns what went wrong, or undefined. The contract:
 * an array whose element count is the product of its shape and whose data fits in the file, or an
 * InputError 'bad_npy' whose message starts with the file's name — never another exception.
 */
function violation(bytes: Uint8Array): string | undefined {
  const started = performance.now();
  let problem: string | undefined;
  try {
    const a = parseNpy(bytes, SOURCE);
    const count = a.shape.reduce((x, y) => x * y, 1);
    if (a.shape.some((n) => !Number.isSafeInteger(n) || n < 0)) problem = `shape (${a.shape})`;
    else if (a.data.length !== count) problem = `${a.data.length} values for shape (${a.shape})`;
    else if (a.data.byteLength > bytes.length)
      problem = `${a.data.byteLength} bytes read from ${bytes.length}`;
  } catch (err) {
    if (!(err instanceof InputError)) problem = `${(err as Error).name}: ${(err as Error).message}`;
    else if (err.code !== 'bad_npy') problem = `code ${err.code}`;
    else if (!err.message.startsWith(`${SOURCE}: `))
      problem = `message '${err.message}' does not name the file`;
  }
  const ms = performance.now() - started;
  return problem ?? (ms > SLOW_MS ? `took ${ms.toFixed(0)} ms` : undefined);
}

const validFile = fc
  .record({
    f64: fc.boolean(),
    endian: fc.constantFrom('little' as const, 'big' as const),
    version: fc.constantFrom(1, 2, 3),
    shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
  })
  .map(({ f64, endian, version, shape }) => {
    const count = shape.reduce((a, b) => a * b, 1);
    const values = Array.from({ length: count }, (_, i) => i * 1.5 - 3);
    const data = f64 ? Float64Array.from(values) : Float32Array.from(values);
    const bytes = encodeNpy(data, shape, { endian, version: version === 1 ? 1 : 2 });
    bytes[6] = version; // version 3 has version 2's layout (a UTF-8 header)
    return bytes;
  });

/** Byte-level damage: flips, overwrites, insertions, deletions and a cut. */
const mutated = fc
  .tuple(
    validFile,
    fc.array(
      fc.record({
        op: fc.constantFrom('flip', 'set', 'insert', 'delete', 'cut'),
        at: fc.nat(),
        byte: fc.integer({ min: 0, max: 255 }),
      }),
      { minLength: 1, maxLength: 4 },
    ),
  )
  .map(([file, edits]) => {
    let b = Array.from(file);
    for (const { op, at, byte } of edits) {
      const i = b.length === 0 ? 0 : at % b.length;
      if (op === 'flip') b[i] = (b[i] ?? 0) ^ (1 << (byte % 8));
      else if (op === 'set') b[i] = byte;
      else if (op === 'insert') b.splice(i, 0, byte);
      else if (op === 'delete') b.splice(i, 1);
      else b = b.slice(0, i);
    }
    return Uint8Array.from(b);
  });

const dim = fc.oneof(
  fc.integer({ min: 0, max: 5 }).map(String),
  fc.constantFrom(
    '2147483648',
    '4294967296',
    '9007199254740991',
    '9007199254740993',
    '1000000000000',
    `1${'0'.repeat(40)}`,
    '-1',
    '-0',
    '1.5',
    '1e3',
    '0x10',
    'abc',
    '3L',
    '',
    ' ',
    'None',
  ),
);

/** Header dicts from hostile parts: odd dtypes, flags and dims, missing, repeated or extra keys. */
const hostileHeader = fc
  .record({
    descr: fc.constantFrom(
      "'<f8'",
      "'>f4'",
      "'=f8'",
      "'|O'",
      "'<i8'",
      "'<f2'",
      "'<c16'",
      "''",
      "[('a', '<f8')]",
      '<f8',
    ),
    fortran: fc.constantFrom('False', 'True', '0', 'None', "'False'"),
    dims: fc.array(dim, { maxLength: 4 }),
    trailingComma: fc.boolean(),
    drop: fc.constantFrom(undefined, 'descr', 'fortran_order', 'shape'),
    extra: fc.option(fc.string({ maxLength: 12 })),
    open: fc.constantFrom('{', '', '[', '{{'),
    close: fc.constantFrom('}', '', ']', '}}', '} x'),
    version: fc.constantFrom(1, 2, 3),
    dataBytes: fc.integer({ min: 0, max: 96 }),
  })
  .map((h) => {
    const tuple = h.dims.length === 1 && h.trailingComma ? `(${h.dims[0]},)` : `(${h.dims.join(', ')})`;
    const entries: [string, string][] = [
      ['descr', h.descr],
      ['fortran_order', h.fortran],
      ['shape', tuple],
    ];
    const kept = entries.filter(([k]) => k !== h.drop).map(([k, v]) => `'${k}': ${v}`);
    if (h.extra !== null) kept.push(h.extra);
    const dict = `${h.open}${kept.join(', ')}${h.trailingComma ? ', ' : ''}${h.close}`;
    return withHeader(dict, new Uint8Array(h.dataBytes), h.version);
  });

/** The magic and a version, then anything: the header-length field and dict are random. */
const afterMagic = fc
  .tuple(fc.integer({ min: 0, max: 4 }), fc.uint8Array({ maxLength: 200 }))
  .map(([version, rest]) => Uint8Array.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0, ...rest]));

describe('.npy reader under hostile input', () => {
  it('keeps its contract on 12,000 generated files (random, mutated, hostile headers)', ({ task }) => {
    const runs = 12_000;
    let cases = 0;
    const failures: string[] = [];
    const arb = fc.oneof(
      { arbitrary: fc.uint8Array({ maxLength: 256 }), weight: 1 },
      { arbitrary: afterMagic, weight: 2 },
      { arbitrary: mutated, weight: 4 },
      { arbitrary: hostileHeader, weight: 4 },
    );
    fc.assert(
      fc.property(arb, (bytes) => {
        cases++;
        const problem = violation(bytes);
        if (problem !== undefined) failures.push(problem);
        return true;
      }),
      { numRuns: runs, seed: 10_001 },
    );
    reportFigure(task, {
      area: 'bad input',
      what: '.npy reader: random, mutated and hostile-header files (fast-check)',
      count: cases,
      unit: 'files',
      failures: failures.length,
    });
    expect(failures.slice(0, 5)).toEqual([]);
    expect(cases).toBeGreaterThanOrEqual(10_000);
  });

  it('round-trips generated arrays exactly (any shape, dtype, byte order, version)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 }),
        fc.boolean(),
        fc.constantFrom('little' as const, 'big' as const),
        fc.constantFrom(1 as const, 2 as const),
        fc.integer(),
        (shape, f64, endian, version, seed) => {
          const count = shape.reduce((a, b) => a * b, 1);
          const values = Array.from({ length: count }, (_, i) => Math.sin(seed + i) * 10 ** ((i % 9) - 4));
          const data = f64 ? Float64Array.from(values) : Float32Array.from(values);
          const a = parseNpy(encodeNpy(data, shape, { endian, version }));
          expect(a.shape).toEqual(shape);
          expect(a.data).toEqual(data);
        },
      ),
      { numRuns: 1000, seed: 10_002 },
    );
  });

  it('rejects a valid file cut at every byte offset, naming the missing part', () => {
    const full = encodeNpy(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
    const dataStart = full.length - 24;
    for (let n = 0; n < full.length; n++) {
      expect(violation(full.subarray(0, n)), `cut at ${n}`).toBeUndefined();
      expect(() => parseNpy(full.subarray(0, n), SOURCE), `cut at ${n}`).toThrow(
        n < dataStart ? /not a \.npy file|truncated header/ : /truncated data: shape \(2, 3\) needs 24 bytes/,
      );
    }
    expect(parseNpy(full).data).toEqual(Float32Array.from([1, 2, 3, 4, 5, 6]));
  });

  it.each([
    ['bad magic', Uint8Array.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x58, 1, 0, 0, 0]), /not a \.npy file/],
    ['an empty file', new Uint8Array(0), /not a \.npy file/],
    ['version 0', Uint8Array.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 0, 0, 0, 0]), /format version 0\.0/],
    ['version 4', Uint8Array.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 4, 0, 0, 0]), /format version 4\.0/],
    [
      'a v2 file cut inside its length field',
      Uint8Array.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0, 1, 0]),
      /truncated header/,
    ],
    [
      'a header length past the end',
      (() => {
        const b = encodeNpy(new Float64Array(2), [2], { version: 2 });
        new DataView(b.buffer).setUint32(8, 0xffffffff, true);
        return b;
      })(),
      /truncated header: needs 4294967295 bytes/,
    ],
    [
      'a header that is not a dict',
      withHeader("descr='<f8' fortran_order=False shape=(1,)", new Uint8Array(8)),
      /malformed header/,
    ],
    [
      'text before the dict',
      withHeader("x {'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8)),
      /malformed header/,
    ],
    [
      'text after the dict',
      withHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), } x", new Uint8Array(8)),
      /unexpected text after/,
    ],
    [
      'an unknown key',
      withHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'x': 1}", new Uint8Array(8)),
      /unexpected key 'x'/,
    ],
    [
      'a repeated key',
      withHeader(
        "{'descr': '<f8', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}",
        new Uint8Array(8),
      ),
      /key 'descr' given twice/,
    ],
    ['a missing shape', withHeader("{'descr': '<f8', 'fortran_order': False}"), /needs 'descr'.*'shape'/],
    [
      'an unterminated string',
      withHeader("{'descr': '<f8, 'fortran_order': False, 'shape': (1,)}"),
      /malformed header/,
    ],
    [
      'big-endian float16',
      withHeader("{'descr': '>f2', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(2)),
      /unsupported dtype '>f2'/,
    ],
    [
      'int64',
      withHeader("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8)),
      /unsupported dtype '<i8'/,
    ],
    [
      'objects (pickled)',
      withHeader("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8)),
      /unsupported dtype '\|O'/,
    ],
    [
      'a structured dtype',
      withHeader("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8)),
      /malformed header/,
    ],
    [
      'Fortran order',
      withHeader("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }", new Uint8Array(32)),
      /Fortran-order/,
    ],
    [
      'a negative dimension',
      withHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (-1, 2), }"),
      /bad dimension '-1'/,
    ],
    [
      'a fractional dimension',
      withHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (1.5,), }"),
      /bad dimension '1\.5'/,
    ],
    [
      'a dimension past 2^53',
      withHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (9007199254740993,), }"),
      /bad dimension '9007199254740993'/,
    ],
    [
      'a 40-digit dimension',
      withHeader(`{'descr': '<f8', 'fortran_order': False, 'shape': (1${'0'.repeat(40)},), }`),
      /bad dimension '10{40}'/,
    ],
    [
      'a (2^31, 2^31) shape',
      withHeader(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2147483648, 2147483648), }",
        new Uint8Array(16),
      ),
      /needs 18446744073709552000 bytes, found 16/,
    ],
    [
      'a product that overflows 2^64',
      withHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }"),
      /truncated data/,
    ],
    [
      'a shape that does not use all bytes',
      withHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(24)),
      /16 unexpected trailing bytes/,
    ],
  ])('rejects %s with an InputError that says so', (_, bytes, message) => {
    expect(violation(bytes)).toBeUndefined();
    expect(() => parseNpy(bytes, SOURCE)).toThrow(InputError);
    expect(() => parseNpy(bytes, SOURCE)).toThrow(message);
  });

  it('fails fast, without allocating, on a file claiming 10^12 elements', () => {
    const hostile = withHeader(
      "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 1000000), }",
      new Uint8Array(64),
    );
    const before = process.memoryUsage().arrayBuffers;
    const started = performance.now();
    for (let i = 0; i < 1000; i++) {
      expect(() => parseNpy(hostile, SOURCE)).toThrow(/needs 8000000000000 bytes, found 64/);
    }
    const ms = performance.now() - started;
    // 1000 reads in well under a second, and no 8 TB (or even 1 MB) buffer along the way.
    expect(ms).toBeLessThan(1000);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1 << 20);
  });

  it('parses a 4 MB hostile header in linear time (no regular-expression backtracking)', () => {
    const repeated = "'shape': (".repeat(400_000);
    const started = performance.now();
    expect(() => parseNpy(withHeader(`{${repeated}`, new Uint8Array(0), 2), SOURCE)).toThrow(InputError);
    expect(() =>
      parseNpy(
        withHeader(
          `{'descr': '<f8', 'fortran_order': False, 'shape': (${'1, '.repeat(1_000_000)}`,
          new Uint8Array(0),
          2,
        ),
        SOURCE,
      ),
    ).toThrow(InputError);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
