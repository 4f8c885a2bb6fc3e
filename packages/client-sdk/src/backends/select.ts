/**
 * @module
 * What this environment can run, detected once, and the one fallback order: WebGPU → WASM → remote.
 */

export const DEVICES = ['auto', 'webgpu', 'wasm', 'remote'] as const;
export type Device = (typeof DEVICES)[number];
export type Backend = Exclude<Device, 'auto'>;

export interface Capabilities {
  readonly webgpu: boolean;
  readonly wasm: boolean;
  /** Why WebGPU is missing, when it is. */
  readonly webgpuReason?: string;
}

let detected: Promise<Capabilities> | undefined;

/** Detects WebGPU (an adapter must actually be granted) and WebAssembly, once per page. */
export function capabilities(): Promise<Capabilities> {
  detected ??= (async () => {
    const wasm = typeof WebAssembly === 'object' && typeof WebAssembly.instantiate === 'function';
    const gpu = (globalThis.navigator as { gpu?: { requestAdapter(): Promise<unknown> } } | undefined)?.gpu;
    if (gpu === undefined)
      return Object.freeze({
        webgpu: false,
        wasm,
        webgpuReason: 'this browser has no navigator.gpu (WebGPU)',
      });
    try {
      const adapter = await gpu.requestAdapter();
      if (adapter === null)
        return Object.freeze({ webgpu: false, wasm, webgpuReason: 'navigator.gpu granted no adapter' });
      return Object.freeze({ webgpu: true, wasm });
    } catch (err) {
      return Object.freeze({
        webgpu: false,
        wasm,
        webgpuReason: `requesting a WebGPU adapter failed: ${(err as Error).message}`,
      });
    }
  })();
  return detected;
}

/** The backends to try, in order, for a requested device. */
export function candidates(device: Device): Backend[] {
  switch (device) {
    case 'auto':
      return ['webgpu', 'wasm', 'remote'];
    case 'webgpu':
    case 'wasm':
    case 'remote':
      return [device];
    default:
      throw new TypeError(`Unsupported device '${String(device)}'. Expected one of: ${DEVICES.join(', ')}`);
  }
}
