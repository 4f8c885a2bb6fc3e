/**
 * @module
 * Recordings on disk: a WFDB record (its `.hea`, or one of its `.dat` files, with the data files the
 * header names read from the same folder), an EDF/EDF+ file, or a CSV with a header row of leads.
 */

import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { InputError } from '../errors.ts';
import { parseRecordingCsv } from '../recording/csv.ts';
import { parseEdf } from '../recording/edf.ts';
import type { Recording } from '../recording/recording.ts';
import { parseWfdb, parseWfdbHeader } from '../recording/wfdb.ts';

export const RECORDING_EXTENSIONS = ['.hea', '.dat', '.edf', '.csv'] as const;

export interface ReadRecordingOptions {
  /** Samples per second: needed for a CSV (it has no place to say it), ignored otherwise. */
  readonly rate?: number;
  /** Units of a CSV's values (default mV); WFDB and EDF state their own. */
  readonly units?: string;
}

/** Reads a WFDB record from its header's path, each data file from the header's folder. */
async function readWfdbRecord(headerPath: string): Promise<Recording> {
  const header = parseWfdbHeader(await readFile(headerPath), headerPath);
  const files: Record<string, Uint8Array> = {};
  for (const name of header.files) {
    try {
      files[name] = await readFile(join(dirname(headerPath), name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      throw new InputError('bad_wfdb', `${headerPath}: data file ${name} is not beside the header`, {
        cause: err,
      });
    }
  }
  return parseWfdb(header, files, headerPath);
}

/**
 * Reads a recording from `path`, by its extension. Errors name the path; a missing file is the file
 * system's own error.
 * @example
 * const rec = await readRecordingFile('data/ptb/s0010_re.hea');
 * const { ecg } = toModelLayout(rec);
 */
export async function readRecordingFile(
  path: string,
  options: ReadRecordingOptions = {},
): Promise<Recording> {
  const ext = extname(path).toLowerCase();
  switch (ext) {
    case '.hea':
      return readWfdbRecord(path);
    case '.dat':
      return readWfdbRecord(join(dirname(path), `${basename(path, extname(path))}.hea`));
    case '.edf':
      return parseEdf(await readFile(path), path);
    case '.csv': {
      if (options.rate === undefined) {
        throw new InputError(
          'bad_recording',
          `${path}: a CSV recording needs its sampling rate (the rate option)`,
        );
      }
      return parseRecordingCsv(await readFile(path), { rate: options.rate, units: options.units }, path);
    }
    default:
      throw new InputError(
        'bad_recording',
        `${path}: unsupported recording file '${ext || basename(path)}'. Expected one of: ${RECORDING_EXTENSIONS.join(', ')}`,
      );
  }
}
