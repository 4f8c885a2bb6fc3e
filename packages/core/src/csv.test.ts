/**
 * @module
 * The ECG CSV reader: valid files in every accepted layout parse exactly (a round-trip property over
 * generated data, delimiters, quoting, headers, BOMs and line ends), and hostile input — random bytes,
 * bad UTF-8, damaged valid files, wrong widths, missing or extra leads, non-numeric, NaN/Inf and
 * out-of-range cells, absurd row and column counts — is an InputError 'bad_csv' naming the file and the
 * problem, quickly, never another exception (fast-check, ≥ 10,000 generated files).
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { reportFigure } from '../../../test/reliability.ts';
import { parseEcgCsv } from './csv.ts';
import { InputError } from './errors.ts';
import { LEAD_NAMES, N_LEADS, N_STEPS } from './layout.ts';

const SOURCE = 'fuzz.csv';
/** Per case; generous because test machines are shared, still far below what a runaway parse takes. */
const SLOW_MS = 2000;

/** 12 × 500 lead-major values, exactly representable in float32. */
function ecgFrom(seed: number): Float32Array {
  return Float32Array.from(
    { length: N_LEADS * N_STEPS },
    (_, i) => Math.sin(seed + i * 0.37) * 10 ** ((i % 7) - 3),
  );
}

interface Format {
  readonly layout: 'time-major' | 'lead-major';
  readonly delimiter: ',' | ';' | '\t' | ' ';
  readonly header: readonly string[] | undefined;
  readonly quote: boolean;
  readonly eol: '\n' | '\r\n';
  readonly bom: boolean;
  readonly comment: boolean;
}

/** Writes an ECG as CSV; with a header, columns follow the header's lead order. */
function formatCsv(ecg: Float32Array, f: Format): string {
  const cell = (v: number | string) => (f.quote ? `"${v}"` : String(v));
  const rows: string[] = [];
  if (f.comment) rows.push('# exported for a test', '');
  if (f.layout === 'time-major') {
    const order = (f.header ?? LEAD_NAMES).map((name) => LEAD_NAMES.indexOf(name as never));
    if (f.header !== undefined) rows.push(f.header.map(cell).join(f.delimiter));
    for (let t = 0; t < N_STEPS; t++)
      rows.push(order.map((l) => cell(ecg[l * N_STEPS + t]!)).join(f.delimiter));
  } else {
    for (let l = 0; l < N_LEADS; l++) {
      rows.push(Array.from(ecg.subarray(l * N_STEPS, (l + 1) * N_STEPS), cell).join(f.delimiter));
    }
  }
  return `${f.bom ? '\uFEFF' : ''}${rows.join(f.eol)}${f.eol}`;
}

const format: fc.Arbitrary<Format> = fc.record({
  layout: fc.constantFrom('time-major' as const, 'lead-major' as const),
  delimiter: fc.constantFrom(',' as const, ';' as const, '\t' as const, ' ' as const),
  header: fc.option(fc.shuffledSubarray([...LEAD_NAMES], { minLength: 12, maxLength: 12 }), {
    nil: undefined,
  }),
  quote: fc.boolean(),
  eol: fc.constantFrom('\n' as const, '\r\n' as const),
  bom: fc.boolean(),
  comment: fc.boolean(),
});

/** Checks the reader's contract on one input; returns what went wrong, or undefined. */
function violation(input: Uint8Array | string): string | undefined {
  const started = performance.now();
  let problem: string | undefined;
  try {
    const { ecg } = parseEcgCsv(input, SOURCE);
    if (ecg.length !== N_LEADS * N_STEPS) problem = `${ecg.length} values`;
    else if (!ecg.every(Number.isFinite)) problem = 'a non-finite value';
  } catch (err) {
    if (!(err instanceof InputError)) problem = `${(err as Error).name}: ${(err as Error).message}`;
    else if (err.code !== 'bad_csv') problem = `code ${err.code}`;
    else if (!err.message.startsWith(`${SOURCE}: `))
      problem = `message '${err.message}' does not name the file`;
  }
  const ms = performance.now() - started;
  return problem ?? (ms > SLOW_MS ? `took ${ms.toFixed(0)} ms` : undefined);
}

/** Short values (a few characters a cell), so a damaged copy of a whole file is cheap to make and read. */
function shortEcg(seed: number): Float32Array {
  return Float32Array.from({ length: N_LEADS * N_STEPS }, (_, i) => (((seed + i) * 7) % 19) / 4 - 2);
}

