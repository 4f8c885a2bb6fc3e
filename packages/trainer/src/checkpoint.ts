/**
 * @module
 * One-file checkpoints: `ECGTMPCK` magic, a u32 header length, a JSON header (the run state and a table
 * of named float32 arrays), zero padding to a 4-byte boundary, then the arrays back to back. Written
 * atomically (temp file + rename), so a kill during a save leaves the previous checkpoint intact.
 */

import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { InputError } from '@ecg-tmp/core';
import { writeFileAtomic } from '@ecg-tmp/core/node';

const MAGIC = 'ECGTMPCK';

interface Entry {
  readonly name: string;
  readonly offset: number;
  readonly length: number;
}

export async function writeCheckpoint(
  path: string,
  state: object,
  arrays: ReadonlyMap<string, Float32Array>,
): Promise<void> {
  const entries: Entry[] = [];
  let offset = 0;
  for (const [name, a] of arrays) {
    entries.push({ name, offset, length: a.length });
    offset += a.length;
  }
  const header = new TextEncoder().encode(JSON.stringify({ state, arrays: entries }));
  const dataStart = Math.ceil((12 + header.length) / 4) * 4;
  const bytes = new Uint8Array(dataStart + offset * 4);
  bytes.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(bytes.buffer).setUint32(8, header.length, true);
  bytes.set(header, 12);
  const data = new Float32Array(bytes.buffer, dataStart, offset);
  for (const [i, a] of [...arrays.values()].entries()) data.set(a, entries[i]!.offset);
  await writeFileAtomic(path, bytes);
}

/**
 * Reads only a checkpoint's run state (its JSON header), without the arrays: what a command line needs
 * to know about a run before it starts, e.g. which model a `--resume` continues.
 */
export function readCheckpointState<S>(path: string): S {
  const broken = brokenCheckpoint(path);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new InputError('bad_value', `cannot read checkpoint ${path}: ${(err as Error).message}`);
  }
  try {
    const head = new Uint8Array(12);
    const length = headerLength(head.subarray(0, readSync(fd, head, 0, 12, 0)), broken);
    const header = new Uint8Array(length);
    if (readSync(fd, header, 0, length, 12) < length) throw broken('truncated header');
    return parseHeader<{ state: S }>(header, broken).state;
  } finally {
    closeSync(fd);
  }
}

type Broken = (why: string) => InputError;

const brokenCheckpoint =
  (path: string): Broken =>
  (why) =>
    new InputError('bad_value', `${path} is not a usable checkpoint: ${why}`);

/** The JSON header's length, from a checkpoint's first 12 bytes (the magic checked). */
function headerLength(head: Uint8Array, broken: Broken): number {
  if (head.length < 12 || new TextDecoder().decode(head.subarray(0, 8)) !== MAGIC) throw broken('bad magic');
  return new DataView(head.buffer, head.byteOffset).getUint32(8, true);
}

function parseHeader<T>(header: Uint8Array, broken: Broken): T {
  try {
    return JSON.parse(new TextDecoder().decode(header)) as T;
  } catch {
    throw broken('unreadable header');
  }
}

/**
 * Reads a checkpoint: its run state, its named arrays, and the sha256 of the file's bytes as read (what a
 * manifest or a run that starts from it records).
 */
export async function readCheckpoint<S>(
  path: string,
): Promise<{ state: S; arrays: Map<string, Float32Array>; sha256: string }> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new InputError('bad_value', `cannot read checkpoint ${path}: ${(err as Error).message}`);
  }
  const broken = brokenCheckpoint(path);
  const length = headerLength(bytes.subarray(0, 12), broken);
  if (12 + length > bytes.length) throw broken('truncated header');
  const header = parseHeader<{ state: S; arrays: Entry[] }>(bytes.subarray(12, 12 + length), broken);
  const dataStart = Math.ceil((12 + length) / 4) * 4;
  const total = header.arrays.reduce((n, e) => n + e.length, 0);
  if (bytes.length !== dataStart + total * 4)
    throw broken(`expected ${dataStart + total * 4} bytes, found ${bytes.length}`);
  const copy = new Float32Array(total);
  new Uint8Array(copy.buffer).set(bytes.subarray(dataStart));
  const arrays = new Map(header.arrays.map((e) => [e.name, copy.subarray(e.offset, e.offset + e.length)]));
  return { state: header.state, arrays, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** The model's weights among a checkpoint's arrays (stored as `param.<name>`), by their own names. */
export function paramsOnly(arrays: ReadonlyMap<string, Float32Array>): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, a] of arrays) if (name.startsWith('param.')) out.set(name.slice('param.'.length), a);
  return out;
}
