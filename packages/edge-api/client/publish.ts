/**
 * @module
 * The registry's publish client (Node): uploads a model folder (models/<name>/<version>) to the
 * registry Worker and points aliases at it. `npm run publish` (packages/trainer/src/export/publish.ts),
 * `npm start` (scripts/start.ts) and the benchmarks import it from here, so none of them — the edge
 * least — depends on the trainer.
 *
 * Steps of `publishModel`:
 *   1. the folder is checked first: the manifest validates, every file has its size and sha256;
 *   2. the server's manifest for that version is looked up: when the version is new the files go up in
 *      one multipart request, or — past MULTIPART_LIMIT — each blob is PUT (skipping those the server
 *      has) and then the manifest alone; when it exists only the manifest is posted, which checks the
 *      token without re-sending bytes;
 *   3. a 409 is "already published" when the server's files have the same paths and sha256s, and a
 *      conflict otherwise (versions are immutable);
 *   4. the aliases are set.
 * Network errors and 5xx are retried with exponential backoff.
 */

import { InputError, type Manifest, NAME_PATTERN, parseAliases, parseManifest } from '@ecg-tmp/core';
import { readJsonFile, readManifestFile, readModelFolderFiles } from '@ecg-tmp/core/node';

/**
 * Past this many bytes of files a publish goes blob by blob: the edge refuses multipart bodies over
 * 96 MiB (Workers accept 100 MB), and the multipart framing and the manifest need some room.
 */
export const MULTIPART_LIMIT = 90 * 1024 * 1024;

export const PUBLISH_ERROR_KINDS = ['bad_input', 'unauthorized', 'conflict', 'server', 'network'] as const;
export type PublishErrorKind = (typeof PUBLISH_ERROR_KINDS)[number];

/** A publish that failed; `kind` says whose fault it is, `status` the HTTP status where there was one. */
export class PublishError extends Error {
  override readonly name = 'PublishError';
  constructor(
    readonly kind: PublishErrorKind,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** 2 for what the caller must fix (input, token, version), 1 for a failing or unreachable server. */
  get exitCode(): 1 | 2 {
    return this.kind === 'server' || this.kind === 'network' ? 1 : 2;
  }
}

export interface PublishOptions {
  /** The edge API's base URL, e.g. http://127.0.0.1:8787. */
  readonly url: string;
  /** A token with the publish scope. */
  readonly token: string;
  /** Aliases to point at the published version. */
  readonly aliases?: readonly string[];
  /** An aliases.json (model → alias → version): its aliases of this model that name this version are set. */
  readonly aliasesFrom?: string;
  /** Files adding up to more than this go blob by blob. Default MULTIPART_LIMIT. */
  readonly multipartLimit?: number;
  /** Retries after a network error or a 5xx. Default 4 (waits 0.5, 1, 2, 4 s). */
  readonly retries?: number;
  /** The first backoff; each retry doubles it. Default 500 ms. */
  readonly backoffMs?: number;
  /** Per-request time limit; a request that runs over counts as a network error. Default 5 min. */
  readonly timeoutMs?: number;
  /** Aborts the publish between or during requests. */
  readonly signal?: AbortSignal;
  readonly fetch?: typeof fetch;
  readonly log?: (line: string) => void;
}

export interface PublishReport {
  readonly name: string;
  readonly version: string;
  /** `unchanged`: the server already had this version with identical files. */
  readonly outcome: 'published' | 'unchanged';
  /** How the bytes went up; `none` when the server already had the version. */
  readonly transport: 'multipart' | 'blobs' | 'none';
  readonly files: number;
  readonly bytes: number;
  /** Bytes of files actually sent. */
  readonly bytesSent: number;
  readonly aliases: readonly string[];
}

/** The aliases `file` gives model `name` that point at `version`; the others are left for their versions. */
export function aliasesFor(
  file: Record<string, Record<string, string>>,
  name: string,
  version: string,
): { set: string[]; skipped: string[] } {
  const set: string[] = [];
  const skipped: string[] = [];
  for (const [alias, target] of Object.entries(file[name] ?? {}))
    (target === version ? set : skipped).push(alias);
  return { set, skipped };
}

/** The edge's rule (a name starting with a letter, so never mistaken for a version), checked up front. */
function checkAlias(alias: string): string {
  if (!NAME_PATTERN.test(alias) || !/^[a-z]/.test(alias)) {
    throw new InputError(
      'bad_value',
      `alias '${alias}' must be a name starting with a letter, like 'stable' (lower-case letters, digits, '.', '_', '-')`,
    );
  }
  return alias;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });

