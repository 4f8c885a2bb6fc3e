/**
 * @module
 * `npm run gc` — lists or collects orphan blobs (in R2, named by no version: left by failed publishes or
 * freed by deleted versions) through the edge's /v1/admin/orphans endpoints.
 *
 *   ECG_TMP_TOKEN=ecgtmp_… npm run gc -- [--url http://127.0.0.1:8787] [--min-age 3600] [--dry-run]
 *
 * --dry-run lists the orphans and which are old enough to collect; without it those are deleted. The
 * minimum age (seconds, default the edge's: an hour) keeps a publish in flight from losing its blobs.
 * The token (publish scope) comes from ECG_TMP_TOKEN or --token and is never printed.
 * Exit codes: 0 done, 2 bad arguments or a refused token, 1 the edge failed or could not be reached.
 */

import { parseArgs } from 'node:util';
import { isMainModule } from '@ecg-tmp/core/node';

const USAGE =
  'usage: ECG_TMP_TOKEN=… npm run gc -- [--url http://127.0.0.1:8787] [--min-age SECONDS] [--dry-run] [--token T]';

interface Orphan {
  sha256: string;
  bytes: number;
  ageSeconds: number;
  collectable: boolean;
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const log = (line: string) => process.stderr.write(`gc: ${line}\n`);
  let values: { url?: string; 'min-age'?: string; 'dry-run'?: boolean; token?: string };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        url: { type: 'string' },
        'min-age': { type: 'string' },
        'dry-run': { type: 'boolean' },
        token: { type: 'string' },
      },
    }));
  } catch (err) {
    log((err as Error).message);
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const token = values.token ?? process.env.ECG_TMP_TOKEN;
  if (token === undefined || token === '') {
    log('give a publish token in ECG_TMP_TOKEN (or --token)');
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const minAge = values['min-age'];
  if (minAge !== undefined && !/^\d+$/.test(minAge)) {
    log(`--min-age must be whole seconds, got '${minAge}'`);
    return 2;
  }
  const base = (values.url ?? 'http://127.0.0.1:8787').replace(/\/+$/, '');
  const query = minAge === undefined ? '' : `?min_age=${minAge}`;
  const dryRun = values['dry-run'] === true;
  const path = dryRun ? `/v1/admin/orphans${query}` : `/v1/admin/orphans/collect${query}`;
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method: dryRun ? 'GET' : 'POST',
      headers: { Authorization: `Bearer ${token}` },
    });
  } catch (err) {
    log(`${base} cannot be reached: ${(err as Error).message}`);
    return 1;
  }
  const body = (await res.json().catch(() => null)) as Record<string, unknown> | null;
  if (!res.ok) {
    const error = (body?.error ?? {}) as { code?: string; message?: string };
    log(`${res.status} ${error.code ?? ''}: ${error.message ?? 'no JSON error'}`);
    return res.status >= 500 ? 1 : 2;
  }
  const mb = (bytes: number) => `${(bytes / 1e6).toFixed(2)} MB`;
  if (dryRun) {
    const orphans = (body?.orphans ?? []) as Orphan[];
    for (const o of orphans) {
      process.stdout.write(
        `${o.sha256}  ${o.bytes}  ${o.ageSeconds}s  ${o.collectable ? 'collectable' : 'too young'}\n`,
      );
    }
    const ready = orphans.filter((o) => o.collectable);
    log(
      `${orphans.length} orphans (${mb(Number(body?.bytes ?? 0))}); ${ready.length} older than ${String(body?.minAgeSeconds)} s would be collected`,
    );
  } else {
    const collected = (body?.collected ?? []) as Orphan[];
    for (const o of collected) process.stdout.write(`${o.sha256}  ${o.bytes}  collected\n`);
    log(
      `collected ${collected.length} orphans (${mb(Number(body?.bytesFreed ?? 0))}) older than ${String(body?.minAgeSeconds)} s; ${String(body?.kept)} kept`,
    );
  }
  return 0;
}

if (isMainModule(import.meta.url)) {
  process.exitCode = await main();
}
