/**
 * @module
 * Bearer tokens: stored as sha256(token), looked up by that hash, then compared in constant time (the
 * lookup narrows to one row; the comparison keeps a timing probe from learning a prefix of the hash).
 */

/** `publish`: writes to the registry (and infer); `infer`: an app's identity on the infer endpoint. */
export const SCOPES = ['publish', 'infer'] as const;
export type Scope = (typeof SCOPES)[number];

export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

export interface TokenRow {
  readonly id: string;
  readonly scopes: readonly string[];
  readonly revoked: boolean;
}

/** The token's row, or null when no such token exists. */
export async function findToken(db: D1Database, token: string): Promise<TokenRow | null> {
  const hash = await sha256Hex(token);
  const row = await db
    .prepare('SELECT id, hash, scopes, revoked_at FROM tokens WHERE hash = ?')
    .bind(hash)
    .first<{ id: string; hash: string; scopes: string; revoked_at: string | null }>();
  if (row === null || !constantTimeEqual(row.hash, hash)) return null;
  return { id: row.id, scopes: row.scopes.split(' ').filter(Boolean), revoked: row.revoked_at !== null };
}

/** Stores a new token's hash; returns its id. The caller shows the token once and never stores it. */
export async function insertToken(
  db: D1Database,
  token: string,
  scopes: readonly Scope[],
  label: string,
  now: string,
): Promise<string> {
  const id = crypto.randomUUID();
  await db
    .prepare('INSERT INTO tokens (id, hash, scopes, label, created_at) VALUES (?, ?, ?, ?, ?)')
    .bind(id, await sha256Hex(token), scopes.join(' '), label, now)
    .run();
  return id;
}
