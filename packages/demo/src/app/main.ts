/**
 * @module
 * The demo page: pick an ECG (a bundled synthetic sample with known truth, or an upload), a model,
 * version, backend and the full or limited (first 10 ms) input; reconstruct with the SDK in the browser;
 * plot the ECG, the reconstructed TMP over the truth, the activation-time maps and the scores. An
 * uploaded recording of any length (WFDB, EDF, CSV) is drawn as a strip with its detected beats marked;
 * the picked beat's 500 ms window is the ECG reconstructed, or the recording is replayed in real time
 * through the SDK's live reconstruction, each beat's activation map shown as it comes.
 *
 * Each reconstruction shows the SDK's in-distribution check of its ECG: a plain-language warning (core's
 * message) when the ECG is unusual or out of range for the model's training ECGs; 'not checked' (a
 * model without training-set statistics) shown quietly, never as "in range".
 *
 * The server gives the edge's URL in /config.json. The result panel carries what it shows as data-*
 * attributes too (state, backend, mae, r2, inDistribution, …), for the end-to-end tests and anyone
 * scripting the page.
 */

import {
  activationTimes,
  createReconstructor,
  type Device,
  type InDistribution,
  type ProgressEvent,
  type Reconstructor,
  reconstructLive,
  type SampleBlock,
} from '@ecg-tmp/client-sdk';
import { type Manifest, N_SITES, N_STEPS, readsFirstStepsOnly } from '@ecg-tmp/core';
import type { HeartView } from '../heart.ts';
import { FileInputError, parseUpload } from '../input.ts';
import { isRecordingUpload, readRecordingUpload, type UploadedRecording } from '../recording.ts';
import { decodeSamples, type Sample, type SampleIndex } from '../samples.ts';
import { scoreSample } from '../score.ts';
import { activationMap, ecgChart, siteChart, sitesGrid, stripChart } from './charts.ts';

interface DemoConfig {
  readonly edgeUrl: string;
}

/** GET /v1/models, as much of it as the page uses. */
interface ModelList {
  readonly models: readonly {
    readonly name: string;
    readonly versions: readonly string[];
    readonly aliases: Readonly<Record<string, string>>;
  }[];
}

/** What is being reconstructed: 12 × 500 mV, and the true TMP (75 × 500 mV) when known. */
interface Input {
  readonly label: string;
  readonly ecg: Float32Array;
  readonly truth: Float32Array | undefined;
}

const MODELS_KEY = 'ecg-tmp-demo:models';
const $ = <T extends HTMLElement = HTMLElement>(id: string) => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`the page has no #${id}`);
  return el as T;
};

const ui = {
  form: $<HTMLFormElement>('controls'),
  sample: $<HTMLSelectElement>('sample'),
  upload: $<HTMLInputElement>('upload'),
  rate: $<HTMLInputElement>('rate'),
  recording: $('recording'),
  recordingSummary: $('recording-summary'),
  beat: $<HTMLSelectElement>('beat'),
  replay: $<HTMLButtonElement>('replay'),
  replayStatus: $('replay-status'),
  model: $<HTMLSelectElement>('model'),
  version: $<HTMLSelectElement>('version'),
  device: $<HTMLSelectElement>('device'),
  run: $<HTMLButtonElement>('run'),
  progress: $('progress'),
  progressBar: $<HTMLProgressElement>('progress-bar'),
  progressText: $('progress-text'),
  message: $('message'),
  result: $('result'),
  inputName: $('input-name'),
  backend: $('backend'),
  load: $('load'),
  timing: $('timing'),
  mae: $('mae'),
  r2: $('r2'),
  atError: $('at-error'),
  rtError: $('rt-error'),
  inDistribution: $('in-distribution'),
  distributionWarning: $('distribution-warning'),
  modelWarning: $('model-warning'),
  modelCard: $<HTMLDetailsElement>('model-card'),
  modelCardBody: $('model-card-body'),
  site: $<HTMLSelectElement>('site'),
  network: $('network'),
};

function showMessage(text: string, kind: 'error' | 'info' = 'info'): void {
  ui.message.textContent = text;
  ui.message.className = `message ${kind}`;
  ui.message.hidden = false;
}

function showError(err: unknown): void {
  const text = err instanceof Error ? err.message : String(err);
  showMessage(text, 'error');
  ui.result.dataset.state = 'error';
  ui.result.dataset.error = text;
}

// Whatever escapes a handler still reaches the page, not only the console.
window.addEventListener('error', (e) => showError(e.error ?? e.message));
window.addEventListener('unhandledrejection', (e) => showError(e.reason));

