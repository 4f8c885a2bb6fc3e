/**
 * @module
 * onnxruntime-web's WebAssembly build inside a Worker. Workers may not compile WebAssembly at run time,
 * so the .wasm is imported precompiled (a CompiledWasm module, see wrangler.inference.toml) and handed to ORT's
 * Emscripten loader: ORT is given a tiny placeholder binary, and WebAssembly.instantiate, when asked for
 * that placeholder, instantiates the precompiled module instead. One thread, no proxy worker.
 */

import ortWasm from 'onnxruntime-web/ort-wasm-simd-threaded.wasm';
import * as ort from 'onnxruntime-web/wasm';

const PLACEHOLDER = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

let ready: Promise<typeof ort> | undefined;

/** The ORT namespace, initialised once per isolate. */
export function onnxRuntime(): Promise<typeof ort> {
  ready ??= (async () => {
    const instantiate = WebAssembly.instantiate.bind(WebAssembly);
    WebAssembly.instantiate = (async (source: unknown, imports?: WebAssembly.Imports) => {
      const bytes = source instanceof ArrayBuffer ? new Uint8Array(source) : source;
      if (bytes instanceof Uint8Array && bytes.byteLength === PLACEHOLDER.byteLength) {
        const instance = await instantiate(ortWasm as WebAssembly.Module, imports);
        return { instance, module: ortWasm };
      }
      return instantiate(source as BufferSource, imports);
    }) as typeof WebAssembly.instantiate;
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    ort.env.wasm.wasmBinary = PLACEHOLDER.buffer.slice(0);
    ort.env.logLevel = 'error';
    return ort;
  })();
  return ready;
}
