/**
 * @module
 * `npm run publish` — uploads a shipped model folder to the edge API and points aliases at it.
 *
 *   npm run publish -- models/<name>/<version> --to URL [--token T] [--alias stable]...
 *                      [--aliases-from models/aliases.json]
 *
 * The token comes from --token or, better (it stays out of the process list), ECG_TMP_TOKEN; it is
 * never printed. Steps:
 *   1. the folder is checked as `verify-model` does first: the manifest validates, every file has its
 *      size and sha256;
 *   2. the server's manifest for that version is looked up: when the version is new the files go up in
 *      one multipart request, or — past MULTIPART_LIMIT — each blob is PUT (skipping those the server
 *      has) and then the manifest alone; when it exists only the manifest is posted, which checks the
 *      token without re-sending bytes;
 *   3. a 409 is "already published" when the server's files have the same paths and sha256s, and a
 *      conflict otherwise (versions are immutable);
 *   4. the aliases are set.
 * Network errors and 5xx are retried with exponential backoff. Exit codes: 0 published or already
 * there, 2 bad input, a refused token or a conflicting version, 1 the server failed or could not be
 * reached.
 */

import { parseArgs } from 'node:util';
import { InputError } from '@ecg-tmp/core';
import { isMainModule } from '@ecg-tmp/core/node';
import { PublishError, publishModel } from '../../../edge-api/client/publish.ts';

const USAGE =
  'usage: npm run publish -- models/<name>/<version> --to URL [--token T | ECG_TMP_TOKEN=T] [--alias NAME]... [--aliases-from models/aliases.json]';

export async function main(
  argv: readonly string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const log = (line: string) => process.stderr.write(`publish: ${line}\n`);
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        to: { type: 'string' },
        token: { type: 'string' },
        alias: { type: 'string', multiple: true },
        'aliases-from': { type: 'string' },
      },
    });
    if (positionals.length !== 1)
      throw new InputError('bad_value', 'give one model folder (models/<name>/<version>)');
    if (values.to === undefined) throw new InputError('bad_value', 'give the edge API with --to URL');
    const token = values.token ?? env.ECG_TMP_TOKEN;
    if (token === undefined || token === '')
      throw new InputError('bad_value', 'give a publish token with --token or ECG_TMP_TOKEN');
    const report = await publishModel(positionals[0]!, {
      url: values.to,
      token,
      aliases: values.alias ?? [],
      ...(values['aliases-from'] === undefined ? {} : { aliasesFrom: values['aliases-from'] }),
      log,
    });
    const state =
      report.outcome === 'published'
        ? `published (${report.files} files, ${report.bytesSent} bytes, ${report.transport})`
        : 'already published with identical files';
    const aliases = report.aliases.length > 0 ? `; ${report.aliases.join(', ')} → ${report.version}` : '';
    process.stdout.write(`${report.name} ${report.version}: ${state} at ${values.to}${aliases}\n`);
    return 0;
  } catch (e) {
    const parseError = (e as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS') ?? false;
    if (e instanceof PublishError) {
      log(e.message);
      return e.exitCode;
    }
    if (e instanceof InputError || parseError) {
      log((e as Error).message);
      if (parseError || (e as InputError).code === 'bad_value') process.stderr.write(`${USAGE}\n`);
      return 2;
    }
    throw e;
  }
}

if (isMainModule(import.meta.url)) {
  process.exitCode = await main();
}
