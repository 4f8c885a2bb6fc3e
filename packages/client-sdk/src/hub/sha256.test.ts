import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256Hex, sha256Js } from './sha256.ts';

const nodeHex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

describe('sha256Js (the digest for pages without crypto.subtle)', () => {
  it("gives FIPS 180-4's test vectors", () => {
    const text = (s: string) => hex(sha256Js(new TextEncoder().encode(s)));
    expect(text('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(text('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(text('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
  });

  it('agrees with node:crypto at every length around the block and padding edges, and on 3 MB', () => {
    const random = (n: number, seed: number) => {
      let x = seed;
      return Uint8Array.from({ length: n }, () => {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        return x >>> 24;
      });
    };
    for (let n = 0; n <= 200; n++)
      expect(hex(sha256Js(random(n, n))), `length ${n}`).toBe(nodeHex(random(n, n)));
    // A view into a larger buffer (byteOffset ≠ 0), as a download buffer's subarray may be.
    const big = random(3_000_017, 7);
    const view = big.subarray(13);
    const t0 = performance.now();
    expect(hex(sha256Js(view))).toBe(nodeHex(view));
    console.log(
      `sha256Js: ${(view.length / 1e6).toFixed(1)} MB in ${(performance.now() - t0).toFixed(0)} ms`,
    );
  });

  it('sha256Hex gives the same hex with SubtleCrypto as without', async () => {
    const bytes = new TextEncoder().encode('the same bytes either way');
    expect(await sha256Hex(bytes)).toBe(nodeHex(bytes));
    expect(hex(sha256Js(bytes))).toBe(nodeHex(bytes));
  });
});
