/**
 * @module
 * The SDK's Web Worker (built to ecg-tmp-sdk-worker.js beside the one-file bundle): opens a model's
 * graphs on onnxruntime-web's WASM build and runs whole reconstructions, posting each decoded segment
 * as it comes. The page side and the messages are in backends/worker.ts.
 */

import { createLocalEngine, type LocalEngine } from './backends/local.ts';
import type { FromWorker, ToWorker } from './backends/worker.ts';

interface WorkerScope {
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
}
const scope = globalThis as unknown as WorkerScope;

let engine: Promise<LocalEngine> | undefined;
const runs = new Map<number, AbortController>();

scope.onmessage = (e) => {
  const m = e.data;
  if (m.type === 'open') {
    engine = createLocalEngine(
      'wasm',
      m.architecture,
      new Map(m.graphs),
      { numThreads: m.numThreads },
      undefined,
      m.ortUrl,
    );
    engine.then(
      () => scope.postMessage({ type: 'opened' }),
      (err: unknown) => scope.postMessage({ type: 'failed', message: (err as Error).message ?? String(err) }),
    );
  } else if (m.type === 'abort') {
    runs.get(m.id)?.abort();
  } else if (m.type === 'run') {
    const controller = new AbortController();
    runs.set(m.id, controller);
    const { id } = m;
    (async () => {
      const local = await engine!;
      const out = await local.run(
        { data: m.data, shape: m.shape },
        (index, data) => scope.postMessage({ type: 'segment', id, index, data }),
        controller.signal,
      );
      scope.postMessage({ type: 'done', id, data: out.data, shape: out.shape }, [
        out.data.buffer as ArrayBuffer,
      ]);
    })()
      .catch((err: unknown) => {
        if (controller.signal.aborted) return;
        const e = err instanceof Error ? err : new Error(String(err));
        scope.postMessage({ type: 'error', id, name: e.name, message: e.message });
      })
      .finally(() => runs.delete(id));
  }
};