async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, init);
  if (!res.ok) throw new Error(`GET ${url} answered ${res.status}`);
  return (await res.json()) as T;
}

/** The edge's model list; offline, the one last seen, else the three defaults at 'stable'. */
async function listModels(edgeUrl: string): Promise<ModelList> {
  try {
    const list = await getJson<ModelList>(`${edgeUrl}/v1/models`, { signal: AbortSignal.timeout(8000) });
    localStorage.setItem(MODELS_KEY, JSON.stringify(list));
    return list;
  } catch {
    const saved = localStorage.getItem(MODELS_KEY);
    if (saved !== null) return JSON.parse(saved) as ModelList;
    return {
      models: ['cnn', 'cnn-lstm', 'transformer', 'cnn-lstm-small'].map((name) => ({
        name,
        versions: [],
        aliases: { stable: '' },
      })),
    };
  }
}

function fillVersions(list: ModelList): void {
  const entry = list.models.find((m) => m.name === ui.model.value);
  const previous = ui.version.value;
  ui.version.replaceChildren();
  const add = (value: string, label: string) => ui.version.append(new Option(label, value));
  const aliases = Object.entries(entry?.aliases ?? { stable: '' }).sort(([a], [b]) => a.localeCompare(b));
  for (const [alias, version] of aliases) add(alias, version === '' ? alias : `${alias} (${version})`);
  for (const version of [...(entry?.versions ?? [])].reverse()) add(version, version);
  ui.version.value = [...ui.version.options].some((o) => o.value === previous) ? previous : 'stable';
}

const [config, index, sampleBytes, heart] = await Promise.all([
  getJson<DemoConfig>('/config.json'),
  getJson<SampleIndex>('/samples.json'),
  fetch('/samples.bin').then(async (r) => new Uint8Array(await r.arrayBuffer())),
  getJson<HeartView>('/heart.json'),
]);
const samples: Sample[] = decodeSamples(index, sampleBytes);
const siteNames = heart.sites.map((s) => s.name);

let input: Input;
let predicted: Float32Array | undefined;
let decoded = N_STEPS;
let site = 0;
let limited = false;
let loaded: { key: string; reconstructor: Promise<Reconstructor> } | undefined;
/** The uploaded recording whose beats the picker offers; undefined for a sample or a window upload. */
let uploaded: UploadedRecording | undefined;
/** Stops the replay under way. */
let replaying: AbortController | undefined;

const charts = {
  ecg: ecgChart($('ecg-chart')),
  site: siteChart($('site-chart')),
  grid: sitesGrid($('sites-grid'), siteNames, pick),
  predictedMap: activationMap($('map-predicted'), heart, 'Reconstructed', pick),
  truthMap: activationMap($('map-truth'), heart, 'True', pick),
  strip: stripChart($('strip-chart'), pickBeat),
};

function pick(next: number): void {
  site = next;
  ui.site.value = String(next);
  drawTmp();
  drawMaps();
}

function drawTmp(): void {
  charts.site.render(site, input.truth, predicted, decoded);
  charts.grid.render({
    ...(input.truth === undefined ? {} : { truth: input.truth }),
    ...(predicted === undefined ? {} : { predicted }),
    decoded,
    selected: site,
  });
}

function drawMaps(): void {
  const truthTimes = input.truth === undefined ? undefined : activationTimes(input.truth);
  const predTimes = predicted === undefined || decoded < N_STEPS ? undefined : activationTimes(predicted);
  const maxMs = Math.max(10, ...(truthTimes ?? []), ...(predTimes ?? []));
  charts.truthMap.render({
    times: truthTimes,
    maxMs,
    selected: site,
    note: truthTimes === undefined ? 'no ground truth for this ECG' : '',
  });
  charts.predictedMap.render({
    times: predTimes,
    maxMs,
    selected: site,
    note: predicted === undefined ? 'reconstruct to see it' : decoded < N_STEPS ? 'decoding…' : '',
  });
}

function drawAll(): void {
  charts.ecg.render(input.ecg, limited);
  drawTmp();
  drawMaps();
}

