/**
 * @module
 * The model manifest: what a shipped model is, what it expects and how well it did. The exporter
 * writes it, the edge API validates and serves it, the SDK reads it to pre/post-process and to verify
 * every file it downloads. One zod schema, the TypeScript type derived from it.
 */

// zod/mini, not zod: the same schemas as functions a bundler can drop, so the SDK's browser bundle
// carries ≈ 20 kB of validation instead of zod's 450 kB. Its object parser runs without `new Function`
// (no probe a strict CSP would report), and its English messages are passed to each parse below rather
// than set in zod's global config, which an app using zod itself owns.
import { en } from 'zod/locales';
import * as z from 'zod/mini';
import { InputError } from './errors.ts';
import { N_LEADS, N_SITES } from './layout.ts';
import { ECG_NORMALISATIONS, VM_NORMALISATIONS } from './normalise.ts';

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
const name = z
  .string()
  .check(z.regex(NAME_PATTERN, 'lower-case letters, digits, ".", "_" or "-", at most 64'));
/**
 * Versions: semver MAJOR.MINOR.PATCH with an optional pre-release of non-empty dot-separated
 * identifiers (so no `..`), at most 64 characters — they are path segments and D1 keys too.
 */
export const VERSION_PATTERN =
  /^(?=.{5,64}$)(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;
const semver = z
  .string()
  .check(z.regex(VERSION_PATTERN, 'a semantic version like 1.2.3, at most 64 characters'));
const finite = z.number().check(z.refine(Number.isFinite, 'a finite number'));
const positiveInt = () => z.int().check(z.positive());
const sha256 = () => z.string().check(z.regex(/^[0-9a-f]{64}$/, '64 lower-case hex digits'));

const tensorSpec = z.strictObject({
  name: z.string().check(z.regex(/^[A-Za-z_][A-Za-z0-9_]*$/)),
  /** Numbers are fixed sizes; strings are symbolic (e.g. "batch"). */
  shape: z.array(z.union([positiveInt(), z.string().check(z.minLength(1))])).check(z.minLength(1)),
  dtype: z.enum(['float32', 'float16']),
});

const metricSet = z.strictObject({
  mae: finite,
  mse: finite,
  r2: finite,
  pearson: finite,
  spearman: finite,
  /** Samples the metrics were pooled over. */
  samples: positiveInt(),
  /**
   * How much the reconstructions vary from ECG to ECG against how much the true TMP does (metrics.ts,
   * Spread.ratio): 0 = one output whatever the ECG. Absent in versions exported before it was measured.
   */
  spread: z.optional(finite.check(z.gte(0))),
});

/** The training set's ECG feature statistics for the in-distribution check (distribution.ts). */
const inDistributionSchema = z
  .strictObject({
    features: z.array(z.string().check(z.minLength(1))).check(z.minLength(1)),
    count: positiveInt(),
    mean: z.array(finite),
    scale: z.array(finite.check(z.positive())),
    whitening: z.array(finite),
    shrinkage: finite.check(z.positive(), z.lte(1)),
    quantiles: z.array(
      z.strictObject({ q: finite.check(z.gte(0), z.lte(1)), distance: finite.check(z.gte(0)) }),
    ),
    unusual: finite.check(z.gte(0)),
    threshold: finite.check(z.gte(0)),
  })
  .check(
    z.refine(
      (s) =>
        s.mean.length === s.features.length &&
        s.scale.length === s.features.length &&
        s.whitening.length === s.features.length ** 2,
      'mean and scale need one value per feature, whitening features² values',
    ),
    z.refine((s) => s.unusual <= s.threshold, 'unusual must not exceed threshold'),
  );

/** One output row: the recording site's name and position (mm, the heart mesh's frame; points.csv). */
const siteSchema = z.strictObject({
  name: z.string().check(z.minLength(1)),
  positionMm: z.tuple([finite, finite, finite]),
});

/** What a model is for and what it is not, in words, for the people who read a reconstruction. */
const cardSchema = z.strictObject({
  intendedUse: z.string().check(z.minLength(1)),
  notFor: z.string().check(z.minLength(1)),
  trainingData: z.string().check(z.minLength(1)),
  evaluation: z.string().check(z.minLength(1)),
  limitations: z.array(z.string().check(z.minLength(1))).check(z.minLength(1)),
});

export const manifestSchema = z
  .strictObject({
    schemaVersion: z.literal(MANIFEST_SCHEMA_VERSION),
    name,
    version: semver,
    architecture: z.enum(ARCHITECTURES),
    parameters: positiveInt(),
    inputs: z.array(tensorSpec).check(z.minLength(1)),
    outputs: z.array(tensorSpec).check(z.minLength(1)),
    normalisation: z.strictObject({
      ecg: z.enum(ECG_NORMALISATIONS),
      tmp: z.enum(VM_NORMALISATIONS),
    }),
    /** Leads and sites the model was trained on, in order. */
    leads: z._default(positiveInt(), N_LEADS),
    sites: z._default(positiveInt(), N_SITES),
    files: z
      .array(
        z.strictObject({
          path: name,
          role: z.enum(['model', 'encoder', 'decoder-step']),
          sha256: sha256(),
          bytes: positiveInt(),
          dtype: z.enum(['fp32', 'fp16']),
        }),
      )
      .check(
        z.minLength(1),
        z.refine(
          (files) => new Set(files.map((f) => f.path)).size === files.length,
          'file paths must be unique',
        ),
      ),
    metrics: z.strictObject({
      /** Exp I: full 500 ms input. */
      full: z.optional(metricSet),
      /** Exp II: first 10 ms, zero-padded. */
      limited: z.optional(metricSet),
      /** Change from the fp32 model's metrics, for fp16 variants. */
      fp16Delta: z.optional(z.record(z.string(), finite)),
    }),
    training: z.strictObject({
      dataset: z.string().check(z.minLength(1)),
      seed: z.int(),
      epochs: z.int().check(z.nonnegative()),
      backend: z.enum(['webgpu', 'wasm', 'cpu']),
      commit: z.string().check(z.regex(/^[0-9a-f]{7,40}$|^unknown$/, 'a git commit hash or "unknown"')),
      loss: z.optional(z.enum(['mse', 'huber'])),
      finishedAt: z.optional(z.iso.datetime()),
      /** The trainer checkpoint the graphs were exported from, for `verify-model`. */
      checkpoint: z.optional(z.strictObject({ path: z.string().check(z.minLength(1)), sha256: sha256() })),
    }),
    /**
     * The training split's ECG feature statistics (distribution.ts); absent in versions exported before
     * the check existed, which readers treat as "not checked", never as "in range".
     */
    inDistribution: z.optional(inDistributionSchema),
    /** The output's rows in order (absent in versions exported before it was added). */
    siteList: z.optional(z.array(siteSchema)),
    /** The model card (absent in versions exported before it was added). */
    card: z.optional(cardSchema),
  })
  .check(
    z.refine(
      (m) => m.siteList === undefined || m.siteList.length === m.sites,
      'siteList must name every site: one entry per output row (`sites`)',
    ),
  );

export type Manifest = z.infer<typeof manifestSchema>;

/** models/aliases.json: model name → alias (e.g. "stable") → version. */
export const aliasesSchema = z.record(name, z.record(name, semver));
export type Aliases = z.infer<typeof aliasesSchema>;
export type ManifestFile = Manifest['files'][number];

/** English messages for this parse only (zod/mini ships no locale by default: "Invalid input" otherwise). */
const PARSE = { error: en().localeError } as const;

export function parseAliases(json: unknown, source = 'aliases'): Aliases {
  const parsed = aliasesSchema.safeParse(json, PARSE);
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
  const parsed = manifestSchema.safeParse(json, PARSE);
  if (parsed.success) return parsed.data;
  throw new InputError('bad_manifest', `${source} is invalid: ${describeIssues(parsed.error.issues)}`);
}
