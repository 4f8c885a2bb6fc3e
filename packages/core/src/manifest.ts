/**
 * @module
 * The model manifest: what a shipped model is, what it expects and how well it did. The exporter
 * writes it, the edge API validates and serves it, the SDK reads it to pre/post-process and to verify
 * every file it downloads. One zod schema, the TypeScript type derived from it.
 */

import { z } from 'zod';
import { InputError } from './errors.ts';
import { N_LEADS, N_SITES } from './layout.ts';
import { ECG_NORMALISATIONS, VM_NORMALISATIONS } from './normalise.ts';

// zod compiles object parsers with `new Function` when it may, probing with an eval first; a page whose
// CSP has no 'unsafe-eval' (the demo's) reports that probe as a violation. Manifests are small, so the
// compiled parsers buy nothing: parse without them everywhere.
z.config({ jitless: true });

export const MANIFEST_SCHEMA_VERSION = 1;

export const ARCHITECTURES = ['squeezenet1d', 'cnn-lstm', 'transformer'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

/** The name each architecture's default model is published under (the SDK's `model` option). */
export const DEFAULT_MODEL_NAMES: Readonly<Record<Architecture, string>> = {
  squeezenet1d: 'cnn',
  'cnn-lstm': 'cnn-lstm',
  transformer: 'transformer',
};

/** Model names, aliases and file names: lower-case, no separators that could escape a path. */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const name = z.string().regex(NAME_PATTERN, 'lower-case letters, digits, ".", "_" or "-", at most 64');
/**
 * Versions: semver MAJOR.MINOR.PATCH with an optional pre-release of non-empty dot-separated
 * identifiers (so no `..`), at most 64 characters — they are path segments and D1 keys too.
 */
export const VERSION_PATTERN =
  /^(?=.{5,64}$)(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;
const semver = z.string().regex(VERSION_PATTERN, 'a semantic version like 1.2.3, at most 64 characters');
const finite = z.number().refine(Number.isFinite, 'a finite number');

const tensorSpec = z.strictObject({
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/),
  /** Numbers are fixed sizes; strings are symbolic (e.g. "batch"). */
  shape: z.array(z.union([z.number().int().positive(), z.string().min(1)])).min(1),
  dtype: z.enum(['float32', 'float16']),
});

const metricSet = z.strictObject({
  mae: finite,
  mse: finite,
  r2: finite,
  pearson: finite,
  spearman: finite,
  /** Samples the metrics were pooled over. */
  samples: z.number().int().positive(),
});

export const manifestSchema = z.strictObject({
  schemaVersion: z.literal(MANIFEST_SCHEMA_VERSION),
  name,
  version: semver,
  architecture: z.enum(ARCHITECTURES),
  parameters: z.number().int().positive(),
  inputs: z.array(tensorSpec).min(1),
  outputs: z.array(tensorSpec).min(1),
  normalisation: z.strictObject({
    ecg: z.enum(ECG_NORMALISATIONS),
    tmp: z.enum(VM_NORMALISATIONS),
  }),
  /** Leads and sites the model was trained on, in order. */
  leads: z.number().int().positive().default(N_LEADS),
  sites: z.number().int().positive().default(N_SITES),
  files: z
    .array(
      z.strictObject({
        path: name,
        role: z.enum(['model', 'encoder', 'decoder-step']),
        sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lower-case hex digits'),
        bytes: z.number().int().positive(),
        dtype: z.enum(['fp32', 'fp16']),
      }),
    )
    .min(1)
    .refine((files) => new Set(files.map((f) => f.path)).size === files.length, 'file paths must be unique'),
  metrics: z.strictObject({
    /** Exp I: full 500 ms input. */
    full: metricSet.optional(),
    /** Exp II: first 10 ms, zero-padded. */
    limited: metricSet.optional(),
    /** Change from the fp32 model's metrics, for fp16 variants. */
    fp16Delta: z.record(z.string(), finite).optional(),
  }),
  training: z.strictObject({
    dataset: z.string().min(1),
    seed: z.number().int(),
    epochs: z.number().int().nonnegative(),
    backend: z.enum(['webgpu', 'wasm', 'cpu']),
    commit: z.string().regex(/^[0-9a-f]{7,40}$|^unknown$/, 'a git commit hash or "unknown"'),
    loss: z.enum(['mse', 'huber']).optional(),
    finishedAt: z.iso.datetime().optional(),
    /** The trainer checkpoint the graphs were exported from, for `verify-model`. */
    checkpoint: z
      .strictObject({
        path: z.string().min(1),
        sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lower-case hex digits'),
      })
      .optional(),
  }),
});

export type Manifest = z.infer<typeof manifestSchema>;

/** models/aliases.json: model name → alias (e.g. "stable") → version. */
export const aliasesSchema = z.record(name, z.record(name, semver));
export type Aliases = z.infer<typeof aliasesSchema>;
export type ManifestFile = Manifest['files'][number];

export function parseAliases(json: unknown, source = 'aliases'): Aliases {
  const parsed = aliasesSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  throw new InputError('bad_manifest', `${source} is invalid: ${describeIssues(parsed.error.issues)}`);
}

function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
}

/**
 * Validates unknown JSON as a manifest; the error lists every problem with its path.
 * @example
 * const manifest = parseManifest(await res.json());
 */
export function parseManifest(json: unknown, source = 'manifest'): Manifest {
  const parsed = manifestSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  throw new InputError('bad_manifest', `${source} is invalid: ${describeIssues(parsed.error.issues)}`);
}
