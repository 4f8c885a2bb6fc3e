/**
 * @module
 * An init script (Playwright `addInitScript`) that counts WebGPU buffers: it wraps
 * GPUDevice.prototype.createBuffer and GPUBuffer.prototype.destroy before any page script runs, so every
 * buffer onnxruntime-web allocates or frees is seen, and exposes the totals as
 * `globalThis.gpuBufferCounts()` (api.ts's GpuBufferCounts). Playwright sends the function's source, so
 * it must not close over anything; its types are written out because Node's tsconfig has no DOM.
 */

export function countGpuBuffers(): void {
  interface Buffer {
    destroy(): void;
  }
  const g = globalThis as unknown as {
    GPUDevice?: { prototype: { createBuffer(descriptor: { size: number }): Buffer } };
    GPUBuffer?: { prototype: Buffer };
    gpuBufferCounts?: () => { created: number; destroyed: number; live: number; liveBytes: number };
  };
  if (g.GPUDevice === undefined || g.GPUBuffer === undefined) return;
  // Sizes by buffer, weakly, so counting keeps no buffer alive; a second destroy() is not a second free.
  const sizes = new WeakMap<Buffer, number>();
  let created = 0;
  let destroyed = 0;
  let liveBytes = 0;
  const createBuffer = g.GPUDevice.prototype.createBuffer;
  g.GPUDevice.prototype.createBuffer = function (this: unknown, descriptor) {
    const buffer = createBuffer.call(this, descriptor);
    sizes.set(buffer, descriptor.size);
    created++;
    liveBytes += descriptor.size;
    return buffer;
  };
  const destroy = g.GPUBuffer.prototype.destroy;
  g.GPUBuffer.prototype.destroy = function (this: Buffer) {
    const size = sizes.get(this);
    if (size !== undefined) {
      sizes.delete(this);
      destroyed++;
      liveBytes -= size;
    }
    destroy.call(this);
  };
  g.gpuBufferCounts = () => ({ created, destroyed, live: created - destroyed, liveBytes });
}
