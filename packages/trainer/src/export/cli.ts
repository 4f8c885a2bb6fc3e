/**
 * @module
 * `npm run export` and `npm run verify-model`.
 *
 *   npm run export -- runs/<id> --version 1.0.0 [--name cnn-lstm] [--out models] [--alias stable]
 *                     [--data <cache>] [--metrics-limit N] [--backend wasm|cpu]
 *   npm run export -- --patch models/<name>/<version> --version X.Y.Z [--alias stable] [--data <cache>]
 *                     (same files, the training set's in-distribution statistics added)
 *   npm run verify-model -- models/<name>/<version> [--checkpoint runs/<id>] [--data <cache>] [--samples N]
 *   npm run models:readme   (regenerates the results table in models/README.md)
 *
 * Both exit 0 on success, 2 on bad arguments or a model that fails its checks (the message says which).
 */

import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Aliases, InputError, NAME_PATTERN, parseAliases } from '@ecg-tmp/core';
import { isMainModule, writeFileAtomic } from '@ecg-tmp/core/node';
import { BACKENDS, BackendError, isBackendName, startBackend } from '../backend.ts';
import { ROOT } from '../synthetic.ts';
import { exportModel } from './export.ts';
import { patchDistribution } from './in-distribution.ts';
import { writeReadme } from './models-readme.ts';
import { verifyModel } from './verify.ts';

const USAGE = `usage: npm run export -- runs/<id> --version X.Y.Z [--name NAME] [--out models] [--alias stable]... [--data <cache>] [--metrics-limit N] [--backend ${BACKENDS.join('|')}]
       npm run export -- --patch models/<name>/<version> --version X.Y.Z [--alias stable]... [--data <cache>]
       npm run verify-model -- models/<name>/<version> [--checkpoint runs/<id>] [--data <cache>] [--samples N] [--backend ${BACKENDS.join('|')}]`;

const bad = (message: string) => new InputError('bad_value', message);

function positiveInt(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw bad(`${flag} must be an integer ≥ 1, got '${value}'`);
  return n;
}

function backendFlag(value: string | undefined): 'wasm' | 'cpu' | 'webgpu' {
  const name = value ?? 'wasm';
  if (!isBackendName(name)) throw bad(`--backend must be one of ${BACKENDS.join(', ')}, got '${name}'`);
  return name;
}

/** Points each alias of `name` at `version` in <out>/aliases.json (written atomically). */
export async function setAliases(
  out: string,
  name: string,
  version: string,
  aliases: readonly string[],
): Promise<Aliases> {
  const path = join(out, 'aliases.json');
  const current = await readFile(path, 'utf8').then(
    (text) => parseAliases(JSON.parse(text), path),
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return {} as Aliases;
      throw err;
    },
  );
  const next: Aliases = { ...current, [name]: { ...current[name] } };
  for (const alias of aliases) next[name]![alias] = version;
  const sorted = Object.fromEntries(Object.entries(next).sort(([a], [b]) => a.localeCompare(b)));
  await writeFileAtomic(
    path,
    new TextEncoder().encode(`${JSON.stringify(parseAliases(sorted, path), null, 2)}\n`),
  );
  return sorted;
}

async function runExport(argv: readonly string[], log: (line: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      version: { type: 'string' },
      name: { type: 'string' },
      out: { type: 'string' },
      alias: { type: 'string', multiple: true },
      'metrics-limit': { type: 'string' },
      data: { type: 'string' },
      backend: { type: 'string' },
      patch: { type: 'string' },
    },
  });
  if (values.version === undefined) throw bad('--version is required (e.g. --version 1.0.0)');
  for (const alias of values.alias ?? []) {
    if (!NAME_PATTERN.test(alias)) throw bad(`--alias '${alias}' must match ${NAME_PATTERN}`);
  }
  if (values.patch !== undefined) {
    if (positionals.length > 0) throw bad('--patch takes a model folder instead of a run folder, not both');
    const { dir, manifest } = await patchDistribution(values.patch, {
      version: values.version,
      log,
      ...(values.data === undefined ? {} : { data: values.data }),
    });
    if ((values.alias ?? []).length > 0) {
      await setAliases(dirname(dirname(dir)), manifest.name, manifest.version, values.alias!);
      log(`aliases ${values.alias!.join(', ')} → ${manifest.name} ${manifest.version}`);
    }
    process.stdout.write(`${dir}\n`);
    return;
  }
  if (positionals.length !== 1)
    throw bad(`give exactly one run folder or checkpoint (got ${positionals.length})`);
  const metricsLimit = positiveInt('--metrics-limit', values['metrics-limit']);
  const backend = backendFlag(values.backend);
  await startBackend(backend);
  const out = values.out ?? join(ROOT, 'models');
  const { dir, manifest } = await exportModel(positionals[0]!, {
    version: values.version,
    out,
    log,
    ...(values.name === undefined ? {} : { name: values.name }),
    ...(values.data === undefined ? {} : { data: values.data }),
    ...(metricsLimit === undefined ? {} : { metricsLimit }),
  });
  if ((values.alias ?? []).length > 0) {
    await setAliases(out, manifest.name, manifest.version, values.alias!);
    log(`aliases ${values.alias!.join(', ')} → ${manifest.name} ${manifest.version}`);
  }
  const m = manifest.metrics;
  process.stdout.write(
    `${dir}\n  Exp I  R² ${m.full!.r2.toFixed(4)}  MAE ${m.full!.mae.toFixed(4)}\n  Exp II R² ${m.limited!.r2.toFixed(4)}  MAE ${m.limited!.mae.toFixed(4)}\n`,
  );
}

async function runVerify(argv: readonly string[], log: (line: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      checkpoint: { type: 'string' },
      data: { type: 'string' },
      samples: { type: 'string' },
      backend: { type: 'string' },
    },
  });
  if (positionals.length === 0) throw bad('give one or more model folders (models/<name>/<version>)');
  const samples = positiveInt('--samples', values.samples);
  await startBackend(backendFlag(values.backend));
  for (const dir of positionals) {
    await verifyModel(dir, {
      log: (line) => log(`${dir}: ${line}`),
      ...(values.checkpoint === undefined ? {} : { checkpoint: values.checkpoint }),
      ...(values.data === undefined ? {} : { data: values.data }),
      ...(samples === undefined ? {} : { samples }),
    });
    process.stdout.write(`${dir}: ok\n`);
  }
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const [command, ...rest] = argv;
  const label = command === 'verify' ? 'verify-model' : 'export';
  const log = (line: string) => process.stderr.write(`${label}: ${line}\n`);
  try {
    if (command === 'export') await runExport(rest, log);
    else if (command === 'verify') await runVerify(rest, log);
    else if (command === 'readme') await writeReadme(rest[0] ?? join(ROOT, 'models'));
    else throw bad(`unknown command '${command}'`);
    return 0;
  } catch (e) {
    const parseError = (e as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS') ?? false;
    if (e instanceof InputError || e instanceof BackendError || parseError) {
      process.stderr.write(
        `${label}: ${(e as Error).message}\n${parseError || (e as InputError).code === 'bad_value' ? `${USAGE}\n` : ''}`,
      );
      return 2;
    }
    throw e;
  }
}

if (isMainModule(import.meta.url)) {
  process.exitCode = await main();
}
