/**
 * @module
 * EDF and EDF+ (continuous, 'EDF+C') files: the 256-byte fixed header, 256 bytes per signal, then data
 * records of 16-bit little-endian samples, each signal scaled from its digital to its physical range.
 * Signals labelled as a standard lead (matchLead: "ECG I", "II", "V1", …) are kept; EDF+ annotation
 * signals and everything else are skipped. Discontinuous EDF+D and 24-bit BDF are refused by name.
 *
 * Every malformed file is an InputError 'bad_edf' naming the file and the field. Nothing is allocated
 * from the header's counts before the file is known to hold them.
 * Specification: https://www.edfplus.info/specs/edf.html and edfplus.html.
 */

import { InputError } from '../errors.ts';
import type { LeadName } from '../layout.ts';
import { checkRate, matchLead, mvPerUnit, type Recording } from './recording.ts';

/** One signal's header. */
export interface EdfSignal {
  readonly label: string;
  readonly physicalDimension: string;
  readonly physicalMin: number;
  readonly physicalMax: number;
  readonly digitalMin: number;
  readonly digitalMax: number;
  readonly samplesPerRecord: number;
}

const ANNOTATIONS = 'EDF Annotations';
const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

function fail(source: string, message: string): never {
  throw new InputError('bad_edf', `${source}: ${message}`);
}

/**
 * Reads an EDF/EDF+ file. `source` (the file's name) prefixes every error. Leads must share one rate
 * (samples per record / record duration) and units of µV, mV or V.
 * @example
 * const rec = parseEdf(new Uint8Array(await file.arrayBuffer()), file.name);
 */
