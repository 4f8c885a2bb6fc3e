/**
 * @module
 * What this environment can run, detected once, and the one fallback order: WebGPU → WASM → remote
 * for 'auto'; one backend alone; or the app's own ordered list, as onnxruntime-web takes its execution
 * providers (`['wasm', 'remote']`).
 */

import { OptionError } from '../errors.ts';

export const DEVICES = ['auto', 'webgpu', 'wasm', 'remote'] as const;
export type Device = (typeof DEVICES)[number];
export type Backend = Exclude<Device, 'auto'>;
export const BACKENDS = ['webgpu', 'wasm', 'remote'] as const satisfies readonly Backend[];
/** What the `device` option takes: 'auto', one backend, or backends to try in order. */
export type DeviceOption = Device | readonly Backend[];

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

/** The backends to try, in order, for a requested device; an OptionError for one this SDK lacks. */
export function candidates(device: DeviceOption): Backend[] {
  if (Array.isArray(device)) {
    const list = device as readonly unknown[];
    if (list.length === 0)
      throw new OptionError(`device: an empty list. Give backends in order, from: ${BACKENDS.join(', ')}`);
    for (const d of list) {
      if (!(BACKENDS as readonly unknown[]).includes(d))
        throw new OptionError(
          `Unsupported device '${String(d)}' in the device list. Expected backends from: ${BACKENDS.join(', ')} (or device: 'auto' alone)`,
        );
    }
    const repeated = list.find((d, i) => list.indexOf(d) !== i);
    if (repeated !== undefined)
      throw new OptionError(`device: '${String(repeated)}' appears twice in [${list.join(', ')}]`);
    return [...(list as readonly Backend[])];
  }
  switch (device) {
    case 'auto':
      return ['webgpu', 'wasm', 'remote'];
    case 'webgpu':
    case 'wasm':
    case 'remote':
      return [device];
    default:
      throw new OptionError(
        `Unsupported device '${String(device)}'. Expected one of: ${DEVICES.join(', ')}, or a list of backends in order (e.g. ['wasm', 'remote'])`,
      );
  }
}