/** A few valid files to damage, made once (the damage is what varies). */
const VALID = [
  formatCsv(shortEcg(1), {
    layout: 'time-major',
    delimiter: ',',
    header: LEAD_NAMES,
    quote: false,
    eol: '\n',
    bom: false,
    comment: false,
  }),
  formatCsv(shortEcg(2), {
    layout: 'lead-major',
    delimiter: ' ',
    header: undefined,
    quote: false,
    eol: '\r\n',
    bom: true,
    comment: true,
  }),
  formatCsv(shortEcg(3), {
    layout: 'time-major',
    delimiter: ';',
    header: undefined,
    quote: true,
    eol: '\n',
    bom: false,
    comment: false,
  }),
];

const damaged = fc
  .tuple(
    fc.constantFrom(...VALID),
    fc.array(
      fc.record({
        op: fc.constantFrom('replace', 'insert', 'delete', 'cut', 'line'),
        at: fc.nat(),
        text: fc.constantFrom(
          'x',
          'NaN',
          'Infinity',
          '-inf',
          '1e999',
          '0x1F',
          '"',
          ',',
          ';',
          '\t',
          '\n',
          '\r',
          '\uFEFF',
          '\u0000',
          '1,2,3',
          'V7',
          'I',
          ' ',
          '',
          '1'.repeat(400),
          '\uD800',
        ),
      }),
      { minLength: 1, maxLength: 3 },
    ),
  )
  .map(([file, edits]) => {
    let s = file;
    for (const { op, at, text } of edits) {
      const i = at % (s.length + 1);
      if (op === 'replace') s = s.slice(0, i) + text + s.slice(i + 1);
      else if (op === 'insert') s = s.slice(0, i) + text + s.slice(i);
      else if (op === 'delete') s = s.slice(0, i) + s.slice(i + 1 + (at % 40));
      else if (op === 'cut') s = s.slice(0, i);
      else {
        // Duplicate or drop a whole line: wrong row counts.
        const start = s.lastIndexOf('\n', i - 1) + 1;
        const end = s.indexOf('\n', i);
        const line = s.slice(start, end < 0 ? s.length : end + 1);
        s =
          at % 2 === 0
            ? s.slice(0, start) + line + s.slice(start)
            : s.slice(0, start) + s.slice(start + line.length);
      }
    }
    return s;
  });

/** One cell: a number, an odd string or random text. */
const cell = fc.oneof(
  fc.double().map(String),
  fc.double().map(String),
  fc.constantFrom('', '"1"', '"1', '1"', '""', '"a""b"', 'I', 'aVR', '+.5', '-.', '.', 'e5', '1e', '٣'),
  fc.string({ maxLength: 6, unit: 'binary' }),
);

/** Small tables of generated cells: wrong shapes, odd cells, quoting and headers. */
const table = fc
  .record({
    rows: fc.integer({ min: 0, max: 14 }),
    width: fc.integer({ min: 0, max: 14 }),
    delimiter: fc.constantFrom(',', ';', '\t', ' ', '|'),
  })
  .chain(({ rows, width, delimiter }) =>
    fc
      .array(fc.array(cell, { minLength: width, maxLength: width }), { minLength: rows, maxLength: rows })
      .map((cells) => cells.map((r) => r.join(delimiter)).join('\n')),
  );

