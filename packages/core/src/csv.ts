/**
 * @module
 * Reading a 12-lead ECG from CSV text: 500 rows × 12 columns (one column per lead, time down the rows)
 * or 12 rows × 500 columns (one row per lead). Cells are separated by commas, semicolons, tabs or
 * spaces (whichever the first row uses); cells may be double-quoted; one optional header row — lead
 * names in it put the columns in LEAD_NAMES order; blank lines and lines starting with '#' are skipped;
 * a UTF-8 byte-order mark and CRLF line ends are fine. Values are taken as mV.
 *
 * Every malformed file is an InputError 'bad_csv' naming the file, the line and what is wrong. The work
 * is bounded by the shape, not the file: reading stops at the first row past the 501st or the first
 * row wider than 500 cells, so a huge or hostile file costs no more than a valid one.
 */

import { CSV_NUMBER, csvLines, decodeCsv, failCsv, showCell, splitCsvLine } from './csv-text.ts';
import { LEAD_NAMES, N_LEADS, N_STEPS } from './layout.ts';

export interface EcgCsv {
  /** 12 × 500, lead-major, LEAD_NAMES order, mV. */
  readonly ecg: Float32Array;
  /** How the file was laid out: a column per lead ('time-major') or a row per lead ('lead-major'). */
  readonly layout: 'time-major' | 'lead-major';
}

const EXPECTED = `expected ${N_STEPS} rows × ${N_LEADS} columns (one per lead) or ${N_LEADS} rows × ${N_STEPS} columns`;
/** Column index of each lead (LEAD_NAMES order) when the header names leads; undefined when it names none. */
function headerOrder(header: readonly string[], at: number, source: string): number[] | undefined {
  const wanted = new Map(LEAD_NAMES.map((name, i) => [name.toLowerCase(), i]));
  const order: (number | undefined)[] = LEAD_NAMES.map(() => undefined);
  let named = 0;
  header.forEach((cell, column) => {
    const lead = wanted.get(cell.toLowerCase());
    if (lead === undefined) return;
    if (order[lead] !== undefined)
      failCsv(source, `line ${at}: the header names lead ${LEAD_NAMES[lead]} twice`);
    order[lead] = column;
    named++;
  });
  if (named === 0) return undefined;
  const missing = LEAD_NAMES.filter((_, i) => order[i] === undefined);
  const other = header.filter((cell) => !wanted.has(cell.toLowerCase()));
  if (missing.length > 0 || other.length > 0) {
    failCsv(
      source,
      `line ${at}: the header names leads but ${[
        missing.length > 0 ? `lacks ${missing.join(', ')}` : '',
        other.length > 0
          ? `has unknown column${other.length > 1 ? 's' : ''} ${other
              .slice(0, 5)
              .map((c) => `'${showCell(c)}'`)
              .join(', ')}${other.length > 5 ? ', …' : ''}`
          : '',
      ]
        .filter(Boolean)
        .join(' and ')}; expected the 12 leads ${LEAD_NAMES.join(', ')}`,
    );
  }
  return order as number[];
}

/**
 * Parses a 12-lead ECG from CSV bytes (UTF-8) or text. `source` (a file name) prefixes every error.
 * @example
 * const { ecg } = parseEcgCsv(new Uint8Array(await file.arrayBuffer()), file.name);
 */
export function parseEcgCsv(input: Uint8Array | string, source = 'ECG CSV'): EcgCsv {
  const text = decodeCsv(input, source);

  let delimiter: string | undefined;
  let header: { line: number; cells: string[] } | undefined;
  let width = 0;
  let firstLine = 0;
  const values: number[][] = [];
  for (const { line, text: row } of csvLines(text)) {
    if (firstLine === 0) {
      firstLine = line;
      delimiter = /[,;\t]/.exec(row)?.[0];
    }
    const cells = splitCsvLine(row, delimiter, line, source, N_STEPS + 1);
    if (cells.length > N_STEPS) failCsv(source, `line ${line} has more than ${N_STEPS} values; ${EXPECTED}`);
    if (line === firstLine && cells.some((c) => c !== '' && !CSV_NUMBER.test(c))) {
      header = { line, cells };
      continue;
    }
    if (values.length === 0) width = cells.length;
    else if (cells.length !== width) {
      failCsv(source, `row ${line} has ${cells.length} values, the first has ${width}`);
    }
    if (values.length === N_STEPS) failCsv(source, `more than ${N_STEPS} rows of numbers; ${EXPECTED}`);
    values.push(
      cells.map((cell, c) => {
        if (!CSV_NUMBER.test(cell))
          failCsv(source, `row ${line}, column ${c + 1} is not a number ('${showCell(cell)}')`);
        const v = Number(cell);
        if (!Number.isFinite(v))
          failCsv(source, `row ${line}, column ${c + 1} is out of range ('${showCell(cell)}')`);
        return v;
      }),
    );
  }
  if (values.length === 0) {
    failCsv(
      source,
      header === undefined ? `has no rows; ${EXPECTED}` : `has a header but no rows of numbers; ${EXPECTED}`,
    );
  }

  // A header that names leads is checked before the shape: "lacks V6" says more than "11 columns".
  const order = header && headerOrder(header.cells, header.line, source);
  const ecg = new Float32Array(N_LEADS * N_STEPS);
  if (values.length === N_STEPS && width === N_LEADS) {
    const columns = order ?? LEAD_NAMES.map((_, i) => i);
    for (let t = 0; t < N_STEPS; t++)
      for (let l = 0; l < N_LEADS; l++) ecg[l * N_STEPS + t] = values[t]![columns[l]!]!;
    return { ecg, layout: 'time-major' };
  }
  if (values.length === N_LEADS && width === N_STEPS) {
    for (let l = 0; l < N_LEADS; l++) ecg.set(values[l]!, l * N_STEPS);
    return { ecg, layout: 'lead-major' };
  }
  return failCsv(source, `has ${values.length} rows × ${width} columns of numbers; ${EXPECTED}`);
}
