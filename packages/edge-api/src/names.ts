/**
 * @module
 * The one validator for names in paths: model names, versions, aliases and digests, with core's
 * patterns (the manifest schema uses the same). Anything else (path traversal, odd characters,
 * look-alike letters, over-long names) is a 400 before it reaches D1 or R2 — `bad_name` for a model
 * name, alias or version wherever it appears, `bad_digest` for a blob's digest.
 */

import { NAME_PATTERN, VERSION_PATTERN } from '@ecg-tmp/core';
import { ApiError } from './errors.ts';

const SEMVER = VERSION_PATTERN;
const SHA256 = /^[0-9a-f]{64}$/;

export function modelName(value: string): string {
  if (!NAME_PATTERN.test(value)) {
    throw new ApiError(
      400,
      'bad_name',
      `model name '${clip(value)}' must be lower-case letters, digits, '.', '_' or '-' (at most 64)`,
    );
  }
  return value;
}

/** Aliases start with a letter, so a path segment is unambiguously a version or an alias. */
export function aliasName(value: string): string {
  if (!NAME_PATTERN.test(value) || !/^[a-z]/.test(value)) {
    throw new ApiError(
      400,
      'bad_name',
      `alias '${clip(value)}' must be a name starting with a letter, like 'stable'`,
    );
  }
  return value;
}

export function version(value: string): string {
  if (!SEMVER.test(value))
    throw new ApiError(
      400,
      'bad_name',
      `version '${clip(value)}' is not a semantic version like 1.2.3 (at most 64 characters)`,
    );
  return value;
}

/** A version or an alias (both may appear where a version is expected). */
export function versionOrAlias(value: string): { kind: 'version' | 'alias'; value: string } {
  if (SEMVER.test(value)) return { kind: 'version', value };
  return { kind: 'alias', value: aliasName(value) };
}

export function digest(value: string): string {
  if (!SHA256.test(value))
    throw new ApiError(
      400,
      'bad_digest',
      `'${clip(value)}' is not a sha256 digest (64 lower-case hex digits)`,
    );
  return value;
}

/** Semver order (pre-releases before their release), for `latest`. */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const [core, pre] = v.split('-', 2) as [string, string | undefined];
    return { nums: core.split('.').map(Number), pre };
  };
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < 3; i++) if (x.nums[i] !== y.nums[i]) return x.nums[i]! - y.nums[i]!;
  if (x.pre === y.pre) return 0;
  if (x.pre === undefined) return 1;
  if (y.pre === undefined) return -1;
  return x.pre < y.pre ? -1 : 1;
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