export function parseEdf(bytes: Uint8Array, source = 'EDF file'): Recording {
  // Header fields are ASCII by the specification; read as Latin-1, byte by byte, whatever they hold.
  const field = (at: number, width: number) => String.fromCharCode(...bytes.subarray(at, at + width)).trim();
  const number = (text: string, what: string): number => {
    const v = NUMBER.test(text) ? Number(text) : Number.NaN;
    if (!Number.isFinite(v)) fail(source, `${what} ${JSON.stringify(text.slice(0, 24))} is not a number`);
    return v;
  };
  const integer = (text: string, what: string): number => {
    const v = number(text, what);
    if (!Number.isInteger(v)) fail(source, `${what} ${text} is not an integer`);
    return v;
  };

  if (bytes.length < 256) fail(source, `${bytes.length} bytes is shorter than EDF's 256-byte header`);
  if (bytes[0] === 0xff) fail(source, 'is a 24-bit BDF file (BioSemi), which is not read; convert it to EDF');
  if (field(0, 8) !== '0') fail(source, 'not an EDF file (its version field is not "0")');
  const reserved = field(192, 44);
  if (reserved.startsWith('EDF+D')) fail(source, 'is a discontinuous EDF+D recording, which is not read');
  const headerBytes = integer(field(184, 8), 'header size');
  const records = integer(field(236, 8), 'number of data records');
  const duration = number(field(244, 8), 'data record duration');
  const ns = integer(field(252, 4), 'number of signals');
  if (ns < 1) fail(source, `number of signals ${ns} must be at least 1`);
  if (headerBytes !== 256 * (ns + 1))
    fail(source, `header size ${headerBytes} is not 256 × (1 + ${ns} signals)`);
  if (bytes.length < headerBytes)
    fail(source, `truncated header: ${ns} signals need ${headerBytes} bytes, found ${bytes.length}`);
  if (!(duration > 0)) fail(source, `data record duration ${duration} s must be positive`);

  // The signal headers are stored field by field: all labels, then all transducers, and so on.
  let at = 256;
  const column = (width: number) => {
    const values = Array.from({ length: ns }, (_, i) => field(at + i * width, width));
    at += ns * width;
    return values;
  };
  const labels = column(16);
  column(80); // transducer type
  const dimensions = column(8);
  const physMin = column(8);
  const physMax = column(8);
  const digMin = column(8);
  const digMax = column(8);
  column(80); // prefiltering
  const spr = column(8);
  const signals: EdfSignal[] = labels.map((label, i) => {
    const what = (name: string) => `signal ${i + 1} (${label || 'unlabelled'}) ${name}`;
    const s = {
      label,
      physicalDimension: dimensions[i]!,
      physicalMin: number(physMin[i]!, what('physical minimum')),
      physicalMax: number(physMax[i]!, what('physical maximum')),
      digitalMin: integer(digMin[i]!, what('digital minimum')),
      digitalMax: integer(digMax[i]!, what('digital maximum')),
      samplesPerRecord: integer(spr[i]!, what('samples per record')),
    };
    if (s.samplesPerRecord < 1)
      fail(source, `${what('samples per record')} ${s.samplesPerRecord} must be at least 1`);
    if (label === ANNOTATIONS) return s;
    if (s.digitalMin < -32768 || s.digitalMax > 32767 || s.digitalMin >= s.digitalMax) {
      fail(
        source,
        `${what('digital range')} ${s.digitalMin}…${s.digitalMax} is not an increasing 16-bit range`,
      );
    }
    if (s.physicalMin === s.physicalMax)
      fail(source, `${what('physical range')} is empty (${s.physicalMin} both ends)`);
    return s;
  });

  // Data records: the header's count, or (−1, still being written) as many whole ones as the file holds.
  const recordBytes = 2 * signals.reduce((n, s) => n + s.samplesPerRecord, 0);
  const held = Math.floor((bytes.length - headerBytes) / recordBytes);
  if (records !== -1 && records < 0) fail(source, `number of data records ${records} is negative`);
  if (records > held)
    fail(source, `truncated: the header says ${records} data records, the file holds ${held}`);
  const count = records === -1 ? held : records;
  if (count === 0) fail(source, 'holds no data records');

  const warnings: string[] = [];
  if (records === -1)
    warnings.push(`the header gives no record count; read the ${held} whole records present`);
  const seen = new Map<LeadName, number>();
  const leads: Partial<Record<LeadName, Float32Array>> = {};
  let rate: number | undefined;
  let length = 0;
  let offset = 0; // of the signal within a data record, in samples
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  signals.forEach((s, i) => {
    const start = offset;
    offset += s.samplesPerRecord;
    const lead = s.label === ANNOTATIONS ? undefined : matchLead(s.label);
    if (lead === undefined) return;
    if (seen.has(lead)) fail(source, `signals ${seen.get(lead)! + 1} and ${i + 1} are both lead ${lead}`);
    seen.set(lead, i);
    const scale = mvPerUnit(s.physicalDimension);
    if (scale === undefined) {
      fail(source, `lead ${lead} is in ${JSON.stringify(s.physicalDimension)}; expected uV, mV or V`);
    }
    const leadRate = s.samplesPerRecord / duration;
    if (rate === undefined) {
      checkRate(leadRate, source, 'bad_edf');
      rate = leadRate;
      length = count * s.samplesPerRecord;
    } else if (leadRate !== rate) {
      fail(source, `lead ${lead} is sampled at ${leadRate} Hz, the first lead at ${rate} Hz`);
    }
    const gain = ((s.physicalMax - s.physicalMin) / (s.digitalMax - s.digitalMin)) * scale;
    const out = new Float32Array(count * s.samplesPerRecord);
    for (let r = 0; r < count; r++) {
      const base = headerBytes + r * recordBytes + 2 * start;
      for (let k = 0; k < s.samplesPerRecord; k++) {
        const d = view.getInt16(base + 2 * k, true);
        out[r * s.samplesPerRecord + k] = (d - s.digitalMin) * gain + s.physicalMin * scale;
      }
    }
    leads[lead] = out;
  });
  if (rate === undefined) {
    const names = signals.filter((s) => s.label !== ANNOTATIONS).map((s) => s.label || '(unlabelled)');
    fail(
      source,
      `no signal is a standard ECG lead (found ${names.slice(0, 6).join(', ') || 'only annotations'}${names.length > 6 ? ', …' : ''}); expected labels such as "ECG I", "II", "V1"`,
    );
  }
  return { rate, length, leads, source, warnings };
}

