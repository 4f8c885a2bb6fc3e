/**
 * @module
 * The WFDB reader on a real record (PTB Diagnostic ECG Database s0010_re, format 16, 1 kHz, committed
 * in packages/simulator/assets/real-ecg with its licence and source), on format 212 bytes built by
 * hand from the WFDB documentation, on generated records in every format, rate and file layout
 * (write-then-read within the ADC step), and on the header's corners and errors.
 */

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generatedRecording } from '../../test/generated-recording.ts';
import { InputError } from '../errors.ts';
import { LEAD_NAMES, type LeadName } from '../layout.ts';
import { type Recording, toModelLayout } from './recording.ts';
import { encodeWfdb, parseWfdb, parseWfdbHeader, WFDB_FORMATS, type WfdbFormat } from './wfdb.ts';

const REAL = new URL('../../../simulator/assets/real-ecg/', import.meta.url);
const realHeader = readFileSync(new URL('s0010_re.hea', REAL));
const realData = readFileSync(new URL('s0010_re.dat', REAL));

/** A generated recording: each lead a different mix of sines, mV. */
const generated = (rate: number, seconds: number, leads?: readonly LeadName[]): Recording =>
  generatedRecording(
    (l, t, rate) =>
      1.2 * Math.sin((2 * Math.PI * (1.1 + l) * t) / rate) +
      0.3 * Math.cos((2 * Math.PI * 17 * t) / rate + l),
    rate,
    seconds,
    leads,
  );

describe('WFDB: the real PTB record s0010_re', () => {
  const rec = parseWfdb(realHeader, { 's0010_re.dat': realData }, 's0010_re.hea');

  it('reads its 12 leads at 1 kHz, every checksum and initial value in the header matching the data', () => {
    expect(rec.rate).toBe(1000);
    expect(rec.length).toBe(10_000);
    expect(Object.keys(rec.leads).sort()).toEqual([...LEAD_NAMES].sort());
    // SOURCE.md: checksums recomputed for the 10 s excerpt; a mismatch would be a warning.
    expect(rec.warnings).toEqual([]);
  });

  it('scales by the header gain (2000 adu/mV): first samples are the header initial values / 2000', () => {
    const initial: Record<LeadName, number> = {
      I: -489,
      II: -458,
      III: 31,
      aVR: 474,
      aVL: -260,
      aVF: -214,
      V1: -88,
      V2: -241,
      V3: -112,
      V4: 212,
      V5: 393,
      V6: 390,
    };
    for (const name of LEAD_NAMES) expect(rec.leads[name]![0]).toBeCloseTo(initial[name] / 2000, 6);
  });

  it('obeys Einthoven and Goldberger to within 1 µV, as the recorded leads should', () => {
    const { I, II, III, aVR, aVL, aVF } = rec.leads as Record<LeadName, Float32Array>;
    for (let t = 0; t < rec.length; t++) {
      expect(Math.abs(I[t]! + III[t]! - II[t]!)).toBeLessThan(1.01e-3);
      expect(Math.abs(aVR[t]! + (I[t]! + II[t]!) / 2)).toBeLessThan(1.01e-3);
      expect(Math.abs(aVL[t]! - (I[t]! - II[t]! / 2))).toBeLessThan(1.01e-3);
      expect(Math.abs(aVF[t]! - (II[t]! - I[t]! / 2))).toBeLessThan(1.01e-3);
    }
  });

  it('goes to the model layout unchanged, and with III, aVR, aVL, aVF dropped derives them back', () => {
    const full = toModelLayout(rec);
    expect(full.derived).toEqual([]);
    expect(full.ecg.shape).toEqual([1, 12, 10_000]);
    LEAD_NAMES.forEach((name, l) => {
      expect(full.ecg.data.subarray(l * 10_000, (l + 1) * 10_000)).toEqual(rec.leads[name]);
    });
    const { III, aVR, aVL, aVF, ...eight } = rec.leads;
    const derived = toModelLayout({ ...rec, leads: eight });
    expect(derived.derived).toEqual(['III', 'aVR', 'aVL', 'aVF']);
    for (const [l, recorded] of [
      [2, III],
      [3, aVR],
      [4, aVL],
      [5, aVF],
    ] as const) {
      const row = derived.ecg.data.subarray(l * 10_000, (l + 1) * 10_000);
      for (let t = 0; t < 10_000; t += 7) expect(Math.abs(row[t]! - recorded![t]!)).toBeLessThan(1.01e-3);
    }
  });
});