/** `409 version_exists: …` from the edge's `{ error: { code, message } }`, or the status alone. */
async function describeError(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const { error } = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (error?.message !== undefined) return `${res.status} ${error.code ?? ''}: ${error.message}`;
  } catch {
    // Not the edge's JSON (a proxy's page, say): the status is all there is to say.
  }
  return `${res.status} ${res.statusText}`.trim();
}

/** The error for a response that is neither success nor an expected 404/409. */
async function failure(res: Response, what: string): Promise<PublishError> {
  const detail = await describeError(res);
  if (res.status === 401 || res.status === 403)
    return new PublishError('unauthorized', `${what}: the token was refused (${detail})`, res.status);
  if (res.status === 409) return new PublishError('conflict', `${what}: ${detail}`, res.status);
  if (res.status >= 500)
    return new PublishError('server', `${what}: the server failed (${detail})`, res.status);
  return new PublishError('bad_input', `${what}: ${detail}`, res.status);
}

/** Paths whose sha256 differ between two manifests' files, as readable lines; empty when identical. */
function fileDifferences(local: Manifest, remote: Manifest): string[] {
  const theirs = new Map(remote.files.map((f) => [f.path, f.sha256]));
  const ours = new Map(local.files.map((f) => [f.path, f.sha256]));
  const lines: string[] = [];
  for (const [path, sha] of ours) {
    const other = theirs.get(path);
    if (other === undefined) lines.push(`${path} is not on the server`);
    else if (other !== sha) lines.push(`${path}: server ${other.slice(0, 12)}…, here ${sha.slice(0, 12)}…`);
  }
  for (const path of theirs.keys()) if (!ours.has(path)) lines.push(`${path} is only on the server`);
  return lines;
}

/**
 * Publishes one model folder; resolves when the version is on the server with identical files and the
 * aliases point at it. Throws InputError for a bad folder, PublishError for everything the server says.
 * @example
 * const report = await publishModel('models/cnn-lstm/0.1.0', {
 *   url: 'http://127.0.0.1:8787',
 *   token: process.env.ECG_TMP_TOKEN!,
 *   aliases: ['stable'],
 * });
 */
