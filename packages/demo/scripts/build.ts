/**
 * @module
 * `npm run build -w @ecg-tmp/demo` — the demo page into packages/demo/dist/ (what serve.ts serves):
 *
 *   index.html, app.css   the page (index.html gets the import map for onnxruntime-web)
 *   app.js (+ .map)       src/app/main.ts with the SDK, @ecg-tmp/core and ECharts bundled in
 *   ecg-tmp-sdk-worker.js the SDK's worker, where app.js runs its WASM reconstructions (proxy: true)
 *   sdk/ecg-tmp-sdk.js    the SDK alone as one ES module (client-sdk's buildBundle), for pages like
 *                         examples/embed.html, with its worker beside it
 *   sw.js                 the service worker, stamped with a hash of the build and its shell files
 *   samples.json/.bin     the bundled synthetic test set: SAMPLE_COUNT pairs simulated under SAMPLE_SEED
 *   heart.json            sites and silhouette for the activation map (src/heart.ts)
 *   examples/embed.html   the embedding example, as written
 *
 * onnxruntime-web is left out of both bundles: the pages map `onnxruntime-web/webgpu` and
 * `onnxruntime-web/wasm` to /ort/, where serve.ts serves the package's dist/ files, so ORT finds its
 * .wasm and worker .mjs beside its own module. Takes a few seconds, most of it the simulator's set-up.
 */

import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { leadsFromElectrodes, N_SITES, N_STEPS, timeMajorToChannelMajor } from '@ecg-tmp/core';
import { isMainModule } from '@ecg-tmp/core/node';
import { createSimulator, meshToBody, SURFACE, type Variant } from '@ecg-tmp/simulator';
import { type BuildOptions, build } from 'esbuild';
import {
  BUNDLE_OPTIONS,
  buildBundle,
  buildWorker,
  ORT_IMPORTS as SDK_ORT_IMPORTS,
  WORKER_DEFINE,
} from '../../client-sdk/scripts/build.ts';
import { WORKER_FILE } from '../../client-sdk/src/backends/worker-file.ts';
import { type BodyPoint, projectHeart } from '../src/heart.ts';
import { encodeSamples, type SampleIndex } from '../src/samples.ts';

export const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
export const DIST = join(PACKAGE_DIR, 'dist');
/** Where the pages find onnxruntime-web's files: the bundles' bare imports of it, mapped to /ort/. */
export const ORT_PREFIX = '/ort/';
export const ORT_IMPORTS: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(SDK_ORT_IMPORTS).map(([specifier, file]) => [specifier, ORT_PREFIX + file]),
);

/** The synthetic test set: fixed seed, one sample of each scenario class and a few more. */
export const SAMPLE_SEED = 2024;
const SAMPLE_VARIANTS: readonly Variant[] = [
  'normal',
  'lbbb',
  'rbbb',
  'ectopic',
  'scar',
  'normal',
  'ectopic',
  'lbbb',
];
export const SAMPLE_COUNT = SAMPLE_VARIANTS.length;

// The SDK's bundle options (onnxruntime-web's specifiers left to the import map, as here); source maps
// only where a build asks.
const common: BuildOptions = { ...BUNDLE_OPTIONS, sourcemap: false };

/** The synthetic pairs, as 12-lead ECG and site-major TMP (mV), with the index the page lists. */
function simulateSamples() {
  const sim = createSimulator();
  const pairs = SAMPLE_VARIANTS.map((variant, i) => {
    const s = sim.simulate(SAMPLE_SEED, i, { variant });
    return {
      info: {
        name: s.name,
        variant: s.variant,
        totalActivationMs: Math.round(s.totalActivationMs * 10) / 10,
      },
      ecg: leadsFromElectrodes(s.electrodes, N_STEPS),
      tmp: timeMajorToChannelMajor(s.vm, N_STEPS, N_SITES),
    };
  });
  const toBody = (p: ArrayLike<number>, i: number): BodyPoint => {
    const [x, y, z] = meshToBody(sim.placement, [p[3 * i]!, p[3 * i + 1]!, p[3 * i + 2]!]);
    return [x, y, z];
  };
  const sites = sim.mesh.sites.map((s) => ({ name: s.name, body: toBody(s.position, 0) }));
  const epi: BodyPoint[] = [];
  for (let n = 0; n < sim.mesh.nodeCount; n++)
    if (sim.mesh.surface[n] === SURFACE.epi) epi.push(toBody(sim.mesh.points, n));
  const index: SampleIndex = { seed: SAMPLE_SEED, samples: pairs.map((p) => p.info) };
  return { index, bin: encodeSamples(pairs), heart: projectHeart(sites, epi) };
}

