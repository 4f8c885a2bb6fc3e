/**
 * @module
 * Recordings as CSV: a header row naming the leads (matchLead: "I", "ii", "V1", "ECG aVR", …), then one
 * row per sample, at a rate the caller gives (a CSV has no place to say it). Columns that are not
 * leads — a time or sample-number column — are skipped and named in the warnings. Delimiters, quoting,
 * comments and BOMs as in the 12 × 500 reader (csv.ts, which stays as it is for single windows).
 *
 * Every malformed file is an InputError 'bad_csv' naming the file, the line and what is wrong.
 */

import { CSV_NUMBER, csvLines, decodeCsv, failCsv, showCell, splitCsvLine } from '../csv-text.ts';
import { InputError } from '../errors.ts';
import { LEAD_NAMES, type LeadName } from '../layout.ts';
import { checkRate, matchLead, mvPerUnit, type Recording } from './recording.ts';

/** No ECG file has more columns; a hostile row must not cost a string per cell. */
const MAX_COLUMNS = 64;

export interface RecordingCsvOptions {
  /** Samples per second. */
  readonly rate: number;
  /** Units of the values: 'mV' (default), 'uV', 'µV' or 'V'. */
  readonly units?: string;
}

/**
 * Parses a recording from CSV bytes (UTF-8) or text. `source` (a file name) prefixes every error.
 * @example
 * const rec = parseRecordingCsv(await file.text(), { rate: 500 }, file.name);
 */
export function parseRecordingCsv(
  input: Uint8Array | string,
  options: RecordingCsvOptions,
  source = 'recording CSV',
): Recording {
  checkRate(options.rate, source, 'bad_csv');
  const scale = mvPerUnit(options.units ?? 'mV');
  if (scale === undefined) {
    throw new InputError(
      'bad_value',
      `${source}: units ${JSON.stringify(options.units)}; expected mV, uV or V`,
    );
  }
  const text = decodeCsv(input, source);
  let delimiter: string | undefined;
  let columns: { lead: LeadName; column: number; values: number[] }[] | undefined;
  let width = 0;
  const warnings: string[] = [];
  for (const { line, text: row } of csvLines(text)) {
    if (columns === undefined) {
      delimiter = /[,;\t]/.exec(row)?.[0];
      const header = splitCsvLine(row, delimiter, line, source, MAX_COLUMNS + 1);
      if (header.length > MAX_COLUMNS) failCsv(source, `line ${line}: more than ${MAX_COLUMNS} columns`);
      if (header.every((c) => CSV_NUMBER.test(c))) {
        failCsv(
          source,
          `line ${line}: expected a header row naming the leads (${LEAD_NAMES.join(', ')}), found numbers`,
        );
      }
      const found = new Map<LeadName, number>();
      const other: string[] = [];
      header.forEach((cell, column) => {
        const lead = matchLead(cell);
        if (lead === undefined) other.push(cell || `(column ${column + 1})`);
        else if (found.has(lead)) failCsv(source, `line ${line}: the header names lead ${lead} twice`);
        else found.set(lead, column);
      });
      if (found.size === 0) {
        failCsv(
          source,
          `line ${line}: no column is a standard lead (found ${header
            .slice(0, 6)
            .map((c) => `'${showCell(c)}'`)
            .join(', ')}); expected ${LEAD_NAMES.join(', ')}`,
        );
      }
      if (other.length > 0) warnings.push(`columns skipped (not leads): ${other.map(showCell).join(', ')}`);
      columns = [...found].map(([lead, column]) => ({ lead, column, values: [] }));
      width = header.length;
      continue;
    }
    const cells = splitCsvLine(row, delimiter, line, source, width + 1);
    if (cells.length > width)
      failCsv(source, `row ${line} has more values than the header's ${width} columns`);
    if (cells.length < width)
      failCsv(source, `row ${line} has ${cells.length} values, the header ${width} columns`);
    for (const c of columns) {
      const cell = cells[c.column]!;
      const v = CSV_NUMBER.test(cell) ? Number(cell) : Number.NaN;
      if (!Number.isFinite(v)) {
        failCsv(
          source,
          `row ${line}, column ${c.column + 1} (${c.lead}) is not a number ('${showCell(cell)}')`,
        );
      }
      c.values.push(v * scale);
    }
  }
  if (columns === undefined)
    failCsv(source, 'is empty; expected a header row naming the leads, then one row per sample');
  const length = columns[0]!.values.length;
  if (length === 0) failCsv(source, 'has a header but no rows of samples');
  const leads: Partial<Record<LeadName, Float32Array>> = {};
  for (const c of columns) leads[c.lead] = Float32Array.from(c.values);
  return { rate: options.rate, length, leads, source, warnings };
}

/**
 * Writes a recording as CSV: a header of lead names (LEAD_NAMES order), then one row per sample, mV,
 * each value written so that it reads back as the same float32.
 * @example
 * const text = encodeRecordingCsv(recording);
 */
export function encodeRecordingCsv(recording: Recording): string {
  const names = LEAD_NAMES.filter((n) => recording.leads[n] !== undefined);
  const rows = [names.join(',')];
  for (let t = 0; t < recording.length; t++)
    rows.push(names.map((n) => String(recording.leads[n]![t])).join(','));
  return `${rows.join('\n')}\n`;
}