/**
 * Redraws while the Transformer streams segments: at most once per animation frame, and after a draw
 * that took d ms not again for DRAW_SHARE · d ms, so drawing takes at most about a fifth of the main
 * thread on any machine, and not again within MIN_DRAW_GAP_MS. The gap mattered most with ORT's own
 * proxy, where every decoder step passed through the main thread and a redraw, however short, held up
 * the next step (in Chromium on the test machine the page took 1,031 ms with a redraw per frame, 50 of
 * 4–23 ms, and 483 ms with none); in the SDK's worker the decode goes on while the page draws, but on a
 * 2-core machine drawing (and the compositor's raster) still takes CPU from it. The grid draws only the
 * steps each redraw adds (charts.ts), and the progress line changes with the redraws.
 */
const DRAW_SHARE = 4;
/** The backend the streamed decode runs on, for the progress line. */
let decodingOn = '';

/**
 * The progress bar and line for the steps decoded so far. Updated with each redraw, not each segment: a
 * change to the page makes the browser render a frame, and with ORT in its worker every frame rendered
 * on the main thread holds up the next decoder step's message.
 */
function showDecoded(): void {
  ui.result.dataset.decoded = String(decoded);
  ui.progressBar.value = decoded / N_STEPS;
  ui.progressText.textContent = `Decoding on ${decodingOn}: ${decoded} of ${N_STEPS} ms`;
}
const MIN_DRAW_GAP_MS = 100;
/** The pending redraw: an animation frame, or a timer that asks for one once the gap has passed. */
let frame = 0;
let wait: ReturnType<typeof setTimeout> | undefined;
let nextDrawAt = 0;
function drawSoon(): void {
  if (frame !== 0 || wait !== undefined) return;
  const tick = () => {
    frame = 0;
    const t = performance.now();
    showDecoded();
    drawTmp();
    const now = performance.now();
    // Each redraw is a User Timing measure too, so a long task can be told a draw or not.
    performance.measure('ecg-tmp:draw', { start: t, end: now });
    nextDrawAt = now + Math.max(MIN_DRAW_GAP_MS, DRAW_SHARE * (now - t));
  };
  // Within the gap, a timer rather than a frame each vsync: a pending animation frame makes the browser
  // run its rendering steps every frame, which holds up the decoder's messages as a redraw would.
  const gap = nextDrawAt - performance.now();
  if (gap <= 0) frame = requestAnimationFrame(tick);
  else
    wait = setTimeout(() => {
      wait = undefined;
      frame = requestAnimationFrame(tick);
    }, gap);
}

function cancelDrawSoon(): void {
  cancelAnimationFrame(frame);
  frame = 0;
  clearTimeout(wait);
  wait = undefined;
}

/**
 * Resolves in the next animation frame, so separate draws go in separate tasks; after 100 ms at most, as a
 * hidden tab gets no frames.
 */
const nextFrame = () =>
  new Promise<void>((resolve) => {
    requestAnimationFrame(() => resolve());
    setTimeout(resolve, 100);
  });

const DISTRIBUTION_LABELS: Record<InDistribution['status'], string> = {
  'in-range': 'in range',
  unusual: 'unusual',
  'out-of-range': 'out of range',
  'not-checked': 'not checked',
  'not-measurable': 'not measurable',
};

/** Shows the in-distribution check of the ECG just reconstructed; undefined clears it. */
function showDistribution(check: InDistribution | undefined): void {
  const el = ui.inDistribution;
  const far = check?.status === 'unusual' || check?.status === 'out-of-range';
  el.textContent =
    check === undefined
      ? '—'
      : `${DISTRIBUTION_LABELS[check.status]}${check.distance === null ? '' : ` (distance ${check.distance.toFixed(1)})`}`;
  el.title = check?.message ?? '';
  if (check === undefined) {
    delete el.dataset.status;
    delete ui.result.dataset.inDistribution;
  } else {
    el.dataset.status = check.status;
    ui.result.dataset.inDistribution = check.status;
  }
  ui.distributionWarning.textContent = far ? check.message : '';
  ui.distributionWarning.hidden = !far;
}

/**
 * The model card of the version that reconstructed (intended use, what it is not for, its data and
 * evaluation, its limitations), and a warning above it when the version's measured spread says its
 * output hardly depends on the ECG: a person reading the TMP should know it is mostly an average heart.
 */