export async function publishModel(dir: string, options: PublishOptions): Promise<PublishReport> {
  const log = options.log ?? (() => {});
  const doFetch = options.fetch ?? fetch;
  const retries = options.retries ?? 4;
  const backoffMs = options.backoffMs ?? 500;
  const timeoutMs = options.timeoutMs ?? 5 * 60_000;
  const base = options.url.replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]/.test(base))
    throw new InputError('bad_value', `--to must be an http(s) URL, got '${options.url}'`);
  if (!/^[\x21-\x7e]{16,256}$/.test(options.token)) {
    throw new InputError(
      'bad_value',
      'the token must be 16 to 256 printable characters without spaces (as `npm run token -- create` prints it)',
    );
  }

  // 1. The folder, checked before anything is sent.
  const manifest = await readManifestFile(dir);
  if (new Set(manifest.files.map((f) => `${f.dtype}/${f.role}`)).size !== manifest.files.length) {
    throw new InputError('bad_manifest', `${dir}: a model has one file per dtype and role`);
  }
  const bytesOf = await readModelFolderFiles(dir, manifest);
  const total = manifest.files.reduce((sum, f) => sum + f.bytes, 0);
  const aliases = new Set((options.aliases ?? []).map(checkAlias));
  if (options.aliasesFrom !== undefined) {
    const path = options.aliasesFrom;
    const json = await readJsonFile(path);
    const { set, skipped } = aliasesFor(parseAliases(json, path), manifest.name, manifest.version);
    for (const alias of set) aliases.add(alias);
    if (skipped.length > 0)
      log(`${path} points ${skipped.join(', ')} of ${manifest.name} at other versions; left alone`);
  }
  const what = `${manifest.name} ${manifest.version}`;
  const versionPath = `/v1/models/${manifest.name}/versions`;

  /** One request, retried on network errors and 5xx; a 5xx still there after the last try is returned. */
  const request = async (method: string, path: string, init: RequestInit = {}): Promise<Response> => {
    for (let attempt = 0; ; attempt++) {
      const signals = [AbortSignal.timeout(timeoutMs), ...(options.signal ? [options.signal] : [])];
      let res: Response | undefined;
      let error: unknown;
      try {
        res = await doFetch(`${base}${path}`, { ...init, method, signal: AbortSignal.any(signals) });
      } catch (err) {
        if (options.signal?.aborted) throw err;
        error = err;
      }
      const retryable = res === undefined || res.status >= 500;
      if (!retryable || attempt >= retries) {
        if (res !== undefined) return res;
        const cause = (error as Error & { cause?: Error }).cause?.message ?? (error as Error).message;
        throw new PublishError(
          'network',
          `${method} ${base}${path}: cannot reach the server (${cause})`,
          undefined,
          {
            cause: error,
          },
        );
      }
      await res?.body?.cancel();
      const wait = backoffMs * 2 ** attempt;
      log(`${method} ${path}: ${res === undefined ? 'network error' : res.status}; retrying in ${wait} ms`);
      await sleep(wait, options.signal);
    }
  };
  const authed = (headers: Record<string, string> = {}) => ({
    ...headers,
    Authorization: `Bearer ${options.token}`,
  });

  const serverManifest = async (): Promise<Manifest | null> => {
    const res = await request('GET', `${versionPath}/${manifest.version}`);
    if (res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    if (!res.ok) throw await failure(res, `GET ${what}`);
    return parseManifest(await res.json(), `the server's manifest of ${what}`);
  };
  const postManifest = () =>
    request('POST', versionPath, {
      headers: authed({ 'Content-Type': 'application/json' }),
      body: JSON.stringify(manifest),
    });

  // 2. Send what the server lacks.
  let existing = await serverManifest();
  let transport: PublishReport['transport'] = 'none';
  let bytesSent = 0;
  let res: Response;
  if (existing !== null) {
    res = await postManifest();
  } else if (total <= (options.multipartLimit ?? MULTIPART_LIMIT)) {
    transport = 'multipart';
    const form = new FormData();
    form.append('manifest', JSON.stringify(manifest));
    for (const file of manifest.files)
      form.append(file.path, new Blob([bytesOf.get(file.path)! as Uint8Array<ArrayBuffer>]), file.path);
    log(`${what}: sending ${manifest.files.length} files (${total} bytes) in one multipart request`);
    res = await request('POST', versionPath, { headers: authed(), body: form });
    bytesSent = total;
  } else {
    transport = 'blobs';
    for (const file of manifest.files) {
      const head = await request('HEAD', `/v1/blobs/${file.sha256}`);
      await head.body?.cancel();
      if (head.ok) continue;
      log(`${what}: uploading ${file.path} (${file.bytes} bytes)`);
      const put = await request('PUT', `/v1/blobs/${file.sha256}`, {
        headers: authed({ 'Content-Type': 'application/octet-stream' }),
        body: bytesOf.get(file.path)! as Uint8Array<ArrayBuffer>,
      });
      if (!put.ok) throw await failure(put, `PUT ${file.path} of ${what}`);
      await put.body?.cancel();
      bytesSent += file.bytes;
    }
    res = await postManifest();
  }

  // 3. Published, or already there with the same files.
  let outcome: PublishReport['outcome'];
  if (res.status === 201) {
    await res.body?.cancel();
    outcome = 'published';
    log(`${what}: published`);
  } else if (res.status === 409) {
    await res.body?.cancel();
    existing ??= await serverManifest();
    if (existing === null)
      throw new PublishError('server', `${what}: the server answered 409 but has no such version`, 409);
    const differences = fileDifferences(manifest, existing);
    if (differences.length > 0) {
      throw new PublishError(
        'conflict',
        `${what} is already published with other files (${differences.join('; ')}); versions are immutable — publish a new version`,
        409,
      );
    }
    outcome = 'unchanged';
    log(`${what}: already published with identical files`);
  } else {
    throw await failure(res, `publish ${what}`);
  }

  // 4. Aliases.
  for (const alias of aliases) {
    const put = await request('PUT', `/v1/models/${manifest.name}/aliases/${alias}`, {
      headers: authed({ 'Content-Type': 'application/json' }),
      body: JSON.stringify({ version: manifest.version }),
    });
    if (!put.ok) throw await failure(put, `alias ${alias} → ${what}`);
    await put.body?.cancel();
  }
  return {
    name: manifest.name,
    version: manifest.version,
    outcome,
    transport,
    files: manifest.files.length,
    bytes: total,
    bytesSent,
    aliases: [...aliases],
  };
}