/**
 * Builds everything into `outDir` (default dist/) and returns the files written.
 * @example
 * await buildDemo();
 */
export async function buildDemo(outDir = DIST): Promise<{ files: string[] }> {
  await rm(outDir, { recursive: true, force: true });
  await mkdir(join(outDir, 'sdk'), { recursive: true });
  await mkdir(join(outDir, 'examples'), { recursive: true });
  const src = join(PACKAGE_DIR, 'src');
  await Promise.all([
    build({
      ...common,
      entryPoints: [join(src, 'app', 'main.ts')],
      outfile: join(outDir, 'app.js'),
      sourcemap: true,
      // The SDK's worker beside app.js: the page's WASM reconstructions run whole in it (proxy: true).
      define: WORKER_DEFINE,
    }),
    buildWorker(join(outDir, WORKER_FILE)),
    // The SDK's own bundle, as the client-sdk package builds it.
    buildBundle(join(outDir, 'sdk', 'ecg-tmp-sdk.js')),
  ]);
  const importMap = `<script type="importmap">${JSON.stringify({ imports: ORT_IMPORTS })}</script>`;
  const html = (await readFile(join(src, 'app', 'index.html'), 'utf8')).replace(
    '<!--IMPORTMAP-->',
    importMap,
  );
  const { index, bin, heart } = simulateSamples();
  await Promise.all([
    writeFile(join(outDir, 'index.html'), html),
    copyFile(join(src, 'app', 'app.css'), join(outDir, 'app.css')),
    copyFile(join(PACKAGE_DIR, 'examples', 'embed.html'), join(outDir, 'examples', 'embed.html')),
    writeFile(join(outDir, 'samples.json'), JSON.stringify(index)),
    writeFile(join(outDir, 'samples.bin'), bin),
    writeFile(join(outDir, 'heart.json'), JSON.stringify(heart)),
  ]);

  // The worker's cache is named after everything else, so a rebuilt page replaces the old copy.
  const shell = [
    '/',
    '/app.js',
    `/${WORKER_FILE}`,
    '/app.css',
    '/config.json',
    '/samples.json',
    '/samples.bin',
    '/heart.json',
  ];
  const hash = createHash('sha256');
  for (const file of ['index.html', 'app.js', WORKER_FILE, 'app.css', 'samples.bin', 'heart.json'])
    hash.update(await readFile(join(outDir, file)));
  await build({
    ...common,
    entryPoints: [join(src, 'sw.ts')],
    outfile: join(outDir, 'sw.js'),
    // A classic worker script: registered without { type: 'module' }, which every browser supports.
    format: 'iife',
    define: {
      BUILD_ID: JSON.stringify(hash.digest('hex').slice(0, 16)),
      SHELL: JSON.stringify([...shell, ...Object.values(ORT_IMPORTS)]),
    },
  });
  return {
    files: [
      'index.html',
      'app.css',
      'app.js',
      WORKER_FILE,
      'sdk/ecg-tmp-sdk.js',
      `sdk/${WORKER_FILE}`,
      'sw.js',
      'samples.json',
      'samples.bin',
      'heart.json',
      'examples/embed.html',
    ],
  };
}

if (isMainModule(import.meta.url)) {
  const t0 = performance.now();
  const { files } = await buildDemo();
  process.stdout.write(
    `built ${files.length} files into ${DIST} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
  );
}