function showModelCard(manifest: Manifest, limitedTime: boolean): void {
  const card = manifest.card;
  ui.modelCard.hidden = card === undefined;
  ui.modelCardBody.replaceChildren(
    ...(card === undefined
      ? []
      : (
          [
            ['Intended use', [card.intendedUse]],
            ['Not for', [card.notFor]],
            ['Training data', [card.trainingData]],
            ['Evaluation', [card.evaluation]],
            ['Limitations', card.limitations],
          ] as const
        ).flatMap(([term, lines]) => {
          const dt = document.createElement('dt');
          dt.textContent = term;
          return [
            dt,
            ...lines.map((line) => {
              const dd = document.createElement('dd');
              dd.textContent = line;
              return dd;
            }),
          ];
        })),
  );
  // The spread of the input this run read: the Transformer always reads only the first 10 ms (Exp II); a
  // CNN reads the whole window (Exp I) unless the run was limited to the first 10 ms, where CNNs collapse.
  const firstStepsOnly = readsFirstStepsOnly(manifest.architecture);
  const exp2 = limitedTime || firstStepsOnly;
  const spread = (exp2 ? manifest.metrics.limited : manifest.metrics.full)?.spread;
  const low = spread !== undefined && spread < LOW_SPREAD;
  ui.modelWarning.hidden = !low;
  ui.modelWarning.textContent = low
    ? `${manifest.name} ${manifest.version}'s reconstructions${exp2 && !firstStepsOnly ? ' from the first 10 ms' : ''} vary from ECG to ECG ${spread < 0.01 ? spread.toPrecision(2) : spread.toFixed(2)} times as much as true voltages do (its test data): ${
        spread < 0.01
          ? 'it draws essentially the same beat whatever the ECG, so this is the average heart it learned, not this one.'
          : 'much of what it draws is the average heart it learned, and differences between hearts come out smaller than they are.'
      }`
    : '';
  if (spread === undefined) delete ui.result.dataset.spread;
  else ui.result.dataset.spread = String(spread);
}
/** Below this spread (a fraction of the truth's) the page warns; the model card's own threshold. */
const LOW_SPREAD = 0.5;

function setInput(next: Input): void {
  input = next;
  predicted = undefined;
  decoded = N_STEPS;
  ui.inputName.textContent = next.label;
  for (const el of [ui.backend, ui.load, ui.timing, ui.mae, ui.r2, ui.atError, ui.rtError])
    el.textContent = '—';
  showDistribution(undefined);
  ui.result.dataset.state = 'idle';
  drawAll();
}

/** Shows the beat picker for `next`, or hides it (a sample or a window upload). */
function showRecording(next: UploadedRecording | undefined): void {
  replaying?.abort();
  uploaded = next;
  ui.recording.hidden = next === undefined;
  if (next === undefined) return;
  const { name, recording, extraction, derived } = next;
  const { beats, skipped } = extraction;
  ui.beat.replaceChildren(
    ...beats.map(
      (b, i) =>
        new Option(
          `${i + 1}: QRS onset ${b.onsetMs} ms${b.rrMs === null ? '' : `, RR ${b.rrMs} ms`}`,
          String(i),
        ),
    ),
  );
  const seconds = (recording.length / recording.rate).toFixed(1);
  ui.recordingSummary.textContent =
    `${name}: ${seconds} s at ${recording.rate} Hz${derived.length > 0 ? ` (${derived.join(', ')} derived from I and II)` : ''}; ` +
    `${beats.length} beat${beats.length === 1 ? '' : 's'}` +
    (skipped.length > 0
      ? `, ${skipped.length} skipped (${skipped.map((s) => `${s.atMs} ms ${s.reason}`).join(', ')})`
      : '') +
    (recording.warnings.length > 0 ? `. ${recording.warnings.join('; ')}` : '');
  Object.assign(ui.recording.dataset, { beats: String(beats.length), skipped: String(skipped.length) });
}

/** Makes beat `i` of the uploaded recording the ECG to reconstruct. */
function pickBeat(i: number): void {
  if (uploaded === undefined) return;
  const { beats, skipped, filtered } = uploaded.extraction;
  const beat = beats[i];
  if (beat === undefined) return;
  ui.beat.value = String(i);
  ui.recording.dataset.selected = String(i);
  charts.strip.render({ ecg: filtered.data, steps: filtered.shape[2], beats, skipped, selected: i });
  setInput({
    label: `${uploaded.name}, beat ${i + 1} of ${beats.length} (QRS onset ${beat.onsetMs} ms)`,
    ecg: beat.window.data,
    truth: undefined,
  });
}

async function useRecording(files: readonly File[]): Promise<void> {
  const next = await readRecordingUpload(files, Number(ui.rate.value));
  showRecording(next);
  markUploaded(next.name);
  const { beats, skipped, filtered } = next.extraction;
  if (beats.length === 0) {
    charts.strip.render({ ecg: filtered.data, steps: filtered.shape[2], beats, skipped, selected: -1 });
    throw new FileInputError(
      `${next.name}: no beat to reconstruct — ${skipped.length === 0 ? 'no QRS complex was detected' : `every QRS found was skipped (${skipped.map((s) => s.detail).join('; ')})`}`,
    );
  }
  pickBeat(0);
  showMessage(`Loaded ${next.name}: ${beats.length} beats detected; beat 1 is picked.`);
}

