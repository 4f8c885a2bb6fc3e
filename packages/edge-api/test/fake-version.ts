/**
 * @module
 * A small made-up model version — a manifest plus its files with their real sha256 digests — for the
 * edge tests and the soak benchmark. It imports nothing from `cloudflare:test`, so Node code
 * (benchmarks/soak.ts) builds its versions exactly as the workerd tests do.
 */

// Its own digest rather than src/db's: that module names the workers' D1 types, which Node code lacks.
async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export interface FakeVersionOptions {
  /** The manifest's parameter count. Default 213,835 (the CNN-LSTM's). */
  readonly parameters?: number;
  /** The manifest's training.dataset. Default 'test'. */
  readonly dataset?: string;
}

/**
 * One file per entry of `contents` (model.onnx, model-1.onnx, …), each the text followed by the name
 * and version, so two versions never share a blob unless their texts say so.
 * @example
 * const { manifest, files } = await fakeVersion('m', '1.0.0', ['graph one']);
 */
export async function fakeVersion(
  name: string,
  version: string,
  contents: string[] = ['graph one', 'graph two'],
  options: FakeVersionOptions = {},
) {
  const files = new Map<string, Uint8Array>();
  const entries = [];
  for (const [i, text] of contents.entries()) {
    const bytes = new TextEncoder().encode(`${text} ${name} ${version}`);
    const path = i === 0 ? 'model.onnx' : `model-${i}.onnx`;
    files.set(path, bytes);
    entries.push({ path, role: 'model', sha256: await sha256Hex(bytes), bytes: bytes.length, dtype: 'fp32' });
  }
  const manifest = {
    schemaVersion: 1,
    name,
    version,
    architecture: 'cnn-lstm',
    parameters: options.parameters ?? 213835,
    inputs: [{ name: 'ecg', shape: ['batch', 12, 'time'], dtype: 'float32' }],
    outputs: [{ name: 'tmp', shape: ['batch', 75, 'time'], dtype: 'float32' }],
    normalisation: { ecg: 'lead-range', tmp: 'vm-affine' },
    leads: 12,
    sites: 75,
    files: entries,
    metrics: {},
    training: { dataset: options.dataset ?? 'test', seed: 1, epochs: 1, backend: 'cpu', commit: 'unknown' },
  };
  return { manifest, files };
}
