/**
 * @module
 * `npm run token` — tokens for the edge API, kept in D1 as sha256(token) only: `publish` for the
 * trainer's tools (writes, and infer), `infer` for an app that calls the CPU fallback under its own
 * identity and rate limit (INFER_TOKEN_RATE_LIMIT).
 *
 *   npm run token -- create --scope publish|infer [--label L] [--local | --remote] [--persist-to DIR]
 *   npm run token -- revoke <id> [--local | --remote] [--persist-to DIR]
 *   npm run token -- list [--local | --remote] [--persist-to DIR]
 *
 * `create` prints the token on stdout, once and alone (so `T=$(npm run -s token -- create …)` works),
 * and its id on stderr; nothing ever prints it again. Local (the default) is the state `npm start` and
 * `wrangler dev` use; --remote is the account's D1. The SQL goes through `wrangler d1 execute`, which has
 * no bound parameters, so every value in it is generated here or checked against a strict pattern.
 * Exit codes: 0 done, 2 bad arguments or an unknown id, 1 wrangler failed.
 */

import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { isMainModule } from '@ecg-tmp/core/node';
import { type D1Target, d1Execute, sqlString, WranglerError } from './wrangler.ts';

/** The scopes the edge knows (src/db/tokens.ts SCOPES). */
export const SCOPES = ['publish', 'infer'] as const;
export type Scope = (typeof SCOPES)[number];

/** Tokens start with this, so a leaked one is recognisable (and greppable) as ours. */
export const TOKEN_PREFIX = 'ecgtmp_';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HEX64 = /^[0-9a-f]{64}$/;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
/** Labels are free text for people, limited to characters that cannot end a SQL string or a line. */
const LABEL = /^[A-Za-z0-9 ._:@/+-]{0,64}$/;

/** Bad arguments: an unknown scope, an odd label or id. */
export class TokenInputError extends Error {
  override readonly name = 'TokenInputError';
  constructor(
    message: string,
    /** Whether the usage lines help (they do not for an unknown id). */
    readonly showUsage = true,
  ) {
    super(message);
  }
}

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

function checkLabel(label: string): string {
  if (!LABEL.test(label)) {
    throw new TokenInputError(
      `--label may have at most 64 letters, digits, spaces and . _ : @ / + -; got '${label.slice(0, 80)}'`,
    );
  }
  return label;
}

export interface TokenInfo {
  readonly id: string;
  readonly scopes: readonly string[];
  readonly label: string;
  readonly createdAt: string;
  readonly revokedAt: string | null;
}

/**
 * Generates a token, stores its sha256 and returns both; the caller shows `token` once and forgets it.
 * @example
 * const { id, token } = await createToken({ scope: 'publish', label: 'ci' }, { kind: 'local' });
 */
export async function createToken(
  options: { scope: Scope; label?: string },
  target: D1Target,
): Promise<{ id: string; token: string }> {
  if (!isScope(options.scope))
    throw new TokenInputError(`unknown scope '${options.scope}'. Expected one of: ${SCOPES.join(', ')}`);
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  const id = randomUUID();
  const hash = createHash('sha256').update(token).digest('hex');
  const values = [
    sqlString(id, UUID, 'id'),
    sqlString(hash, HEX64, 'hash'),
    sqlString(options.scope, /^[a-z]+$/, 'scope'),
    sqlString(checkLabel(options.label ?? ''), LABEL, 'label'),
    sqlString(new Date().toISOString(), ISO, 'time'),
  ];
  await d1Execute(
    `INSERT INTO tokens (id, hash, scopes, label, created_at) VALUES (${values.join(', ')})`,
    target,
  );
  return { id, token };
}

/** Revokes a token by id: `revoked` now, `already` revoked before; an unknown id throws. */
export async function revokeToken(id: string, target: D1Target): Promise<'revoked' | 'already'> {
  if (!UUID.test(id))
    throw new TokenInputError(`'${id.slice(0, 80)}' is not a token id (a UUID, as list shows)`);
  const quoted = sqlString(id, UUID, 'id');
  const [updated, found] = await d1Execute(
    `UPDATE tokens SET revoked_at = ${sqlString(new Date().toISOString(), ISO, 'time')} WHERE id = ${quoted} AND revoked_at IS NULL RETURNING id; SELECT id FROM tokens WHERE id = ${quoted}`,
    target,
  );
  if ((updated ?? []).length > 0) return 'revoked';
  if ((found ?? []).length > 0) return 'already';
  throw new TokenInputError(`no token with id ${id} in this database`, false);
}

