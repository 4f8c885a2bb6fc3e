/**
 * @module
 * PhysioNet WFDB records: a `.hea` header (record line, one line per signal) and the `.dat` files it
 * names, given as bytes by the caller — the browser has them from a file picker, Node from the record's
 * folder (node/recording-file.ts). Formats 16, 61, 80, 160, 212, 24 and 32; one or several data files;
 * byte offsets; µV, mV and V units; gains, baselines and WFDB's invalid-sample markers (read as NaN).
 * Signals whose description names a standard lead (matchLead: i, ii, …, v6, any case) are kept.
 * Multi-segment records, several samples per frame, skew and the compressed formats (8, 310, 311,
 * FLAC 508–524) are refused by name.
 *
 * Every malformed header or data file is an InputError 'bad_wfdb' naming the file and the line. Nothing
 * is allocated from the header's numbers before the data file is known to hold them.
 * Header syntax: https://www.physionet.org/physiotools/wag/header-5.htm; formats:
 * https://www.physionet.org/physiotools/wag/signal-5.htm.
 */

import { InputError } from '../errors.ts';
import type { LeadName } from '../layout.ts';
import { checkRate, matchLead, mvPerUnit, type Recording } from './recording.ts';

export const WFDB_FORMATS = [16, 61, 80, 160, 212, 24, 32] as const;
export type WfdbFormat = (typeof WFDB_FORMATS)[number];

/** One signal line of a header. */
export interface WfdbSignal {
  readonly file: string;
  readonly format: WfdbFormat;
  readonly byteOffset: number;
  /** ADC units per physical unit. */
  readonly gain: number;
  /** The ADC value of 0 physical units. */
  readonly baseline: number;
  readonly units: string;
  readonly initialValue: number | undefined;
  readonly checksum: number | undefined;
  readonly description: string;
}

/** A parsed `.hea`. */
export interface WfdbHeader {
  readonly record: string;
  readonly rate: number;
  /** Frames (samples per signal) the header states; undefined when it leaves it to the data files. */
  readonly length: number | undefined;
  readonly signals: readonly WfdbSignal[];
  /** The data files named, in order of first mention. */
  readonly files: readonly string[];
  /** The `#` comment lines (without the '#'), e.g. a database's diagnosis notes. */
  readonly comments: readonly string[];
}

/** The ADC value WFDB writes for "no sample", per format. */
const INVALID: Record<WfdbFormat, number> = {
  16: -32768,
  61: -32768,
  80: -128,
  160: -32768,
  212: -2048,
  24: -(2 ** 23),
  32: -(2 ** 31),
};

function fail(source: string, message: string): never {
  throw new InputError('bad_wfdb', `${source}: ${message}`);
}

/** A field for an error message: short, with control characters visible. */
function show(field: string): string {
  return JSON.stringify(field.length > 24 ? `${field.slice(0, 24)}…` : field);
}

/** Text from bytes: UTF-8, or Latin-1 as older headers write 'µV'. */
function decodeText(input: Uint8Array | string): string {
  if (typeof input === 'string') return input;
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(input);
  } catch {
    // Byte for byte, not TextDecoder('latin1'): that label is windows-1252, and not every runtime has it.
    return Array.from(input, (b) => String.fromCharCode(b)).join('');
  }
}

const INTEGER = /^[+-]?\d{1,15}$/;
const DECIMAL = /^[+-]?(?:\d{1,20}\.?\d{0,20}|\.\d{1,20})(?:[eE][+-]?\d{1,3})?$/;

function integer(field: string, what: string, at: string, source: string): number {
  if (!INTEGER.test(field)) fail(source, `${at}: ${what} ${show(field)} is not an integer`);
  return Number(field);
}

function decimal(field: string, what: string, at: string, source: string): number {
  const v = DECIMAL.test(field) ? Number(field) : Number.NaN;
  if (!Number.isFinite(v)) fail(source, `${at}: ${what} ${show(field)} is not a number`);
  return v;
}

/** A data file name as a header may give it: a bare name in the record's folder. */
function checkFileName(name: string, at: string, source: string): void {
  if (name === '~') fail(source, `${at}: a signal without a data file ('~') is not read`);
  if (!/^[\w.+-]{1,255}$/.test(name) || name === '.' || name === '..') {
    fail(source, `${at}: data file ${show(name)} must be a plain file name beside the header`);
  }
}