/** Replay blocks: what a device sends at a time. */
const REPLAY_BLOCK_MS = 40;

/**
 * Feeds the uploaded recording to reconstructLive at its own pace (blocks of REPLAY_BLOCK_MS on the
 * clock), showing each beat's reconstruction as it comes and the delay from its window's last sample
 * arriving to its reconstruction. A second press stops it.
 */
async function replay(): Promise<void> {
  if (replaying !== undefined) {
    replaying.abort();
    return;
  }
  if (uploaded === undefined) return;
  const { name, recording, extraction } = uploaded;
  const controller = new AbortController();
  replaying = controller;
  ui.replay.textContent = 'Stop';
  ui.message.hidden = true;
  ui.recording.dataset.replay = 'running';
  const rate = recording.rate;
  const per = Math.max(1, Math.round((rate * REPLAY_BLOCK_MS) / 1000));
  const leads = Object.entries(recording.leads) as [string, Float32Array][];
  /** When each block was handed over, ms (performance.now()). */
  const arrivals: number[] = [];
  const seconds = (recording.length / rate).toFixed(1);
  async function* blocks(): AsyncGenerator<SampleBlock> {
    const t0 = performance.now();
    for (let k = 0, s = 0; s < recording.length; k++, s += per) {
      const due = t0 + (k + 1) * REPLAY_BLOCK_MS;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
      if (controller.signal.aborted) return;
      arrivals.push(performance.now());
      ui.replayStatus.textContent = `${(Math.min(recording.length, s + per) / rate).toFixed(1)} of ${seconds} s`;
      yield Object.fromEntries(leads.map(([lead, data]) => [lead, data.subarray(s, s + per)]));
    }
  }
  const delays: number[] = [];
  try {
    const { reconstructor } = reconstructorFor(
      ui.model.value,
      ui.version.value,
      ui.device.value as Device,
      () => {},
    );
    const r = await reconstructor;
    for await (const e of reconstructLive(blocks(), { reconstructor: r, rate, signal: controller.signal })) {
      if (e.status !== 'beat') continue;
      const lastSample = Math.ceil(((e.startMs + N_STEPS - 1) * rate) / 1000);
      const arrived = arrivals[Math.min(arrivals.length - 1, Math.floor(lastSample / per))]!;
      const delay = performance.now() - arrived;
      delays.push(delay);
      // The strip's beat with this onset (the live window is the same beat, cut without later signal).
      const i = extraction.beats.findIndex((b) => Math.abs(b.onsetMs - e.onsetMs) <= 20);
      if (i >= 0) {
        ui.beat.value = String(i);
        ui.recording.dataset.selected = String(i);
        charts.strip.render({
          ecg: extraction.filtered.data,
          steps: extraction.filtered.shape[2],
          beats: extraction.beats,
          skipped: extraction.skipped,
          selected: i,
        });
      }
      input = {
        label: `${name}, live beat ${e.index + 1} (QRS onset ${e.onsetMs} ms)`,
        ecg: e.ecg,
        truth: undefined,
      };
      predicted = e.tmp;
      decoded = N_STEPS;
      ui.inputName.textContent = input.label;
      ui.backend.textContent = e.backend;
      ui.timing.textContent = `${duration(delay)} after the beat's last sample (inference ${duration(e.timings.inferMs)})`;
      showDistribution(e.inDistribution);
      drawAll();
      const sorted = [...delays].sort((a, b) => a - b);
      Object.assign(ui.recording.dataset, {
        replayed: String(delays.length),
        delayMedian: sorted[Math.floor(sorted.length / 2)]!.toFixed(0),
        delayMax: sorted.at(-1)!.toFixed(0),
      });
    }
    ui.recording.dataset.replay = controller.signal.aborted ? 'stopped' : 'done';
    if (delays.length > 0) {
      const sorted = [...delays].sort((a, b) => a - b);
      ui.replayStatus.textContent = `${delays.length} beats live; last sample → reconstruction median ${duration(sorted[Math.floor(sorted.length / 2)]!)}, max ${duration(sorted.at(-1)!)}`;
    }
  } catch (err) {
    ui.recording.dataset.replay = controller.signal.aborted ? 'stopped' : 'error';
    if (!controller.signal.aborted) showError(err);
  } finally {
    if (replaying === controller) replaying = undefined;
    ui.replay.textContent = 'Replay in real time';
  }
}