/** A number in an 8-character header field. */
function field8(v: number): string {
  const s = String(v);
  if (s.length > 8) throw new InputError('bad_value', `EDF: ${v} does not fit an 8-character field`);
  return s;
}

/**
 * Writes a recording's leads as an EDF+C file of 1-second data records (the rate must be a whole number
 * of Hz; the last record is padded with each lead's last value), in µV, each lead's physical range its
 * own whole-µV span, plus the EDF+ time-keeping annotation signal.
 * @example
 * const bytes = encodeEdf(recording);
 */
export function encodeEdf(recording: Recording): Uint8Array {
  const { rate, length } = recording;
  if (!Number.isInteger(rate))
    throw new InputError('bad_value', `EDF: rate ${rate} Hz is not a whole number`);
  const names = (Object.keys(recording.leads) as LeadName[]).filter((n) => recording.leads[n] !== undefined);
  if (length === 0 || names.some((n) => recording.leads[n]!.some((v) => !Number.isFinite(v)))) {
    throw new InputError('bad_value', `${recording.source}: EDF needs at least one sample and finite values`);
  }
  const records = Math.ceil(length / rate);
  // Per lead: [physical min, max] in whole µV around its samples.
  const ranges = names.map((name) => {
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (const v of recording.leads[name]!) {
      lo = Math.min(lo, v * 1000);
      hi = Math.max(hi, v * 1000);
    }
    return [Math.floor(lo) - 1, Math.ceil(hi) + 1] as const;
  });
  const ANNOT_SAMPLES = 30; // 60 bytes: room for '+N\x14\x14\0' for any N up to 10^50
  const ns = names.length + 1;
  const headerBytes = 256 * (ns + 1);
  const recordSamples = names.length * rate + ANNOT_SAMPLES;
  const out = new Uint8Array(headerBytes + records * recordSamples * 2);
  const put = (at: number, width: number, text: string) => {
    const padded = text.padEnd(width, ' ');
    for (let i = 0; i < width; i++) out[at + i] = padded.charCodeAt(i);
  };
  put(0, 8, '0');
  put(8, 80, 'X X X X');
  put(88, 80, 'Startdate X X X X');
  put(168, 8, '01.01.00');
  put(176, 8, '00.00.00');
  put(184, 8, String(headerBytes));
  put(192, 44, 'EDF+C');
  put(236, 8, String(records));
  put(244, 8, '1');
  put(252, 4, String(ns));
  const columns: [number, (i: number) => string][] = [
    [16, (i) => (i < names.length ? `ECG ${names[i]}` : 'EDF Annotations')],
    [80, () => ''],
    [8, (i) => (i < names.length ? 'uV' : '')],
    [8, (i) => (i < names.length ? field8(ranges[i]![0]) : '-1')],
    [8, (i) => (i < names.length ? field8(ranges[i]![1]) : '1')],
    [8, () => '-32768'],
    [8, () => '32767'],
    [80, () => ''],
    [8, (i) => String(i < names.length ? rate : ANNOT_SAMPLES)],
    [32, () => ''],
  ];
  let at = 256;
  for (const [width, text] of columns) {
    for (let i = 0; i < ns; i++) put(at + i * width, width, text(i));
    at += ns * width;
  }
  const view = new DataView(out.buffer);
  for (let r = 0; r < records; r++) {
    let pos = headerBytes + r * recordSamples * 2;
    names.forEach((name, l) => {
      const data = recording.leads[name]!;
      const [lo, hi] = ranges[l]!;
      for (let k = 0; k < rate; k++) {
        const uv = data[Math.min(r * rate + k, length - 1)]! * 1000;
        view.setInt16(pos, Math.round(((uv - lo) / (hi - lo)) * 65535 - 32768), true);
        pos += 2;
      }
    });
    const tal = `+${r}\x14\x14\0`;
    for (let i = 0; i < tal.length; i++) out[pos + i] = tal.charCodeAt(i);
  }
  return out;
}
