/**
 * @module
 * The CSV text handling both CSV readers share (the 12 × 500 window in csv.ts, recordings in
 * recording/csv.ts): decoding, the lines that count, splitting a line with quotes, what a number is.
 * Every problem is an InputError 'bad_csv' naming the file.
 */

import { InputError } from './errors.ts';

/** UTF-8 bytes (or text) as text, without a byte-order mark. */
export function decodeCsv(input: Uint8Array | string, source: string): string {
  let text: string;
  if (typeof input === 'string') text = input;
  else {
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(input);
    } catch (err) {
      throw new InputError('bad_csv', `${source}: not UTF-8 text (is it a binary file?)`, { cause: err });
    }
  }
  return text.startsWith('\uFEFF') ? text.slice(1) : text;
}

/**
 * A decimal number, as written by spreadsheets and numpy.savetxt; not hex, not 'NaN' or 'Infinity'.
 * Written so that no digit can be matched two ways: `\d+\.?\d*` backtracks quadratically on a long run
 * of digits that fails at its end (a 100,000-digit cell took 12 s).
 */
export const CSV_NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Throws InputError 'bad_csv' with the file's name in front. */
export function failCsv(source: string, message: string): never {
  throw new InputError('bad_csv', `${source}: ${message}`);
}

/** A cell for an error message: short, and with control characters visible. */
export function showCell(cell: string): string {
  const s = cell.length > 24 ? `${cell.slice(0, 24)}…` : cell;
  return JSON.stringify(s).slice(1, -1);
}

/** The non-empty, non-comment lines with their 1-based line numbers, read one at a time. */
export function* csvLines(text: string): Generator<{ line: number; text: string }> {
  let start = 0;
  for (let line = 1; start <= text.length; line++) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const t = text.slice(start, end).trim();
    if (t.length > 0 && !t.startsWith('#')) yield { line, text: t };
    start = end + 1;
  }
}

/**
 * Splits one line on `delimiter` (undefined: runs of white space), honouring double quotes. Stops after
 * `limit` cells: the caller knows no valid row is wider, and a hostile one must not cost a string per cell.
 */
export function splitCsvLine(
  line: string,
  delimiter: string | undefined,
  at: number,
  source: string,
  limit: number,
): string[] {
  if (!line.includes('"')) {
    const cells = delimiter === undefined ? line.split(/\s+/, limit) : line.split(delimiter, limit);
    return cells.map((c) => c.trim());
  }
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    while (line[i] === ' ' || (delimiter !== '\t' && line[i] === '\t')) i++;
    let cell = '';
    if (line[i] === '"') {
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) failCsv(source, `line ${at} has an unterminated quoted cell`);
        cell += line.slice(i, q);
        i = q + 1;
        if (line[i] !== '"') break;
        cell += '"';
        i++;
      }
      // Spaces between a closing quote and the delimiter; with white space as the delimiter they are it.
      if (delimiter !== undefined) while (line[i] === ' ') i++;
    } else {
      const stop = delimiter === undefined ? line.slice(i).search(/\s/) : line.indexOf(delimiter, i);
      const end = stop < 0 ? line.length : delimiter === undefined ? i + stop : stop;
      cell = line.slice(i, end).trim();
      i = end;
    }
    cells.push(cell);
    if (i >= line.length || cells.length >= limit) return cells;
    if (delimiter === undefined) {
      if (!/\s/.test(line[i]!)) failCsv(source, `line ${at}: text right after a quoted cell`);
      while (/\s/.test(line[i] ?? '')) i++;
      if (i >= line.length) return cells;
    } else {
      if (line[i] !== delimiter) failCsv(source, `line ${at}: text right after a quoted cell`);
      i++;
    }
  }
}