/** Puts the upload in the sample list as the current choice. */
function markUploaded(name: string): void {
  let option = [...ui.sample.options].find((o) => o.value === 'upload');
  if (option === undefined) {
    option = new Option('', 'upload');
    ui.sample.prepend(option);
  }
  option.text = `Uploaded: ${name}`;
  ui.sample.value = 'upload';
}

function useSample(i: number): void {
  showRecording(undefined);
  const s = samples[i]!;
  setInput({ label: `#${i + 1} ${s.variant} (${s.name})`, ecg: s.ecg, truth: s.tmp });
}

async function useFiles(files: readonly File[]): Promise<void> {
  if (isRecordingUpload(files.map((f) => f.name))) return useRecording(files);
  let parsed: { name: string; file: ReturnType<typeof parseUpload> }[];
  try {
    parsed = await Promise.all(
      files.map(async (f) => ({
        name: f.name,
        file: parseUpload(f.name, new Uint8Array(await f.arrayBuffer())),
      })),
    );
  } catch (err) {
    // A CSV that is not one 12 × 500 window may be a recording, at the rate the page's field gives.
    const csv = files.length === 1 && files[0]!.name.toLowerCase().endsWith('.csv');
    if (!csv || !(err instanceof FileInputError)) throw err;
    try {
      return await useRecording(files);
    } catch (asRecording) {
      throw new FileInputError(
        `${err.message}. Read as a recording at ${ui.rate.value} Hz instead: ${asRecording instanceof Error ? asRecording.message : String(asRecording)}`,
      );
    }
  }
  const ecgs = parsed.filter((p) => p.file.kind === 'ecg');
  const truths = parsed.filter((p) => p.file.kind === 'tmp');
  if (ecgs.length !== 1 || truths.length > 1)
    throw new FileInputError(
      ecgs.length === 0
        ? `${files.map((f) => f.name).join(', ')}: no ECG among them; add the pECGData_*.npy, 12-lead .npy or CSV`
        : 'choose one ECG file, and at most one VmData_*.npy with its true voltages',
    );
  const ecg = ecgs[0]!;
  const truth = truths[0];
  if (ecg.file.kind !== 'ecg') return;
  showRecording(undefined);
  setInput({
    label: truth === undefined ? ecg.name : `${ecg.name} + ${truth.name}`,
    ecg: ecg.file.ecg,
    truth: truth?.file.kind === 'tmp' ? truth.file.tmp : undefined,
  });
  markUploaded(ecg.name);
  showMessage(
    `Loaded ${ecg.name} (${{ electrodes: '10 electrodes → 12 leads', leads: '12 leads', csv: '12-lead CSV' }[ecg.file.from]})${truth === undefined ? '; no ground truth' : `, truth from ${truth.name}`}.`,
  );
}