describe('WFDB: format 212 as documented', () => {
  it('unpacks sample pairs from 3 bytes (low byte, both high nibbles, low byte), sign-extended', () => {
    // Samples 1, -1 | 2047, 0x123 | -2048 (invalid), -0x123: each pair is lo(a), hi(b)<<4 | hi(a), lo(b).
    const pack = (a: number, b: number) => [a & 0xff, (((b >> 8) & 0x0f) << 4) | ((a >> 8) & 0x0f), b & 0xff];
    const bytes = Uint8Array.from([...pack(1, -1), ...pack(2047, 0x123), ...pack(-2048, -0x123)]);
    const header = 'r 2 500 3\nr.dat 212 100 12 0 0 0 0 I\nr.dat 212 100 12 0 0 0 0 II\n';
    const rec = parseWfdb(header, { 'r.dat': bytes }, 'r.hea');
    expect(Array.from(rec.leads.I!)).toEqual([0.01, 20.47, Number.NaN].map(Math.fround));
    expect(Array.from(rec.leads.II!)).toEqual([-0.01, 2.91, -2.91].map(Math.fround));
  });
});

describe('WFDB: generated records', () => {
  const layouts = WFDB_FORMATS.flatMap((format) =>
    (['one', 'per-lead'] as const).map((files) => [format, files] as const),
  );
  it.each(layouts)(
    'round-trips format %s, %s data file(s), at 250, 360, 500 and 1000 Hz',
    (format, files) => {
      for (const rate of [250, 360, 500, 1000]) {
        const rec = generated(rate, 1.5);
        // Format 80 holds ±127 steps: 100 per mV keeps the ±1.5 mV test signal in range.
        const gainPerMv = format === 80 ? 80 : undefined;
        const units = rate === 360 ? ('uV' as const) : ('mV' as const);
        const { header, files: data } = encodeWfdb(rec, {
          record: `g${rate}`,
          format,
          files,
          gainPerMv,
          units,
        });
        const back = parseWfdb(header, data, `g${rate}.hea`);
        expect(back.rate).toBe(rate);
        expect(back.length).toBe(rec.length);
        expect(back.warnings).toEqual([]);
        const step = 1 / (gainPerMv ?? (format === 212 ? 200 : 1000));
        for (const name of LEAD_NAMES) {
          const a = rec.leads[name]!;
          const b = back.leads[name]!;
          for (let t = 0; t < rec.length; t++)
            expect(Math.abs(a[t]! - b[t]!)).toBeLessThanOrEqual(step / 2 + 1e-6);
        }
      }
    },
  );

  it.each([250, 360, 500])(
    'a %s Hz record with only I, II, V1–V6 reaches the model layout at 1 kHz',
    (rate) => {
      const rec = generated(rate, 2, ['I', 'II', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6']);
      const { header, files } = encodeWfdb(rec, { record: 'eight', format: 212 });
      const model = toModelLayout(parseWfdb(header, files, 'eight.hea'));
      expect(model.ecg.shape).toEqual([1, 12, 2000]);
      expect(model.derived).toEqual(['III', 'aVR', 'aVL', 'aVF']);
      expect(model.fromRate).toBe(rate);
      const at = (l: number, t: number) => model.ecg.data[l * 2000 + t]!;
      // Lead I is 1.2 sin(2π 1.1 t): at 1 kHz sample t it reads its value at t ms (within 212's 5 µV step).
      for (const t of [400, 1000, 1500]) {
        const ideal =
          1.2 * Math.sin(2 * Math.PI * 1.1 * (t / 1000)) + 0.3 * Math.cos(2 * Math.PI * 17 * (t / 1000));
        expect(Math.abs(at(0, t) - ideal)).toBeLessThan(0.005);
        expect(at(2, t)).toBeCloseTo(at(1, t) - at(0, t), 5);
        expect(at(3, t)).toBeCloseTo(-(at(0, t) + at(1, t)) / 2, 5);
      }
    },
  );
});

describe('WFDB header', () => {
  it('applies the defaults: rate 250, gain 200, baseline = ADC zero, units mV; reads µV in Latin-1', () => {
    const h = parseWfdbHeader('r 2\nr.dat 16\nr.dat 16 400 12 5 0 0 0 V1\n', 'r.hea');
    expect(h.rate).toBe(250);
    expect(h.length).toBeUndefined();
    expect(h.signals[0]).toMatchObject({ gain: 200, baseline: 0, units: 'mV', description: '' });
    expect(h.signals[1]).toMatchObject({ gain: 400, baseline: 5, description: 'V1' });
    const latin1 = Uint8Array.from(
      [...'r 1 500 1\nr.dat 16 1000/\xB5V 16 0 0 0 0 Lead II\n'].map((c) => c.charCodeAt(0)),
    );
    const rec = parseWfdb(latin1, { 'r.dat': Uint8Array.from([0xe8, 0x03]) }, 'r.hea');
    expect(rec.leads.II![0]).toBeCloseTo(0.001, 8); // 1000 adu at 1000 adu/µV = 1 µV
  });

  it('reads rate/counter(base), gain(baseline)/units, +byte offsets, comments, and skips other signals', () => {
    const header = [
      '# made by hand',
      'rec 3 500/1000(0) 2 10:00:00 01/01/2000',
      'rec.dat 16+4 2000(100)/mV 16 0 0 0 0 ECG aVF',
      'rec.dat 16+4 10/mmHg 12 0 0 0 0 ABP',
      'rec.dat 16+4 0.5/V 16 0 0 0 0 v4 # trailing comment',
      '',
    ].join('\n');
    const data = new Uint8Array(4 + 12);
    const view = new DataView(data.buffer);
    for (const [i, v] of [2100, 50, -1, 100, 60, 1].entries()) view.setInt16(4 + 2 * i, v, true);
    const rec = parseWfdb(header, { 'rec.dat': data }, 'rec.hea');
    expect(rec.rate).toBe(500);
    expect(Object.keys(rec.leads)).toEqual(['aVF', 'V4']);
    expect(Array.from(rec.leads.aVF!)).toEqual([1, 0].map(Math.fround));
    expect(Array.from(rec.leads.V4!)).toEqual([-2000, 2000]);
    expect(parseWfdbHeader(header, 'rec.hea').comments).toEqual(['made by hand']);
  });

  it('takes the length from the shortest data file when the header gives none, and warns on bad checksums', () => {
    const rec = parseWfdb('r 1 500\nr.dat 16 1000 16 0 0 0 0 I\n', { 'r.dat': new Uint8Array(7) }, 'r.hea');
    expect(rec.length).toBe(3);
    const warned = parseWfdb(
      'r 1 500 2\nr.dat 16 1000 16 0 5 99 0 I\n',
      { 'r.dat': new Uint8Array(4) },
      'r.hea',
    );
    expect(warned.warnings).toEqual([
      'signal 1 (I): checksum 99 in the header, 0 in r.dat',
      'signal 1 (I): first sample 0 in r.dat, 5 in the header',
    ]);
  });

  const dat = { 'r.dat': new Uint8Array(40) };
  it.each([
    ['an empty file', '', /has no record line/],
    ['a multi-segment record', 'r/3 1 500 10\n', /multi-segment records/],
    ['a bad signal count', 'r x 500\n', /signal count "x" is not an integer/],
    ['no signal count', 'r\n', /line 1: the record line gives no signal count/],
    [
      'too few signal lines',
      'r 2 500 10\nr.dat 16 200 16 0 0 0 0 I\n',
      /says 2 signals, 1 signal lines follow/,
    ],
    [
      'a rate below 250 Hz',
      'r 1 128 10\nr.dat 16 200 16 0 0 0 0 I\n',
      /128 Hz is outside 250–32768 Hz \(too coarse/,
    ],
    ['a rate that is not a number', 'r 1 fast 10\nr.dat 16 200 16 0 0 0 0 I\n', /sampling frequency "fast"/],
    ['format 8', 'r 1 500 10\nr.dat 8 200 16 0 0 0 0 I\n', /format 8 is not read\. Expected one of: 16, 61/],
    ['FLAC format 516', 'r 1 500 10\nr.dat 516 200 16 0 0 0 0 I\n', /format 516 is not read/],
    ['several samples per frame', 'r 1 500 10\nr.dat 16x2 200 16 0 0 0 0 I\n', /2 samples per frame/],
    ['a skew', 'r 1 500 10\nr.dat 16:3 200 16 0 0 0 0 I\n', /a skew of 3/],
    ['a path as the data file', 'r 1 500 10\n../r.dat 16 200 16 0 0 0 0 I\n', /must be a plain file name/],
    ['no data file (~)', 'r 1 500 10\n~ 16 200 16 0 0 0 0 I\n', /without a data file/],
    ['a negative gain', 'r 1 500 10\nr.dat 16 -200 16 0 0 0 0 I\n', /gain -200 must be positive/],
    ['a bad baseline', 'r 1 500 10\nr.dat 16 200(x) 16 0 0 0 0 I\n', /baseline "x"/],
    [
      'mixed formats in a file',
      'r 2 500 10\nr.dat 16 200 16 0 0 0 0 I\nr.dat 212 200 12 0 0 0 0 II\n',
      /mix formats 16 and 212/,
    ],
    [
      'a file listed apart',
      'r 3 500 10\nr.dat 16 200 16 0 0 0 0 I\ns.dat 16 200 16 0 0 0 0 II\nr.dat 16 200 16 0 0 0 0 V1\n',
      /must be listed together/,
    ],
    [
      'a lead named twice',
      'r 2 500 10\nr.dat 16 200 16 0 0 0 0 I\nr.dat 16 200 16 0 0 0 0 lead i\n',
      /both lead I/,
    ],
    [
      'no lead at all',
      'r 2 500 10\nr.dat 16 200 16 0 0 0 0 MLII\nr.dat 16 200 16 0 0 0 0 ABP\n',
      /no signal is a standard ECG lead \(found MLII, ABP\)/,
    ],
    [
      'units that are not volts',
      'r 1 500 10\nr.dat 16 200/mmHg 16 0 0 0 0 V2\n',
      /lead V2 is in units "mmHg"/,
    ],
    ['a missing data file', 'r 1 500 10\nq.dat 16 200 16 0 0 0 0 I\n', /data file q\.dat is missing/],
    [
      'a truncated data file',
      'r 1 500 30\nr.dat 16 200 16 0 0 0 0 I\n',
      /r\.dat holds 20 frames of 1 signals, the header says 30/,
    ],
    [
      'an offset past the end',
      'r 1 500 10\nr.dat 16+99 200 16 0 0 0 0 I\n',
      /byte offset 99 is past its end/,
    ],
  ])('rejects %s with an InputError that says so', (_, header, message) => {
    expect(() => parseWfdb(header, dat, 'r.hea')).toThrow(InputError);
    expect(() => parseWfdb(header, dat, 'r.hea')).toThrow(message);
    try {
      parseWfdb(header, dat, 'r.hea');
    } catch (err) {
      expect((err as InputError).code).toBe('bad_wfdb');
      expect((err as Error).message.startsWith('r.hea: ')).toBe(true);
    }
  });

  it('parses hostile long lines in linear time', () => {
    const started = performance.now();
    const spaces = ' '.repeat(200_000);
    expect(() => parseWfdbHeader(`r 1 500 10\nr.dat${spaces}x${spaces}y\n`, 'r.hea')).toThrow(/format "x"/);
    expect(() => parseWfdbHeader(`r 1 500 10\nr.dat 16 ${'('.repeat(200_000)} 16\n`, 'r.hea')).toThrow(
      /gain/,
    );
    expect(() => parseWfdbHeader(`r 1 ${'9'.repeat(200_000)}\n`, 'r.hea')).toThrow(/sampling frequency/);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('refuses to write a sample outside the format range', () => {
    const rec = generated(500, 0.1, ['I']);
    expect(() => encodeWfdb(rec, { record: 'x', format: 80 as WfdbFormat })).toThrow(
      /outside format 80's range/,
    );
  });
});
