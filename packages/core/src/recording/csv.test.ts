/**
 * @module
 * Recordings as CSV: a header row of lead names and one row per sample at the caller's rate, read back
 * exactly (write-then-read) at several rates, with non-lead columns skipped and every malformed file an
 * InputError 'bad_csv' naming the line. The 12 × 500 window reader (csv.ts) shares its tokeniser and is
 * covered by its own tests.
 */

import { describe, expect, it } from 'vitest';
import { generatedRecording } from '../../test/generated-recording.ts';
import { parseEcgCsv } from '../csv.ts';
import { InputError } from '../errors.ts';
import { LEAD_NAMES, type LeadName } from '../layout.ts';
import { encodeRecordingCsv, parseRecordingCsv } from './csv.ts';
import { type Recording, toModelLayout } from './recording.ts';

const generated = (rate: number, seconds: number, leads?: readonly LeadName[]): Recording =>
  generatedRecording(
    (l, t, rate) => Math.sin((2 * Math.PI * (2 + l) * t) / rate) * 10 ** ((t % 5) - 2),
    rate,
    seconds,
    leads,
  );

describe('recording CSV', () => {
  it.each([250, 360, 500, 1000])('round-trips a 12-lead recording at %s Hz exactly', (rate) => {
    const rec = generated(rate, 1.2);
    const back = parseRecordingCsv(encodeRecordingCsv(rec), { rate }, 'g.csv');
    expect(back.rate).toBe(rate);
    expect(back.length).toBe(rec.length);
    for (const name of LEAD_NAMES) expect(back.leads[name]).toEqual(rec.leads[name]);
    expect(toModelLayout(back).ecg.shape).toEqual([1, 12, Math.ceil(rec.length * (1000 / rate) - 1e-9)]);
  });

  it('matches lead names in any case and order, skips other columns, honours units and quoting', () => {
    const text = [
      '\uFEFF# exported by a cart',
      'time;"Lead ii";I;v1;V2;v3;V4;V5;V6',
      '0.000;1000;-500;0;0;0;0;0;"250"',
      '0.002;2000;-1000;0;0;0;0;0;0',
      '',
    ].join('\r\n');
    const rec = parseRecordingCsv(text, { rate: 500, units: 'uV' }, 'cart.csv');
    expect(Object.keys(rec.leads)).toEqual(['II', 'I', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6']);
    expect(Array.from(rec.leads.II!)).toEqual([1, 2]);
    expect(Array.from(rec.leads.I!)).toEqual([-0.5, -1]);
    expect(rec.leads.V6![0]).toBe(0.25);
    expect(rec.warnings).toEqual(['columns skipped (not leads): time']);
    expect(toModelLayout(rec).derived).toEqual(['III', 'aVR', 'aVL', 'aVF']);
  });

  it('leaves the 12 × 500 window reader as it was', () => {
    const rec = generated(1000, 0.5);
    const window = parseEcgCsv(encodeRecordingCsv(rec), 'w.csv');
    expect(window.layout).toBe('time-major');
    LEAD_NAMES.forEach((name, l) => {
      expect(window.ecg.subarray(l * 500, (l + 1) * 500)).toEqual(rec.leads[name]);
    });
  });

  it.each([
    ['an empty file', '', /is empty; expected a header row/],
    ['no header', '1,2,3\n4,5,6\n', /line 1: expected a header row naming the leads/],
    ['a header without leads', 'a,b,c\n1,2,3\n', /no column is a standard lead \(found 'a', 'b', 'c'\)/],
    ['a lead named twice', 'I,i\n1,2\n', /line 1: the header names lead I twice/],
    ['no rows', 'I,II\n', /has a header but no rows/],
    ['a short row', 'I,II\n1,2\n3\n', /row 3 has 1 values, the header 2 columns/],
    ['a long row', 'I,II\n1,2,3\n', /row 2 has more values than the header's 2 columns/],
    ['a word for a number', 'I,II\n1,x\n', /row 2, column 2 \(II\) is not a number \('x'\)/],
    ['NaN', 'I,II\nNaN,1\n', /row 2, column 1 \(I\) is not a number/],
    ['an overflow', 'I\n1e999\n', /row 2, column 1 \(I\) is not a number/],
    ['an unterminated quote', 'I,"II\n1,2\n', /line 1 has an unterminated quoted cell/],
    ['65 columns', `${Array.from({ length: 65 }, (_, i) => `c${i}`).join(',')}\n`, /more than 64 columns/],
  ])('rejects %s with an InputError that says so', (_, text, message) => {
    expect(() => parseRecordingCsv(text, { rate: 500 }, 'bad.csv')).toThrow(InputError);
    expect(() => parseRecordingCsv(text, { rate: 500 }, 'bad.csv')).toThrow(message);
    expect(() => parseRecordingCsv(text, { rate: 500 }, 'bad.csv')).toThrow(/^bad\.csv: /);
  });

  it('rejects a 200,000-digit cell at once (the number pattern does not backtrack)', () => {
    const started = performance.now();
    expect(() => parseRecordingCsv(`I,II\n1,${'9'.repeat(200_000)}x\n`, { rate: 500 }, 'b.csv')).toThrow(
      /row 2, column 2 \(II\) is not a number/,
    );
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('rejects binary input, bad rates and unknown units', () => {
    expect(() => parseRecordingCsv(Uint8Array.from([0xff, 0xfe, 0]), { rate: 500 }, 'b.csv')).toThrow(
      /not UTF-8/,
    );
    expect(() => parseRecordingCsv('I\n1\n', { rate: 100 }, 'b.csv')).toThrow(/100 Hz is outside 250/);
    expect(() => parseRecordingCsv('I\n1\n', { rate: Number.NaN }, 'b.csv')).toThrow(/NaN Hz/);
    expect(() => parseRecordingCsv('I\n1\n', { rate: 500, units: 'mmHg' }, 'b.csv')).toThrow(/units "mmHg"/);
  });
});