const mb = (bytes: number) => `${(bytes / 1048576).toFixed(2)} MB`;
const duration = (ms: number) => (ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(1)} s`);

/** The reconstructor for the chosen model, version and backend: kept while the choice stays the same. */
function reconstructorFor(
  model: string,
  version: string,
  device: Device,
  onProgress: (e: ProgressEvent) => void,
): { reconstructor: Promise<Reconstructor>; fresh: boolean } {
  const key = `${model}@${version}/${device}`;
  if (loaded?.key === key) return { reconstructor: loaded.reconstructor, fresh: false };
  const previous = loaded?.reconstructor;
  void previous?.then((r) => r.dispose()).catch(() => {});
  const reconstructor = createReconstructor({
    model,
    version,
    device,
    edgeUrl: config.edgeUrl,
    onProgress,
    // On WASM the whole reconstruction runs in the SDK's worker (ecg-tmp-sdk-worker.js beside app.js):
    // the decoder's steps (45–216 ms each on the test machine) and a cold run's first compile (3 s) were
    // the page's longest tasks, and with ORT's own proxy each of the 50 steps still passed through this
    // thread, so a redraw held the decode up. WebGPU is not proxied.
    proxy: true,
    // Offline, a failed request will not succeed on a retry: go straight to the cached copies.
    ...(navigator.onLine ? {} : { retries: 0 }),
  });
  loaded = { key, reconstructor };
  reconstructor.catch(() => {
    if (loaded?.reconstructor === reconstructor) loaded = undefined;
  });
  return { reconstructor, fresh: true };
}

async function run(): Promise<void> {
  ui.run.disabled = true;
  ui.message.hidden = true;
  delete ui.result.dataset.error;
  ui.result.dataset.state = 'loading';
  predicted = undefined;
  decoded = N_STEPS;
  showDistribution(undefined);
  limited = (new FormData(ui.form).get('time') ?? 'full') === 'limited';
  charts.ecg.render(input.ecg, limited);
  // Filled in by onProgress while the model loads.
  const weights: { from: 'network' | 'cache' | 'none'; bytes: number } = { from: 'none', bytes: 0 };
  const onProgress = (e: ProgressEvent) => {
    ui.progress.hidden = false;
    if (e.status === 'download') {
      weights.bytes = e.totalAll;
      ui.progressBar.value = e.totalAll > 0 ? e.loadedAll / e.totalAll : 1;
      ui.progressText.textContent = `Weights ${e.file}: ${mb(e.loadedAll)} of ${mb(e.totalAll)}`;
    } else if (e.status === 'verify') {
      weights.from = e.cached && weights.from !== 'network' ? 'cache' : 'network';
      ui.progressText.textContent = e.cached ? `${e.file}: from this device's cache` : `${e.file}: verified`;
    } else if (e.status === 'ready') {
      ui.progressBar.value = 1;
      ui.progressText.textContent = `Ready on ${e.backend}`;
    }
  };
  try {
    const t0 = performance.now();
    const { reconstructor, fresh } = reconstructorFor(
      ui.model.value,
      ui.version.value,
      ui.device.value as Device,
      onProgress,
    );
    if (fresh) {
      ui.progress.hidden = false;
      ui.progressBar.removeAttribute('value');
      ui.progressText.textContent = `Loading ${ui.model.value} (${ui.version.value})…`;
    }
    const r = await reconstructor;
    const loadMs = performance.now() - t0;
    ui.result.dataset.state = 'running';
    ui.progress.hidden = false;
    ui.progressBar.removeAttribute('value');
    ui.progressText.textContent = `Reconstructing on ${r.backend}…`;
    const t1 = performance.now();
    performance.mark('ecg-tmp:reconstruct-start');
    let timing: string;
    let segments = 0;
    let check: InDistribution;
    if (r.architecture === 'transformer') {
      // Segments of 10 steps appear as the decoder produces them.
      const out = new Float32Array(N_SITES * N_STEPS);
      predicted = out;
      decoded = 0;
      let firstMs = 0;
      decodingOn = r.backend;
      for await (const s of r.stream(input.ecg, { limitedTime: limited })) {
        const width = s.to - s.from;
        for (let k = 0; k < N_SITES; k++)
          out.set(s.tmp.subarray(k * width, (k + 1) * width), k * N_STEPS + s.from);
        if (segments++ === 0) firstMs = performance.now() - t1;
        decoded = s.to;
        drawSoon();
      }
      cancelDrawSoon();
      showDecoded();
      // The streamed decode alone, as a User Timing measure beside the whole run's 'ecg-tmp:reconstruct'.
      performance.measure('ecg-tmp:decode', { start: t1, end: performance.now() });
      timing = `${duration(performance.now() - t1)} (${segments} segments streamed, the first after ${duration(firstMs)})`;
      // stream() carries no check: the same one reconstruct() returns, run alone.
      check = r.checkInDistribution(input.ecg)[0]!;
    } else {
      const result = await r.reconstruct(input.ecg, { limitedTime: limited });
      predicted = result.tmp;
      check = result.inDistribution[0]!;
      timing = `${duration(result.timings.totalMs)} (inference ${duration(result.timings.inferMs)})`;
    }
    decoded = N_STEPS;
    const activated = activationTimes(predicted)
      .filter((v) => v >= 0)
      .sort();
    ui.result.dataset.activationMedian =
      activated.length > 0 ? String(activated[Math.floor(activated.length / 2)]) : '';
    ui.backend.textContent =
      r.fallbackReason === undefined ? r.backend : `${r.backend} (fell back: ${r.fallbackReason})`;
    ui.timing.textContent = timing;
    showDistribution(check);
    showModelCard(r.manifest, limited);
    if (fresh)
      ui.load.textContent =
        r.backend === 'remote'
          ? `${duration(loadMs)} (no weights: the edge runs the model)`
          : `${duration(loadMs)} (${weights.from === 'cache' ? "weights from this device's cache" : `${mb(weights.bytes)} of weights downloaded`})`;
    else ui.load.textContent = 'already loaded';
    Object.assign(ui.result.dataset, {
      backend: r.backend,
      model: r.model,
      version: r.version,
      segments: String(segments),
      ...(fresh ? { weights: r.backend === 'remote' ? 'remote' : weights.from } : {}),
    });
    if (input.truth !== undefined) {
      const score = scoreSample(input.truth, predicted, r.manifest.normalisation.tmp);
      ui.mae.textContent = `${score.mae.toFixed(4)} (≈ ${score.maeMv.toFixed(1)} mV)`;
      ui.r2.textContent = score.r2.toFixed(3);
      ui.atError.textContent = Number.isNaN(score.activationMaeMs)
        ? 'no site activates in both'
        : `${score.activationMaeMs.toFixed(1)} ms mean`;
      ui.rtError.textContent = Number.isNaN(score.repolarisationMaeMs)
        ? 'no site back below −60 mV in both'
        : `${score.repolarisationMaeMs.toFixed(1)} ms mean`;
      Object.assign(ui.result.dataset, { mae: String(score.mae), r2: String(score.r2) });
    } else {
      for (const el of [ui.mae, ui.r2, ui.atError, ui.rtError]) el.textContent = 'no ground truth';
      delete ui.result.dataset.mae;
      delete ui.result.dataset.r2;
    }
    // The TMP in this task (the stream's last segment drew nothing yet), the maps in the next frame: one
    // task drawing all of them would be a long one.
    let drawn = performance.now();
    drawTmp();
    performance.measure('ecg-tmp:draw', { start: drawn, end: performance.now() });
    await nextFrame();
    drawn = performance.now();
    drawMaps();
    performance.measure('ecg-tmp:draw', { start: drawn, end: performance.now() });
    // From the run's start to the result drawn: the figure the page shows, as a User Timing measure.
    const reconstructMs = performance.measure('ecg-tmp:reconstruct', 'ecg-tmp:reconstruct-start').duration;
    ui.result.dataset.reconstructMs = reconstructMs.toFixed(1);
    ui.progress.hidden = true;
    ui.result.dataset.state = 'done';
    keepForOffline();
  } catch (err) {
    ui.progress.hidden = true;
    showError(err);
  } finally {
    ui.run.disabled = false;
  }
}

