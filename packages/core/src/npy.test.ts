import { describe, expect, it } from 'vitest';
import { InputError } from './errors.ts';
import { encodeNpy, parseNpy } from './npy.ts';

function header(dict: string, version = 1): Uint8Array {
  const lenBytes = version === 1 ? 2 : 4;
  const total = Math.ceil((8 + lenBytes + dict.length + 1) / 64) * 64;
  const out = new Uint8Array(total);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const view = new DataView(out.buffer);
  const headerLen = total - 8 - lenBytes;
  if (version === 1) view.setUint16(8, headerLen, true);
  else view.setUint32(8, headerLen, true);
  const text = dict.padEnd(headerLen - 1, ' ');
  for (let i = 0; i < text.length; i++) out[8 + lenBytes + i] = text.charCodeAt(i);
  out[total - 1] = 10;
  return out;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

describe('.npy', () => {
  it('round-trips float64 and float32 in both byte orders', () => {
    const f64 = Float64Array.from({ length: 500 * 10 }, (_, i) => Math.sin(i) * 1e3 + 1e-300);
    const f32 = Float32Array.from({ length: 500 * 75 }, (_, i) => Math.cos(i) * 85.5);
    for (const endian of ['little', 'big'] as const) {
      const a = parseNpy(encodeNpy(f64, [500, 10], { endian }));
      expect(a.dtype).toBe(endian === 'little' ? '<f8' : '>f8');
      expect(a.shape).toEqual([500, 10]);
      expect(a.data).toEqual(f64);
      const b = parseNpy(encodeNpy(f32, [500, 75], { endian }));
      expect(b.data).toBeInstanceOf(Float32Array);
      expect(b.data).toEqual(f32);
    }
  });

  it('writes headers numpy accepts: 64-byte aligned data and a newline-terminated dict', () => {
    const bytes = encodeNpy(new Float64Array(6), [2, 3]);
    const headerLen = new DataView(bytes.buffer).getUint16(8, true);
    expect((10 + headerLen) % 64).toBe(0);
    expect(bytes[10 + headerLen - 1]).toBe(0x0a);
    const text = new TextDecoder().decode(bytes.subarray(10, 10 + headerLen));
    expect(text).toMatch(/^\{'descr': '<f8', 'fortran_order': False, 'shape': \(2, 3\), \}\s+$/);
    expect(new TextDecoder().decode(encodeNpy(new Float32Array(3), [3]).subarray(10, 80))).toContain(
      "'shape': (3,)",
    );
  });

  it('reads version 2 headers and a 1-d shape written by numpy', () => {
    const data = new Float64Array([1.5, -2.25, 3]);
    const bytes = concat(
      header("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 2),
      new Uint8Array(data.buffer),
    );
    const a = parseNpy(bytes);
    expect(a.shape).toEqual([3]);
    expect(Array.from(a.data)).toEqual([1.5, -2.25, 3]);
    expect(parseNpy(encodeNpy(data, [3], { version: 2 })).data).toEqual(data);
  });

  it('rejects Fortran order, other dtypes and bad magic with a clear message naming the file', () => {
    const fortran = concat(
      header("{'descr': '<f8', 'fortran_order': True, 'shape': (1,), }"),
      new Uint8Array(8),
    );
    expect(() => parseNpy(fortran, 'a.npy')).toThrow(/a\.npy: Fortran-order/);
    const ints = concat(
      header("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }"),
      new Uint8Array(8),
    );
    expect(() => parseNpy(ints, 'b.npy')).toThrow(/b\.npy: unsupported dtype '<i8'/);
    expect(() => parseNpy(new Uint8Array([1, 2, 3]), 'c.npy')).toThrow(/c\.npy: not a \.npy file/);
    expect(() => parseNpy(header("{'fortran_order': False}"), 'd.npy')).toThrow(/d\.npy: malformed header/);
  });

  it('rejects truncated files and trailing bytes', () => {
    const full = encodeNpy(new Float64Array(500 * 10), [500, 10]);
    expect(() => parseNpy(full.subarray(0, full.length - 8), 'x.npy')).toThrow(
      /x\.npy: truncated data: shape \(500, 10\) needs 40000 bytes, found 39992/,
    );
    expect(() => parseNpy(full.subarray(0, 20))).toThrow(/truncated header/);
    expect(() => parseNpy(concat(full, new Uint8Array(4)))).toThrow(/4 unexpected trailing bytes/);
  });

  it('does not allocate for a hostile shape claim', () => {
    const hostile = concat(
      header("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967295, 4294967295, 1000), }"),
      new Uint8Array(16),
    );
    expect(() => parseNpy(hostile)).toThrow(InputError);
    expect(() => parseNpy(hostile)).toThrow(/truncated data/);
    const negative = header("{'descr': '<f8', 'fortran_order': False, 'shape': (-3, 2), }");
    expect(() => parseNpy(negative)).toThrow(/bad dimension '-3'/);
  });
});
