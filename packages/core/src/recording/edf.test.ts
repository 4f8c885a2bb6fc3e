/**
 * @module
 * The EDF reader on files built field by field from the specification (scaling between digital and
 * physical ranges, units, annotation and non-ECG signals at other rates, a record count of −1), on
 * generated recordings written by encodeEdf at several rates (write-then-read within the 16-bit step),
 * and on malformed headers.
 */

import { describe, expect, it } from 'vitest';
import { generatedRecording } from '../../test/generated-recording.ts';
import { InputError } from '../errors.ts';
import { LEAD_NAMES, type LeadName } from '../layout.ts';
import { encodeEdf, parseEdf } from './edf.ts';
import { type Recording, toModelLayout } from './recording.ts';

interface Sig {
  label: string;
  dim?: string;
  physMin?: string;
  physMax?: string;
  digMin?: string;
  digMax?: string;
  spr: number;
  /** Digital samples, all records back to back. */
  data: number[];
}

/** An EDF file from its fields, as the specification lays them out. */
function edfFile(
  signals: Sig[],
  options: { records?: string; duration?: string; reserved?: string; version?: string; extra?: number } = {},
): Uint8Array {
  const ns = signals.length;
  const nrec = signals[0] ? signals[0].data.length / signals[0].spr : 0;
  const text: string[] = [];
  const put = (s: string, w: number) => text.push(s.padEnd(w, ' ').slice(0, w));
  put(options.version ?? '0', 8);
  put('patient', 80);
  put('recording', 80);
  put('01.02.03', 8);
  put('04.05.06', 8);
  put(String(256 * (ns + 1)), 8);
  put(options.reserved ?? '', 44);
  put(options.records ?? String(nrec), 8);
  put(options.duration ?? '1', 8);
  put(String(ns), 4);
  for (const [w, f] of [
    [16, (s: Sig) => s.label],
    [80, () => ''],
    [8, (s: Sig) => s.dim ?? 'uV'],
    [8, (s: Sig) => s.physMin ?? '-32768'],
    [8, (s: Sig) => s.physMax ?? '32767'],
    [8, (s: Sig) => s.digMin ?? '-32768'],
    [8, (s: Sig) => s.digMax ?? '32767'],
    [80, () => ''],
    [8, (s: Sig) => String(s.spr)],
    [32, () => ''],
  ] as const) {
    for (const s of signals) put(f(s), w);
  }
  const header = Uint8Array.from([...text.join('')].map((c) => c.charCodeAt(0)));
  const samples: number[] = [];
  for (let r = 0; r < nrec; r++)
    for (const s of signals) samples.push(...s.data.slice(r * s.spr, (r + 1) * s.spr));
  const out = new Uint8Array(header.length + 2 * samples.length + (options.extra ?? 0));
  out.set(header);
  const view = new DataView(out.buffer);
  for (const [i, v] of samples.entries()) view.setInt16(header.length + 2 * i, v, true);
  return out;
}

const generated = (rate: number, seconds: number, leads?: readonly LeadName[]): Recording =>
  generatedRecording(
    (l, t, rate) => 2 * Math.sin((2 * Math.PI * (0.7 + l) * t) / rate) - 0.4,
    rate,
    seconds,
    leads,
  );

