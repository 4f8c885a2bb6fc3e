import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSimulator } from './simulator.ts';
import { DATA_VERSION } from './version.ts';

/**
 * What the simulator draws under each data version: a digest of the first samples of seed 1 (one of
 * each class among them). A change to the default output fails here until DATA_VERSION is bumped and
 * the new digest recorded, so the trainer never reuses a set an older simulator made.
 */
const DIGESTS: Readonly<Record<number, string>> = {
  3: 'afafe059400f9f1ef513a79562a64b8526adbdabd02aad4002806da9e6c85702',
};

describe('DATA_VERSION', () => {
  it(`names the simulator's current default output (version ${DATA_VERSION})`, () => {
    const sim = createSimulator();
    const hash = createHash('sha256');
    const variants = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const s = sim.simulate(1, i);
      variants.add(s.variant);
      hash.update(new Uint8Array(s.electrodes.buffer, s.electrodes.byteOffset, s.electrodes.byteLength));
      hash.update(new Uint8Array(s.vm.buffer, s.vm.byteOffset, s.vm.byteLength));
    }
    expect(variants.size).toBeGreaterThanOrEqual(4);
    expect(
      hash.digest('hex'),
      'the default output changed: bump DATA_VERSION (version.ts) and record the new digest',
    ).toBe(DIGESTS[DATA_VERSION]);
  });
});
