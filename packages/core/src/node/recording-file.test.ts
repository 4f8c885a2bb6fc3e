import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../errors.ts';
import { LEAD_NAMES, type LeadName } from '../layout.ts';
import { encodeRecordingCsv } from '../recording/csv.ts';
import { encodeEdf } from '../recording/edf.ts';
import { type Recording, toModelLayout } from '../recording/recording.ts';
import { encodeWfdb } from '../recording/wfdb.ts';
import { readRecordingFile } from './recording-file.ts';

const REAL = fileURLToPath(new URL('../../../simulator/assets/real-ecg/s0010_re.hea', import.meta.url));

function generated(rate: number, leads: readonly LeadName[]): Recording {
  const length = rate;
  const out: Partial<Record<LeadName, Float32Array>> = {};
  leads.forEach((name, l) => {
    out[name] = Float32Array.from({ length }, (_, t) => Math.sin((2 * Math.PI * (3 + l) * t) / rate));
  });
  return { rate, length, leads: out, source: 'generated', warnings: [] };
}

describe('readRecordingFile', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'recording-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the real PTB record from its .hea or its .dat', async () => {
    const rec = await readRecordingFile(REAL);
    expect(rec.rate).toBe(1000);
    expect(rec.length).toBe(10_000);
    expect(rec.source).toBe(REAL);
    expect(rec.leads.I![0]).toBeCloseTo(-489 / 2000, 6);
    const viaDat = await readRecordingFile(REAL.replace(/\.hea$/, '.dat'));
    expect(viaDat.leads.V6).toEqual(rec.leads.V6);
  });

  it('reads a multi-file WFDB record, an EDF and a CSV written beside each other', async () => {
    const rec = generated(360, ['I', 'II', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6']);
    const wfdb = encodeWfdb(rec, { record: 'multi', format: 212, files: 'per-lead' });
    await writeFile(join(dir, 'multi.hea'), wfdb.header);
    for (const [name, bytes] of Object.entries(wfdb.files)) await writeFile(join(dir, name), bytes);
    await writeFile(join(dir, 'rec.EDF'), encodeEdf(rec));
    await writeFile(join(dir, 'rec.csv'), encodeRecordingCsv(rec));
    for (const file of ['multi.hea', 'rec.EDF', 'rec.csv']) {
      const back = await readRecordingFile(join(dir, file), { rate: 360 });
      expect(back.rate).toBe(360);
      expect(Object.keys(back.leads).sort()).toEqual(Object.keys(rec.leads).sort());
      for (let t = 0; t < rec.length; t += 11) expect(back.leads.V3![t]).toBeCloseTo(rec.leads.V3![t]!, 2);
      expect(toModelLayout(back).ecg.shape).toEqual([1, LEAD_NAMES.length, 1000]);
    }
  });

  it('names what is wrong: a data file not beside the header, a CSV without a rate, another extension', async () => {
    await writeFile(join(dir, 'lonely.hea'), 'lonely 1 500 10\nelsewhere.dat 16 200 16 0 0 0 0 I\n');
    await expect(readRecordingFile(join(dir, 'lonely.hea'))).rejects.toThrow(
      /lonely\.hea: data file elsewhere\.dat is not beside the header/,
    );
    await expect(readRecordingFile(join(dir, 'rec.csv'))).rejects.toThrow(/needs its sampling rate/);
    await expect(readRecordingFile(join(dir, 'x.mat'))).rejects.toThrow(InputError);
    await expect(readRecordingFile(join(dir, 'x.mat'))).rejects.toThrow(
      /unsupported recording file '\.mat'\. Expected one of: \.hea, \.dat, \.edf, \.csv/,
    );
    await expect(readRecordingFile(join(dir, 'missing.edf'))).rejects.toThrow(/ENOENT/);
  });
});