/** Parses one signal line: `file format[xspf][:skew][+offset] [gain[(baseline)][/units] [adcres [adczero [init [checksum [blocksize [description]]]]]]]`. */
function parseSignal(line: string, at: string, source: string): WfdbSignal {
  const fields = line.split(/\s+/);
  const [file = '', formatField = ''] = fields;
  checkFileName(file, at, source);
  const fm = /^(\d+)(?:x(\d+))?(?::(-?\d+))?(?:\+(\d+))?$/.exec(formatField);
  if (!fm) fail(source, `${at}: format ${show(formatField)} is not WFDB's format[xN][:skew][+offset]`);
  const format = Number(fm[1]);
  if (!(WFDB_FORMATS as readonly number[]).includes(format)) {
    fail(source, `${at}: format ${fm[1]} is not read. Expected one of: ${WFDB_FORMATS.join(', ')}`);
  }
  if (fm[2] !== undefined && Number(fm[2]) !== 1) {
    fail(source, `${at}: ${fm[2]} samples per frame (a multi-frequency record) is not read`);
  }
  if (fm[3] !== undefined && Number(fm[3]) !== 0) fail(source, `${at}: a skew of ${fm[3]} is not read`);
  const byteOffset = fm[4] === undefined ? 0 : integer(fm[4], 'byte offset', at, source);

  let gain = 200;
  let baseline: number | undefined;
  let units = 'mV';
  const gainField = fields[2];
  if (gainField !== undefined) {
    const gm = /^([^(/]*)(?:\(([^)]*)\))?(?:\/(.*))?$/.exec(gainField);
    if (!gm) fail(source, `${at}: gain ${show(gainField)} is not gain[(baseline)][/units]`);
    gain = decimal(gm[1]!, 'gain', at, source);
    if (gain === 0) gain = 200; // WFDB's "uncalibrated": its nominal gain
    if (gain < 0) fail(source, `${at}: gain ${gain} must be positive`);
    if (gm[2] !== undefined) baseline = integer(gm[2], 'baseline', at, source);
    if (gm[3] !== undefined) units = gm[3];
  }
  if (fields[3] !== undefined) integer(fields[3], 'ADC resolution', at, source);
  const adcZero = fields[4] === undefined ? 0 : integer(fields[4], 'ADC zero', at, source);
  const initialValue = fields[5] === undefined ? undefined : integer(fields[5], 'initial value', at, source);
  const checksum = fields[6] === undefined ? undefined : integer(fields[6], 'checksum', at, source);
  if (fields[7] !== undefined) integer(fields[7], 'block size', at, source);
  return {
    file,
    format: format as WfdbFormat,
    byteOffset,
    gain,
    baseline: baseline ?? adcZero,
    units,
    initialValue,
    checksum,
    description: fields.slice(8).join(' '),
  };
}

/**
 * Parses a WFDB header (`.hea`) from bytes or text. `source` (the file's name) prefixes every error.
 * @example
 * const header = parseWfdbHeader(await heaFile.text(), heaFile.name);
 * header.files; // ['s0010_re.dat']
 */
