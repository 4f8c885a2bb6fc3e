/**
 * @module
 * NumPy .npy reading and writing (format versions 1, 2 and 3), for float32/float64 arrays in either
 * byte order, C order only. The real data set ships .npy files; so does the simulator.
 *
 * Every malformed file is an InputError naming the file and what is wrong; a header that claims a huge
 * shape is checked against the bytes actually present before anything is allocated.
 */

import { InputError } from './errors.ts';

export type NpyDtype = '<f4' | '>f4' | '<f8' | '>f8';

export interface NpyArray {
  /** The dtype as stored in the file. */
  readonly dtype: NpyDtype;
  readonly shape: readonly number[];
  /** Values in C order, native byte order: Float32Array for f4, Float64Array for f8. */
  readonly data: Float32Array | Float64Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const PREFIX = 8; // magic + major + minor

function fail(source: string, message: string): never {
  throw new InputError('bad_npy', `${source}: ${message}`);
}

interface Header {
  dtype: NpyDtype;
  shape: number[];
  dataOffset: number;
}

function parseHeader(bytes: Uint8Array, source: string): Header {
  if (bytes.length < PREFIX + 2 || MAGIC.some((m, i) => bytes[i] !== m)) {
    fail(source, 'not a .npy file (missing the \\x93NUMPY magic)');
  }
  const major = bytes[6]!;
  if (major < 1 || major > 3) fail(source, `unsupported .npy format version ${major}.${bytes[7]}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  if (bytes.length < PREFIX + lenBytes) fail(source, 'truncated header');
  const headerLen = major === 1 ? view.getUint16(PREFIX, true) : view.getUint32(PREFIX, true);
  const start = PREFIX + lenBytes;
  if (bytes.length < start + headerLen) {
    fail(source, `truncated header: needs ${headerLen} bytes, file has ${bytes.length - start}`);
  }
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(
    bytes.subarray(start, start + headerLen),
  );
  const dict = parseDict(text, source);
  const descr = dict.get('descr');
  const fortran = dict.get('fortran_order');
  const shape = dict.get('shape');
  if (typeof descr !== 'string' || typeof fortran !== 'boolean' || !Array.isArray(shape)) {
    fail(
      source,
      `malformed header ${quote(text)}: needs 'descr' (a string), 'fortran_order' (True/False) and 'shape' (a tuple)`,
    );
  }
  if (fortran) fail(source, 'Fortran-order arrays are not supported; save with C order');
  const dtype = normaliseDescr(descr);
  if (dtype === undefined) {
    fail(source, `unsupported dtype '${descr}': expected float32 or float64 ('<f4', '>f4', '<f8', '>f8')`);
  }
  return { dtype, shape, dataOffset: start + headerLen };
}

/** A header for an error message: at most 120 characters of it, so a hostile header stays readable. */
function quote(text: string): string {
  const t = text.trim();
  return JSON.stringify(t.length > 120 ? `${t.slice(0, 120)}…` : t);
}

type HeaderValue = string | boolean | number[];

/**
 * Parses the header's Python dict literal: string keys; string, True/False or tuple-of-integers values;
 * optional trailing commas. One pass over the text, so a hostile header costs time linear in its length
 * (the regular expressions this replaced could backtrack quadratically on a crafted header).
 */
function parseDict(text: string, source: string): Map<string, HeaderValue> {
  let i = 0;
  const malformed = (what: string): never =>
    fail(source, `malformed header ${quote(text)}: ${what} at character ${i}`);
  const space = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const expect = (c: string) => {
    space();
    if (text[i] !== c) malformed(`expected '${c}'`);
    i++;
  };
  const string = (): string => {
    const q = text[i];
    if (q !== "'" && q !== '"') return malformed('expected a quoted string');
    const end = text.indexOf(q, i + 1);
    if (end < 0) return malformed('unterminated string');
    const s = text.slice(i + 1, end);
    i = end + 1;
    return s;
  };
  const integer = (): number => {
    const from = i;
    while (i < text.length && !/[\s,)]/.test(text[i]!)) i++;
    const token = text.slice(from, i);
    if (token === '') return malformed("expected a dimension or ')' in shape");
    const n = /^\d+L?$/.test(token) ? Number.parseInt(token, 10) : Number.NaN;
    if (!Number.isSafeInteger(n)) {
      const shown = token.length > 60 ? `${token.slice(0, 60)}…` : token;
      fail(source, `bad dimension '${shown}' in shape: expected a non-negative integer below 2^53`);
    }
    return n;
  };
  const value = (): HeaderValue => {
    space();
    if (text[i] === "'" || text[i] === '"') return string();
    for (const [word, flag] of [
      ['True', true],
      ['False', false],
    ] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return flag;
      }
    }
    if (text[i] !== '(') return malformed('expected a string, True, False or a tuple');
    i++;
    const dims: number[] = [];
    for (;;) {
      space();
      if (text[i] === ')') break;
      dims.push(integer());
      space();
      if (text[i] === ',') i++;
      else if (text[i] !== ')') malformed("expected ',' or ')' in shape");
    }
    i++;
    return dims;
  };

  const dict = new Map<string, HeaderValue>();
  expect('{');
  for (;;) {
    space();
    if (text[i] === '}') break;
    const key = string();
    if (!['descr', 'fortran_order', 'shape'].includes(key)) malformed(`unexpected key '${key}'`);
    if (dict.has(key)) malformed(`key '${key}' given twice`);
    expect(':');
    dict.set(key, value());
    space();
    if (text[i] === ',') i++;
    else if (text[i] !== '}') malformed("expected ',' or '}'");
  }
  i++;
  space();
  if (i < text.length) malformed('unexpected text after the dict');
  return dict;
}

function normaliseDescr(descr: string): NpyDtype | undefined {
  // '=' is native order; every platform we run on is little-endian.
  const d = descr.replace(/^=/, '<');
  return d === '<f4' || d === '>f4' || d === '<f8' || d === '>f8' ? d : undefined;
}

/** Parses a .npy file's bytes. `source` (a path or name) prefixes every error message. */
export function parseNpy(bytes: Uint8Array, source = '.npy'): NpyArray {
  const { dtype, shape, dataOffset } = parseHeader(bytes, source);
  const itemSize = dtype.endsWith('4') ? 4 : 8;
  const available = bytes.length - dataOffset;
  // Multiply in floating point: a hostile shape must not overflow into a small number.
  const count = shape.reduce((a, b) => a * b, 1);
  if (count * itemSize > available) {
    fail(
      source,
      `truncated data: shape (${shape.join(', ')}) needs ${count * itemSize} bytes, found ${available}`,
    );
  }
  if (count * itemSize < available) {
    fail(source, `${available - count * itemSize} unexpected trailing bytes after the data`);
  }
  const little = dtype.startsWith('<');
  const view = new DataView(bytes.buffer, bytes.byteOffset + dataOffset, count * itemSize);
  const data = itemSize === 4 ? new Float32Array(count) : new Float64Array(count);
  if (itemSize === 4) for (let i = 0; i < count; i++) data[i] = view.getFloat32(i * 4, little);
  else for (let i = 0; i < count; i++) data[i] = view.getFloat64(i * 8, little);
  return { dtype, shape, data };
}

export interface EncodeNpyOptions {
  /** Byte order of the stored values; default little-endian. */
  endian?: 'little' | 'big';
  /** Format version; default 1 (2 is used automatically when the header does not fit version 1). */
  version?: 1 | 2;
}

/**
 * Encodes a C-order array as .npy bytes (float32 for Float32Array, float64 for Float64Array).
 * @example
 * const bytes = encodeNpy(new Float64Array(500 * 10), [500, 10]);
 */
export function encodeNpy(
  data: Float32Array | Float64Array,
  shape: readonly number[],
  options: EncodeNpyOptions = {},
): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (shape.some((n) => !Number.isSafeInteger(n) || n < 0) || count !== data.length) {
    throw new InputError(
      'bad_shape',
      `encodeNpy: shape (${shape.join(', ')}) does not hold ${data.length} values`,
    );
  }
  const little = (options.endian ?? 'little') === 'little';
  const itemSize = data.BYTES_PER_ELEMENT;
  const descr = `${little ? '<' : '>'}f${itemSize}`;
  const shapeText = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shapeText}), }`;
  let version = options.version ?? 1;
  // Header (with its trailing newline) padded with spaces so the data starts on a 64-byte boundary.
  let lenBytes = version === 1 ? 2 : 4;
  let total = Math.ceil((PREFIX + lenBytes + dict.length + 1) / 64) * 64;
  if (version === 1 && total - PREFIX - lenBytes > 0xffff) {
    version = 2;
    lenBytes = 4;
    total = Math.ceil((PREFIX + lenBytes + dict.length + 1) / 64) * 64;
  }
  const headerLen = total - PREFIX - lenBytes;
  const out = new Uint8Array(total + count * itemSize);
  out.set(MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(PREFIX, headerLen, true);
  else view.setUint32(PREFIX, headerLen, true);
  const header = dict.padEnd(headerLen - 1, ' ');
  for (let i = 0; i < header.length; i++) out[PREFIX + lenBytes + i] = header.charCodeAt(i);
  out[total - 1] = 0x0a;
  if (itemSize === 4) for (let i = 0; i < count; i++) view.setFloat32(total + i * 4, data[i]!, little);
  else for (let i = 0; i < count; i++) view.setFloat64(total + i * 8, data[i]!, little);
  return out;
}