describe('EDF', () => {
  it('scales digital to physical by each signal range, in its units', () => {
    const bytes = edfFile(
      [
        // -2048…2047 ↦ -5…5 mV: d ↦ (d + 2048) · 10/4095 − 5.
        {
          label: 'ECG I',
          dim: 'mV',
          physMin: '-5',
          physMax: '5',
          digMin: '-2048',
          digMax: '2047',
          spr: 250,
          data: Array.from({ length: 500 }, (_, k) => (k % 3) - 1),
        },
        // 0…1000 ↦ 0…1000 µV.
        {
          label: 'ii',
          dim: 'uV',
          physMin: '0',
          physMax: '1000',
          digMin: '0',
          digMax: '1000',
          spr: 250,
          data: Array.from({ length: 500 }, (_, k) => k),
        },
        { label: 'Resp', dim: 'Ohm', spr: 25, data: new Array(50).fill(7) },
        {
          label: 'EDF Annotations',
          dim: '',
          physMin: '-1',
          physMax: '1',
          spr: 10,
          data: new Array(20).fill(0),
        },
      ],
      { reserved: 'EDF+C' },
    );
    const rec = parseEdf(bytes, 'x.edf');
    expect(rec.rate).toBe(250);
    expect(rec.length).toBe(500);
    expect(Object.keys(rec.leads)).toEqual(['I', 'II']);
    expect(rec.leads.I![1]).toBeCloseTo(2048 * (10 / 4095) - 5, 5);
    expect(rec.leads.I![2]).toBeCloseTo(2049 * (10 / 4095) - 5, 5);
    expect(rec.leads.II![499]).toBeCloseTo(0.499, 6);
  });

  it('reads a record count of −1 as the whole records present, and a half-second record duration', () => {
    const bytes = edfFile(
      [
        {
          label: 'V1',
          dim: 'mV',
          physMin: '-32.768',
          physMax: '32.767',
          spr: 250,
          data: Array.from({ length: 750 }, (_, k) => k),
        },
      ],
      {
        records: '-1',
        duration: '0.5',
        extra: 7,
      },
    );
    const rec = parseEdf(bytes, 'x.edf');
    expect(rec.rate).toBe(500);
    expect(rec.length).toBe(750);
    expect(rec.leads.V1![749]).toBeCloseTo(0.749, 5);
    expect(rec.warnings).toEqual(['the header gives no record count; read the 3 whole records present']);
  });

  it.each([250, 360, 500, 1000])('round-trips a generated 12-lead recording at %s Hz (encodeEdf)', (rate) => {
    const rec = generated(rate, 2);
    const back = parseEdf(encodeEdf(rec), 'g.edf');
    expect(back.rate).toBe(rate);
    expect(back.length).toBe(rec.length);
    for (const name of LEAD_NAMES) {
      // The range, about 4.002 mV, in 65535 steps of 0.061 µV: half a step is 3.05e-5 mV; float32 adds
      // less than 2.5e-7 mV at 2.4 mV.
      const a = rec.leads[name]!;
      const b = back.leads[name]!;
      for (let t = 0; t < rec.length; t++) expect(Math.abs(a[t]! - b[t]!)).toBeLessThan(3.1e-5);
    }
    const model = toModelLayout(back);
    expect(model.ecg.shape).toEqual([1, 12, 2000]);
  });

  it('derives the limb leads of an 8-lead EDF at 500 Hz', () => {
    const back = parseEdf(
      encodeEdf(generated(500, 1, ['I', 'II', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6'])),
      'e.edf',
    );
    expect(toModelLayout(back).derived).toEqual(['III', 'aVR', 'aVL', 'aVF']);
  });

  const ok: Sig = { label: 'I', spr: 250, data: new Array(250).fill(0) };
  it.each([
    ['a short file', new Uint8Array(100), /shorter than EDF's 256-byte header/],
    [
      'a BDF file',
      Uint8Array.from(
        [0xff, ...'BIOSEMI']
          .map((c) => (typeof c === 'number' ? c : c.charCodeAt(0)))
          .concat(new Array(300).fill(32)),
      ),
      /24-bit BDF/,
    ],
    ['another version', edfFile([ok], { version: '1' }), /version field is not "0"/],
    ['EDF+D', edfFile([ok], { reserved: 'EDF+D' }), /discontinuous EDF\+D/],
    ['a zero duration', edfFile([ok], { duration: '0' }), /duration 0 s must be positive/],
    ['a bad duration', edfFile([ok], { duration: 'abc' }), /duration "abc" is not a number/],
    [
      'a truncated data part',
      edfFile([ok], { records: '2' }),
      /header says 2 data records, the file holds 1/,
    ],
    ['no data records', edfFile([{ ...ok, data: [] }], { records: '0' }), /holds no data records/],
    [
      'zero samples per record',
      edfFile([{ ...ok, spr: 0, data: [] }], { records: '1' }),
      /samples per record 0 must be at least 1/,
    ],
    ['an inverted digital range', edfFile([{ ...ok, digMin: '5', digMax: '-5' }]), /digital range 5…-5/],
    ['an empty physical range', edfFile([{ ...ok, physMin: '3', physMax: '3' }]), /physical range is empty/],
    ['a 17-bit digital range', edfFile([{ ...ok, digMax: '65535' }]), /not an increasing 16-bit range/],
    ['a lead in ohms', edfFile([{ ...ok, dim: 'Ohm' }]), /lead I is in "Ohm"; expected uV, mV or V/],
    ['a lead named twice', edfFile([ok, { ...ok, label: 'ECG I' }]), /both lead I/],
    [
      'leads at two rates',
      edfFile([ok, { label: 'II', spr: 500, data: new Array(500).fill(0) }]),
      /lead II is sampled at 500 Hz, the first lead at 250 Hz/,
    ],
    [
      'a rate below 250 Hz',
      edfFile([{ ...ok, spr: 128, data: new Array(128).fill(0) }]),
      /128 Hz is outside 250/,
    ],
    [
      'no ECG lead',
      edfFile([{ ...ok, label: 'EEG Fp1' }]),
      /no signal is a standard ECG lead \(found EEG Fp1\)/,
    ],
  ])('rejects %s with an InputError that says so', (_, bytes, message) => {
    expect(() => parseEdf(bytes, 'bad.edf')).toThrow(InputError);
    expect(() => parseEdf(bytes, 'bad.edf')).toThrow(message);
    try {
      parseEdf(bytes, 'bad.edf');
    } catch (err) {
      expect((err as InputError).code).toBe('bad_edf');
      expect((err as Error).message.startsWith('bad.edf: ')).toBe(true);
    }
  });

  it('rejects a header size that disagrees with the signal count', () => {
    const bytes = edfFile([ok]);
    bytes.set(
      [...'768     '].map((c) => c.charCodeAt(0)),
      184,
    );
    expect(() => parseEdf(bytes, 'bad.edf')).toThrow(/header size 768 is not 256 × \(1 \+ 1 signals\)/);
  });
});