export function parseWfdbHeader(input: Uint8Array | string, source = 'WFDB header'): WfdbHeader {
  const text = decodeText(input);
  const comments: string[] = [];
  const lines: { at: string; text: string }[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const t = raw.trim();
    if (t.startsWith('#')) comments.push(t.slice(1).trim());
    else if (t.length > 0) {
      // A trailing comment; found by a fixed-length search, as a backtracking pattern is quadratic in spaces.
      const hash = t.search(/\s#/);
      lines.push({ at: `line ${i + 1}`, text: hash < 0 ? t : t.slice(0, hash).trim() });
    }
  });
  const recordLine = lines[0];
  if (recordLine === undefined) fail(source, 'has no record line (is it a WFDB .hea file?)');
  const [name = '', nsigField = '', rateField, lengthField] = recordLine.text.split(/\s+/);
  const { at } = recordLine;
  if (name.includes('/'))
    fail(source, `${at}: multi-segment records ('${show(name).slice(1, -1)}') are not read`);
  if (!/^[\w.+-]{1,255}$/.test(name))
    fail(source, `${at}: record name ${show(name)} is not a WFDB record name`);
  if (nsigField === '') fail(source, `${at}: the record line gives no signal count`);
  const nsig = integer(nsigField, 'signal count', at, source);
  if (nsig < 1) fail(source, `${at}: a record with ${nsig} signals holds no ECG`);
  let rate = 250;
  if (rateField !== undefined) {
    const rm = /^([^/(]+)(?:\/[^(]*)?(?:\(.*\))?$/.exec(rateField);
    rate = decimal(rm?.[1] ?? rateField, 'sampling frequency', at, source);
  }
  checkRate(rate, source, 'bad_wfdb');
  let length: number | undefined;
  if (lengthField !== undefined) {
    length = integer(lengthField, 'sample count', at, source);
    if (length < 0) fail(source, `${at}: sample count ${length} is negative`);
    if (length === 0) length = undefined; // "unknown": the data files tell
  }
  const signalLines = lines.slice(1);
  if (signalLines.length !== nsig) {
    fail(source, `the record line says ${nsig} signals, ${signalLines.length} signal lines follow`);
  }
  const signals = signalLines.map((l) => parseSignal(l.text, l.at, source));
  const files: string[] = [];
  signals.forEach((s, i) => {
    if (files.at(-1) === s.file) {
      const prev = signals[i - 1]!;
      if (prev.format !== s.format) {
        fail(
          source,
          `${signalLines[i]!.at}: signals in ${s.file} mix formats ${prev.format} and ${s.format}`,
        );
      }
      if (prev.byteOffset !== s.byteOffset) {
        fail(source, `${signalLines[i]!.at}: signals in ${s.file} give different byte offsets`);
      }
    } else if (files.includes(s.file)) {
      fail(source, `${signalLines[i]!.at}: the signals of ${s.file} must be listed together`);
    } else files.push(s.file);
  });
  return { record: name, rate, length, signals, files, comments };
}

/** Samples a data file holds from `offset` on, in its format. */
function samplesIn(bytes: number, format: WfdbFormat): number {
  switch (format) {
    case 80:
      return bytes;
    case 16:
    case 61:
    case 160:
      return Math.floor(bytes / 2);
    case 212:
      return Math.floor(bytes / 3) * 2 + (bytes % 3 === 2 ? 1 : 0);
    case 24:
      return Math.floor(bytes / 3);
    case 32:
      return Math.floor(bytes / 4);
  }
}

/** The j-th sample of a data file's stream (signals interleaved frame by frame). */
function sampleAt(b: Uint8Array, j: number, format: WfdbFormat): number {
  switch (format) {
    case 16:
      return ((b[2 * j]! | (b[2 * j + 1]! << 8)) << 16) >> 16;
    case 61:
      return ((b[2 * j + 1]! | (b[2 * j]! << 8)) << 16) >> 16;
    case 80:
      return b[j]! - 128;
    case 160:
      return (b[2 * j]! | (b[2 * j + 1]! << 8)) - 32768;
    case 212: {
      // Pairs of 12-bit samples in 3 bytes: low byte of the first, high nibbles of both, low byte of the second.
      const k = 3 * (j >> 1);
      const v = j % 2 === 0 ? b[k]! | ((b[k + 1]! & 0x0f) << 8) : b[k + 2]! | ((b[k + 1]! & 0xf0) << 4);
      return (v << 20) >> 20;
    }
    case 24:
      return ((b[3 * j]! | (b[3 * j + 1]! << 8) | (b[3 * j + 2]! << 16)) << 8) >> 8;
    case 32:
      return b[4 * j]! | (b[4 * j + 1]! << 8) | (b[4 * j + 2]! << 16) | (b[4 * j + 3]! << 24);
  }
}

/**
 * Reads a WFDB record: its header (bytes, text or parsed) and its data files by name. `source` (the
 * header's file name) prefixes every error. Returns the standard leads, mV; a checksum that disagrees
 * with the data is a warning, not an error (the data is read as it is).
 * @example
 * const rec = parseWfdb(heaText, { 's0010_re.dat': datBytes }, 's0010_re.hea');
 * rec.leads.V1; // Float32Array, mV
 */
export function parseWfdb(
  header: Uint8Array | string | WfdbHeader,
  files: Readonly<Record<string, Uint8Array>>,
  source = 'WFDB record',
): Recording {
  const h =
    typeof header === 'string' || header instanceof Uint8Array ? parseWfdbHeader(header, source) : header;
  const warnings: string[] = [];

  // Which signals are leads, and which leads the record names twice.
  const leadOf = h.signals.map((s) => matchLead(s.description));
  const seen = new Map<LeadName, number>();
  leadOf.forEach((lead, i) => {
    if (lead === undefined) return;
    if (seen.has(lead)) fail(source, `signals ${seen.get(lead)! + 1} and ${i + 1} are both lead ${lead}`);
    seen.set(lead, i);
  });
  if (seen.size === 0) {
    const names = h.signals.map((s) => s.description || '(no description)');
    fail(
      source,
      `no signal is a standard ECG lead (found ${names.slice(0, 6).join(', ')}${names.length > 6 ? ', …' : ''}); expected descriptions such as I, II, V1`,
    );
  }

  // The frames every file holds; the record is as long as the header says, or as its shortest file.
  const groups = h.files.map((file) => {
    const bytes = files[file];
    if (bytes === undefined) fail(source, `data file ${file} is missing (the header names it)`);
    const members = h.signals.flatMap((s, i) => (s.file === file ? [i] : []));
    const { format, byteOffset } = h.signals[members[0]!]!;
    if (byteOffset > bytes.length)
      fail(source, `${file}: byte offset ${byteOffset} is past its end (${bytes.length} bytes)`);
    const data = bytes.subarray(byteOffset);
    return {
      file,
      members,
      format,
      data,
      frames: Math.floor(samplesIn(data.length, format) / members.length),
    };
  });
  const length = h.length ?? Math.min(...groups.map((g) => g.frames));
  for (const g of groups) {
    if (g.frames < length) {
      fail(
        source,
        `${g.file} holds ${g.frames} frames of ${g.members.length} signals, the header says ${length} (truncated?)`,
      );
    }
  }
  if (length === 0) fail(source, 'the data files hold no samples');

  const leads: Partial<Record<LeadName, Float32Array>> = {};
  for (const g of groups) {
    g.members.forEach((signal, m) => {
      const s = h.signals[signal]!;
      const lead = leadOf[signal];
      const stride = g.members.length;
      if (s.checksum !== undefined && h.length !== undefined) {
        let sum = 0;
        for (let t = 0; t < length; t++) sum = (sum + sampleAt(g.data, t * stride + m, g.format)) | 0;
        if ((sum << 16) >> 16 !== (s.checksum << 16) >> 16) {
          warnings.push(
            `signal ${signal + 1} (${s.description || 'unnamed'}): checksum ${s.checksum} in the header, ${(sum << 16) >> 16} in ${g.file}`,
          );
        }
      }
      if (s.initialValue !== undefined && sampleAt(g.data, m, g.format) !== s.initialValue) {
        warnings.push(
          `signal ${signal + 1} (${s.description || 'unnamed'}): first sample ${sampleAt(g.data, m, g.format)} in ${g.file}, ${s.initialValue} in the header`,
        );
      }
      if (lead === undefined) return;
      const scale = mvPerUnit(s.units);
      if (scale === undefined)
        fail(source, `lead ${lead} is in units ${show(s.units)}; expected µV, mV or V`);
      const out = new Float32Array(length);
      const invalid = INVALID[g.format];
      const k = scale / s.gain;
      for (let t = 0; t < length; t++) {
        const v = sampleAt(g.data, t * stride + m, g.format);
        out[t] = v === invalid ? Number.NaN : (v - s.baseline) * k;
      }
      leads[lead] = out;
    });
  }
  return { rate: h.rate, length, leads, source, warnings };
}

/** Bits of each format, for the header's ADC-resolution field and the range check. */
const BITS: Record<WfdbFormat, number> = { 16: 16, 61: 16, 80: 8, 160: 16, 212: 12, 24: 24, 32: 32 };

/** Bytes a data file of `samples` samples takes in `format`. */
function bytesFor(samples: number, format: WfdbFormat): number {
  if (format === 212) return Math.ceil((samples * 3) / 2);
  return samples * (format === 80 ? 1 : format === 24 ? 3 : format === 32 ? 4 : 2);
}

function putSample(b: Uint8Array, j: number, v: number, format: WfdbFormat): void {
  switch (format) {
    case 16:
    case 160: {
      const u = format === 160 ? v + 32768 : v & 0xffff;
      b[2 * j] = u & 0xff;
      b[2 * j + 1] = u >> 8;
      return;
    }
    case 61:
      b[2 * j] = (v >> 8) & 0xff;
      b[2 * j + 1] = v & 0xff;
      return;
    case 80:
      b[j] = v + 128;
      return;
    case 212: {
      const k = 3 * (j >> 1);
      if (j % 2 === 0) {
        b[k] = v & 0xff;
        b[k + 1] = (b[k + 1]! & 0xf0) | ((v >> 8) & 0x0f);
      } else {
        b[k + 2] = v & 0xff;
        b[k + 1] = (b[k + 1]! & 0x0f) | ((v >> 4) & 0xf0);
      }
      return;
    }
    case 24:
      b[3 * j] = v & 0xff;
      b[3 * j + 1] = (v >> 8) & 0xff;
      b[3 * j + 2] = (v >> 16) & 0xff;
      return;
    case 32:
      b[4 * j] = v & 0xff;
      b[4 * j + 1] = (v >> 8) & 0xff;
      b[4 * j + 2] = (v >> 16) & 0xff;
      b[4 * j + 3] = (v >>> 24) & 0xff;
      return;
  }
}

export interface EncodeWfdbOptions {
  /** Record name: the header is `${record}.hea`, data `${record}.dat` (or `${record}_${lead}.dat`). */
  readonly record: string;
  /** Default 16. */
  readonly format?: WfdbFormat;
  /** ADC units per mV; default 1000 (1 µV steps) for 16, 24, 32, 61 and 160 bits, 200 for 212 and 80. */
  readonly gainPerMv?: number;
  /** The units the header states (the gain is converted); default 'mV'. */
  readonly units?: 'mV' | 'uV';
  /** One data file for all leads (the usual layout), or one per lead (a multi-file record). */
  readonly files?: 'one' | 'per-lead';
}

/**
 * Writes a recording's leads as a WFDB record, with checksums and initial values: the header text and
 * the data files by name. A sample outside the format's range is an InputError 'bad_value'; a NaN
 * becomes the format's invalid-sample marker.
 * @example
 * const { header, files } = encodeWfdb(recording, { record: 'test', format: 212 });
 */
export function encodeWfdb(
  recording: Recording,
  options: EncodeWfdbOptions,
): { header: string; files: Record<string, Uint8Array> } {
  const { record, format = 16, units = 'mV', files: layout = 'one' } = options;
  const gainPerMv = options.gainPerMv ?? (format === 212 || format === 80 ? 200 : 1000);
  const gain = units === 'uV' ? gainPerMv / 1000 : gainPerMv;
  const names = (Object.keys(recording.leads) as LeadName[]).filter((n) => recording.leads[n] !== undefined);
  const { length } = recording;
  const max = 2 ** (BITS[format] - 1) - 1;
  const groups =
    layout === 'one'
      ? [{ file: `${record}.dat`, leads: names }]
      : names.map((n) => ({ file: `${record}_${n}.dat`, leads: [n] }));
  const files: Record<string, Uint8Array> = {};
  const lines = [`${record} ${names.length} ${recording.rate} ${length}`];
  for (const { file, leads } of groups) {
    const bytes = new Uint8Array(bytesFor(length * leads.length, format));
    leads.forEach((name, m) => {
      const data = recording.leads[name]!;
      let checksum = 0;
      let first = 0;
      for (let t = 0; t < length; t++) {
        const mv = data[t]!;
        const v = Number.isNaN(mv) ? INVALID[format] : Math.round(mv * gainPerMv);
        if (!Number.isNaN(mv) && !(Math.abs(v) <= max)) {
          throw new InputError(
            'bad_value',
            `${recording.source}: lead ${name} at sample ${t} (${mv} mV) is outside format ${format}'s range at ${gainPerMv} units/mV`,
          );
        }
        putSample(bytes, t * leads.length + m, v, format);
        if (t === 0) first = v;
        checksum = (checksum + v) | 0;
      }
      lines.push(
        `${file} ${format} ${gain}(0)/${units} ${BITS[format]} 0 ${first} ${(checksum << 16) >> 16} 0 ${name}`,
      );
    });
    files[file] = bytes;
  }
  return { header: `${lines.join('\n')}\n`, files };
}
