import { describe, expect, it } from 'vitest';
import { InputError } from './errors.ts';
import { type Manifest, parseManifest } from './manifest.ts';

function valid(): Record<string, unknown> {
  return {
    schemaVersion: 1,
    name: 'cnn-lstm',
    version: '1.0.0',
    architecture: 'cnn-lstm',
    parameters: 213_835,
    inputs: [{ name: 'ecg', shape: ['batch', 12, 500], dtype: 'float32' }],
    outputs: [{ name: 'tmp', shape: ['batch', 75, 500], dtype: 'float32' }],
    normalisation: { ecg: 'lead-range', tmp: 'vm-affine' },
    files: [{ path: 'model.onnx', role: 'model', sha256: 'a'.repeat(64), bytes: 855_000, dtype: 'fp32' }],
    metrics: { full: { mae: 0.03, mse: 0.006, r2: 0.94, pearson: 0.97, spearman: 0.93, samples: 1612 } },
    training: { dataset: 'synthetic-v1', seed: 1, epochs: 40, backend: 'webgpu', commit: 'abc1234' },
  };
}

describe('parseManifest', () => {
  it('accepts a complete manifest and fills defaults', () => {
    const m: Manifest = parseManifest(valid());
    expect(m.leads).toBe(12);
    expect(m.sites).toBe(75);
    expect(m.files[0]!.sha256).toHaveLength(64);
  });

  it('lists every problem with its path', () => {
    const bad = valid();
    bad.version = 'v1';
    bad.files = [{ path: '../etc/passwd', role: 'model', sha256: 'XYZ', bytes: -1, dtype: 'fp32' }];
    try {
      parseManifest(bad, 'models/cnn-lstm/manifest.json');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(InputError);
      const msg = (err as Error).message;
      expect(msg).toMatch(/^models\/cnn-lstm\/manifest\.json is invalid: /);
      expect(msg).toContain('version: a semantic version');
      expect(msg).toContain('files.0.path');
      expect(msg).toContain('files.0.sha256');
      expect(msg).toContain('files.0.bytes');
    }
  });

  it('takes a site list naming every output row, and a model card, both optional', () => {
    const siteList = Array.from({ length: 75 }, (_, i) => ({ name: `S${i}`, positionMm: [i, 0, -i] }));
    const card = {
      intendedUse: 'research',
      notFor: 'Not a medical device.',
      trainingData: 'simulated',
      evaluation: 'held out',
      limitations: ['simulated data only'],
    };
    const m = parseManifest({ ...valid(), siteList, card });
    expect(m.siteList?.[74]).toEqual({ name: 'S74', positionMm: [74, 0, -74] });
    expect(m.card?.limitations).toEqual(['simulated data only']);
    expect(parseManifest(valid()).siteList).toBeUndefined();
    expect(() => parseManifest({ ...valid(), siteList: siteList.slice(1) })).toThrow(
      /siteList must name every site/,
    );
    expect(() =>
      parseManifest({ ...valid(), siteList: [{ name: 'x', positionMm: [0, 0] }, ...siteList.slice(1)] }),
    ).toThrow(/siteList\.0\.positionMm/);
    expect(() => parseManifest({ ...valid(), card: { ...card, limitations: [] } })).toThrow(
      /card\.limitations/,
    );
  });

  it('rejects unknown fields, normalisations and architectures', () => {
    expect(() => parseManifest({ ...valid(), extra: 1 })).toThrow(/extra/);
    expect(() => parseManifest({ ...valid(), normalisation: { ecg: 'zscore', tmp: 'vm-affine' } })).toThrow(
      /normalisation\.ecg/,
    );
    expect(() => parseManifest({ ...valid(), architecture: 'resnet' })).toThrow(/architecture/);
    expect(() => parseManifest(null)).toThrow(/\(root\)/);
  });

  it('rejects duplicate file paths and non-finite metrics', () => {
    const dup = valid();
    const f = (dup.files as unknown[])[0];
    dup.files = [f, f];
    expect(() => parseManifest(dup)).toThrow(/file paths must be unique/);
    const nan = valid();
    nan.metrics = { full: { mae: Number.NaN, mse: 0, r2: 0, pearson: 0, spearman: 0, samples: 1 } };
    expect(() => parseManifest(nan)).toThrow(/metrics\.full\.mae/);
  });
});
