/**
 * @module
 * Client SDK: reconstruct TMP from ECG in the browser on WebGPU/WASM through onnxruntime-web, with the
 * edge API as fallback. A shell until the client SDK issue lands.
 */

export {};