/** Every token's id, scopes, label and dates — never the hash. */
export async function listTokens(target: D1Target): Promise<TokenInfo[]> {
  const [rows] = await d1Execute(
    'SELECT id, scopes, label, created_at, revoked_at FROM tokens ORDER BY created_at, id',
    target,
  );
  return (rows ?? []).map((r) => ({
    id: String(r.id),
    scopes: String(r.scopes).split(' ').filter(Boolean),
    label: String(r.label),
    createdAt: String(r.created_at),
    revokedAt: r.revoked_at === null ? null : String(r.revoked_at),
  }));
}

const USAGE = `usage: npm run token -- create --scope ${SCOPES.join('|')} [--label L] [--local|--remote] [--persist-to DIR]
       npm run token -- revoke <id> [--local|--remote] [--persist-to DIR]
       npm run token -- list [--local|--remote] [--persist-to DIR]`;

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const log = (line: string) => process.stderr.write(`token: ${line}\n`);
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        scope: { type: 'string' },
        label: { type: 'string' },
        local: { type: 'boolean' },
        remote: { type: 'boolean' },
        'persist-to': { type: 'string' },
      },
    });
    if (values.local && values.remote) throw new TokenInputError('give --local or --remote, not both');
    if (values.remote && values['persist-to'] !== undefined)
      throw new TokenInputError('--persist-to is for local state only');
    const target: D1Target = values.remote
      ? { kind: 'remote' }
      : { kind: 'local', ...(values['persist-to'] === undefined ? {} : { persistTo: values['persist-to'] }) };
    const where = target.kind === 'remote' ? 'remote D1' : 'local D1';
    const [command, ...rest] = positionals;
    const expectArgs = (n: number) => {
      if (rest.length !== n) throw new TokenInputError(`'${command}' takes ${n === 0 ? 'no' : n} arguments`);
    };
    if (command === 'create') {
      expectArgs(0);
      if (values.scope === undefined) throw new TokenInputError(`give --scope (${SCOPES.join(', ')})`);
      if (!isScope(values.scope))
        throw new TokenInputError(`unknown scope '${values.scope}'. Expected one of: ${SCOPES.join(', ')}`);
      const { id, token } = await createToken(
        { scope: values.scope, ...(values.label === undefined ? {} : { label: values.label }) },
        target,
      );
      log(`created ${values.scope} token ${id} in ${where}; this is the only time it is shown:`);
      process.stdout.write(`${token}\n`);
    } else if (command === 'revoke') {
      expectArgs(1);
      const state = await revokeToken(rest[0]!, target);
      log(state === 'revoked' ? `revoked ${rest[0]} in ${where}` : `${rest[0]} was already revoked`);
    } else if (command === 'list') {
      expectArgs(0);
      const tokens = await listTokens(target);
      if (tokens.length === 0) log(`no tokens in ${where}`);
      for (const t of tokens) {
        const state = t.revokedAt === null ? 'live' : `revoked ${t.revokedAt}`;
        process.stdout.write(`${t.id}  ${t.scopes.join(',')}  ${t.createdAt}  ${state}  ${t.label}\n`);
      }
    } else {
      throw new TokenInputError(command === undefined ? 'give a command' : `unknown command '${command}'`);
    }
    return 0;
  } catch (e) {
    const parseError = (e as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS') ?? false;
    if (e instanceof TokenInputError || parseError) {
      log((e as Error).message);
      if (parseError || (e as TokenInputError).showUsage) process.stderr.write(`${USAGE}\n`);
      return 2;
    }
    if (e instanceof WranglerError) {
      log(e.message);
      return 1;
    }
    throw e;
  }
}

if (isMainModule(import.meta.url)) {
  process.exitCode = await main();
}