describe('parseEcgCsv', () => {
  it('reads generated ECGs back exactly in every accepted layout (round trip)', () => {
    fc.assert(
      fc.property(fc.integer(), format, fc.boolean(), (seed, f, asBytes) => {
        const ecg = ecgFrom(seed);
        const text = formatCsv(ecg, f);
        const parsed = parseEcgCsv(asBytes ? new TextEncoder().encode(text) : text, SOURCE);
        expect(parsed.layout).toBe(f.layout);
        expect(parsed.ecg).toEqual(ecg);
      }),
      { numRuns: 100, seed: 10_010 },
    );
  });

  it('keeps its contract on 12,000 generated files (random bytes and text, damaged files, odd tables)', ({
    task,
  }) => {
    let cases = 0;
    const failures: string[] = [];
    const arb = fc.oneof(
      { arbitrary: fc.uint8Array({ maxLength: 512 }), weight: 2 },
      { arbitrary: fc.string({ maxLength: 300, unit: 'binary' }), weight: 2 },
      { arbitrary: damaged, weight: 3 },
      { arbitrary: table, weight: 3 },
    );
    fc.assert(
      fc.property(arb, (input) => {
        cases++;
        const problem = violation(input);
        if (problem !== undefined) failures.push(problem);
        return true;
      }),
      { numRuns: 12_000, seed: 10_011 },
    );
    reportFigure(task, {
      area: 'bad input',
      what: 'ECG CSV reader: random bytes/text, damaged files, odd tables (fast-check)',
      count: cases,
      unit: 'files',
      failures: failures.length,
    });
    expect(failures.slice(0, 5)).toEqual([]);
    expect(cases).toBeGreaterThanOrEqual(10_000);
  });

  const good = VALID[0]!;
  const lines = good.trimEnd().split('\n');
  const withLine = (row: number, text: string) => lines.map((l, i) => (i === row ? text : l)).join('\n');
  it.each([
    ['an empty file', '', /has no rows/],
    ['only comments and blank lines', '# nothing\n\n  \n', /has no rows/],
    ['a header and no rows', `${LEAD_NAMES.join(',')}\n`, /has a header but no rows/],
    ['bad UTF-8', Uint8Array.from([0x31, 0x2c, 0xff, 0xfe, 0x0a]), /not UTF-8 text/],
    [
      'a binary file',
      Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00]),
      /not UTF-8 text/,
    ],
    [
      'the wrong shape',
      '1,2,3\n4,5,6\n',
      /has 2 rows × 3 columns of numbers; expected 500 rows × 12 columns/,
    ],
    ['a ragged row', '1,2,3\n4,5\n', /row 2 has 2 values, the first has 3/],
    ['a word in a cell', '1,2\n3,x\n', /row 2, column 2 is not a number \('x'\)/],
    ['NaN', withLine(3, lines[3]!.replace(/^[^,]+/, 'NaN')), /row 4, column 1 is not a number \('NaN'\)/],
    ['Infinity', withLine(3, lines[3]!.replace(/[^,]+$/, 'Infinity')), /row 4, column 12 is not a number/],
    [
      'a value out of range',
      withLine(5, lines[5]!.replace(/^[^,]+/, '1e999')),
      /row 6, column 1 is out of range \('1e999'\)/,
    ],
    [
      'a hex value',
      withLine(5, lines[5]!.replace(/^[^,]+/, '0x1F')),
      /row 6, column 1 is not a number \('0x1F'\)/,
    ],
    ['an empty cell', withLine(7, lines[7]!.replace(/^[^,]+/, '')), /row 8, column 1 is not a number \(''\)/],
    ['a missing lead', withLine(0, lines[0]!.replace('V6', 'V7')), /lacks V6 and has unknown column 'V7'/],
    ['a repeated lead', withLine(0, lines[0]!.replace('V6', 'V5')), /names lead V5 twice/],
    [
      'an extra lead column',
      lines.map((l, i) => `${l},${i === 0 ? 'V7' : '0'}`).join('\n'),
      /has unknown column 'V7'/,
    ],
    ['a missing lead column', lines.map((l) => l.replace(/,[^,]*$/, '')).join('\n'), /lacks V6/],
    ['one row too many', `${good}${lines[1]}\n`, /more than 500 rows of numbers/],
    ['one row too few', lines.slice(0, -1).join('\n'), /has 499 rows × 12 columns/],
    ['an unterminated quote', withLine(2, `"1,${lines[2]!}`), /line 3 has an unterminated quoted cell/],
    [
      'text after a quote',
      withLine(2, `"1"x,${lines[2]!.replace(/^[^,]+,/, '')}`),
      /line 3: text right after a quoted cell/,
    ],
    ['a row of 10^6 cells', `${'1,'.repeat(1_000_000)}1\n`, /line 1 has more than 500 values/],
    ['10^6 rows', '1\n'.repeat(1_000_000), /more than 500 rows/],
  ])('rejects %s with an InputError that names the problem', (_, input, message) => {
    expect(violation(input)).toBeUndefined();
    expect(() => parseEcgCsv(input, SOURCE)).toThrow(InputError);
    expect(() => parseEcgCsv(input, SOURCE)).toThrow(message);
  });

  it('reads a BOM, CRLF, quoted cells and a lead header in any order', () => {
    const ecg = ecgFrom(7);
    const header = [...LEAD_NAMES].reverse();
    const text = formatCsv(ecg, {
      layout: 'time-major',
      delimiter: ';',
      header,
      quote: true,
      eol: '\r\n',
      bom: true,
      comment: true,
    });
    expect(text.startsWith('\uFEFF# exported')).toBe(true);
    expect(parseEcgCsv(new TextEncoder().encode(text), SOURCE).ecg).toEqual(ecg);
  });

  it('bounds its work by the shape: 8 MB of blank lines or one huge row is refused quickly', () => {
    const started = performance.now();
    expect(() => parseEcgCsv('\n'.repeat(8 << 20), SOURCE)).toThrow(/has no rows/);
    expect(() => parseEcgCsv(`${'1;'.repeat(4 << 20)}\n`, SOURCE)).toThrow(/more than 500 values/);
    expect(performance.now() - started).toBeLessThan(3000);
  });
});