/** Asks the service worker to keep every same-origin file this page has loaded (ORT's included). */
function keepForOffline(): void {
  if (!('serviceWorker' in navigator)) return;
  const urls = performance
    .getEntriesByType('resource')
    .map((e) => e.name)
    .filter((u) => new URL(u).origin === location.origin);
  void navigator.serviceWorker.ready.then((reg) => reg.active?.postMessage({ type: 'cache', urls }));
}

function updateNetwork(): void {
  ui.network.hidden = navigator.onLine;
}

// Wiring.
samples.forEach((s, i) => {
  ui.sample.append(
    new Option(`#${i + 1} ${s.variant} (${Math.round(s.totalActivationMs)} ms activation)`, String(i)),
  );
});
siteNames.forEach((name, i) => {
  ui.site.append(new Option(name, String(i)));
});
ui.sample.addEventListener('change', () => {
  if (ui.sample.value === 'upload') return;
  ui.upload.value = '';
  ui.message.hidden = true;
  useSample(Number(ui.sample.value));
});
ui.upload.addEventListener('change', () => {
  const files = [...(ui.upload.files ?? [])];
  if (files.length === 0) return;
  useFiles(files).catch((err: unknown) => {
    ui.upload.value = '';
    showError(err);
  });
});
ui.site.addEventListener('change', () => pick(Number(ui.site.value)));
ui.beat.addEventListener('change', () => pickBeat(Number(ui.beat.value)));
ui.replay.addEventListener('click', () => void replay());
for (const radio of ui.form.querySelectorAll<HTMLInputElement>('input[name="time"]')) {
  radio.addEventListener('change', () => {
    limited = radio.value === 'limited' && radio.checked;
    charts.ecg.render(input.ecg, limited);
  });
}
ui.form.addEventListener('submit', (e) => {
  e.preventDefault();
  void run();
});
window.addEventListener('online', updateNetwork);
window.addEventListener('offline', updateNetwork);
updateNetwork();

useSample(0);
const models = await listModels(config.edgeUrl);
fillVersions(models);
ui.model.addEventListener('change', () => fillVersions(models));
ui.run.disabled = false;
document.documentElement.dataset.ready = 'true';

if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('/sw.js').catch((err: unknown) => {
    // The page works without it; only offline reloads need it.
    console.warn('service worker not registered:', err);
  });
}
