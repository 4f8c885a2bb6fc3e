/**
 * @module
 * The page's plots, with Apache ECharts (tree-shaken to line + scatter + the components used): the
 * 12-lead ECG, one site's TMP (reconstruction over truth), the 75 sites as small multiples and the
 * activation-time maps. ECharts for the ECG, the site and the maps — a continuous colour scale with its
 * legend for the map (visualMap), tooltips, touch and resizing — with no drawing code of our own; the 75
 * small multiples are the exception, drawn on a plain canvas (sitesGrid says why).
 *
 * Every chart re-lays itself out from its element's size (ResizeObserver), so the page works on a
 * narrow phone screen: fewer columns of small multiples, taller stacks.
 */

import { LEAD_NAMES, N_LEADS, N_SITES, N_STEPS } from '@ecg-tmp/core';
import { LineChart, type LineSeriesOption, ScatterChart, type ScatterSeriesOption } from 'echarts/charts';
import {
  GridComponent,
  type GridComponentOption,
  LegendComponent,
  type LegendComponentOption,
  MarkAreaComponent,
  TitleComponent,
  type TitleComponentOption,
  TooltipComponent,
  type TooltipComponentOption,
  VisualMapComponent,
  type VisualMapComponentOption,
} from 'echarts/components';
import { type ComposeOption, type ECharts, init, use } from 'echarts/core';
import { CanvasRenderer } from 'echarts/renderers';
import type { HeartView } from '../heart.ts';

use([
  LineChart,
  ScatterChart,
  GridComponent,
  LegendComponent,
  MarkAreaComponent,
  TitleComponent,
  TooltipComponent,
  VisualMapComponent,
  CanvasRenderer,
]);

type Option = ComposeOption<
  | LineSeriesOption
  | ScatterSeriesOption
  | GridComponentOption
  | LegendComponentOption
  | TitleComponentOption
  | TooltipComponentOption
  | VisualMapComponentOption
>;

export const COLORS = { predicted: '#d6336c', truth: '#343a40', ecg: '#1c7ed6', muted: '#ced4da' } as const;
/** Activation maps: earliest red → latest purple, as electro-anatomical maps colour them. */
const ACTIVATION_COLORS = ['#d7191c', '#fdae61', '#ffffbf', '#abd9e9', '#2c7bb6', '#5e3c99'];
/** TMP axis range (mV) shared by every TMP plot, so sites compare at a glance. */
const TMP_RANGE = { min: -100, max: 60 } as const;

/** One ECharts instance on `el`, re-laid out by `layout` whenever the element's size changes. */
function mount(el: HTMLElement, layout: (width: number) => void): ECharts {
  const chart = init(el, undefined, { renderer: 'canvas' });
  let last = -1;
  let frame = 0;
  // Laid out in the next frame, not in the observer's callback: a layout may change the element's
  // height, which inside the callback would be a ResizeObserver loop.
  new ResizeObserver(() => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => {
      const width = el.clientWidth;
      if (width === 0) return;
      if (width !== last) {
        last = width;
        layout(width);
      }
      chart.resize();
    });
  }).observe(el);
  return chart;
}

/** Points [t, v] of row `row` (500 steps) of a channel-major array; only the first `upto` steps. */
function trace(data: Float32Array, row: number, upto = N_STEPS): [number, number][] {
  const out: [number, number][] = new Array(upto);
  for (let t = 0; t < upto; t++) out[t] = [t, data[row * N_STEPS + t]!];
  return out;
}

const hidden = { show: false } as const;

/** Grid rectangles for `count` small multiples in `cols` columns, in pixels. */
function cells(count: number, cols: number, width: number, cellHeight: number, top = 0, gap = 6) {
  const cellWidth = (width - gap * (cols - 1)) / cols;
  return Array.from({ length: count }, (_, i) => ({
    left: (i % cols) * (cellWidth + gap),
    top: top + Math.floor(i / cols) * cellHeight,
    width: cellWidth,
    height: cellHeight - 18,
  }));
}

/** The 12-lead ECG in the print layout (columns I–III, aVR–aVF, V1–V3, V4–V6), 2 columns on phones. */
export function ecgChart(el: HTMLElement) {
  let ecg: Float32Array | undefined;
  let limited = false;
  let cols = 4;
  const chart = mount(el, (width) => {
    cols = width < 560 ? 2 : 4;
    el.style.height = `${(N_LEADS / cols) * 96 + 24}px`;
    draw();
  });
  function draw() {
    if (ecg === undefined) return;
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (const v of ecg) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    const pad = Math.max(0.1, (hi - lo) * 0.05);
    const rows = N_LEADS / cols;
    // Print order: down each column, as on paper.
    const slot = (lead: number) => (lead % rows) * cols + Math.floor(lead / rows);
    const boxes = cells(N_LEADS, cols, el.clientWidth - 8, 96, 4);
    chart.setOption(
      {
        animation: false,
        grid: LEAD_NAMES.map((_, l) => ({ ...boxes[slot(l)]!, left: boxes[slot(l)]!.left + 4 })),
        title: LEAD_NAMES.map((name, l) => ({
          text: name,
          left: boxes[slot(l)]!.left + 8,
          top: boxes[slot(l)]!.top,
          textStyle: { fontSize: 11, fontWeight: 'bold', color: '#495057' },
        })),
        xAxis: LEAD_NAMES.map((_, l) => ({
          type: 'value',
          gridIndex: l,
          min: 0,
          max: N_STEPS,
          interval: 100,
          // Time labels on the bottom row only.
          axisLabel:
            slot(l) >= N_LEADS - cols
              ? {
                  fontSize: 9,
                  color: '#868e96',
                  // The ends would collide with the neighbouring cell's.
                  formatter: (v: number) =>
                    v === 0 || v === N_STEPS ? '' : v === 400 ? '400 ms' : String(v),
                }
              : hidden,
          axisTick: hidden,
          axisLine: { lineStyle: { color: '#dee2e6' } },
          splitLine: { lineStyle: { color: '#f1f3f5' } },
        })),
        yAxis: LEAD_NAMES.map((_, l) => ({
          type: 'value',
          gridIndex: l,
          min: lo - pad,
          max: hi + pad,
          axisLabel: hidden,
          axisTick: hidden,
          splitLine: hidden,
          axisLine: hidden,
        })),
        tooltip: { trigger: 'axis', valueFormatter: (v) => `${Number(v).toFixed(3)} mV` },
        series: LEAD_NAMES.map((name, l) => ({
          type: 'line',
          name,
          xAxisIndex: l,
          yAxisIndex: l,
          data: trace(ecg!, l),
          showSymbol: false,
          lineStyle: { width: 1.2, color: COLORS.ecg },
          itemStyle: { color: COLORS.ecg },
          markArea: limited
            ? {
                silent: true,
                itemStyle: { color: 'rgba(214, 51, 108, 0.15)' },
                data: [[{ xAxis: 0 }, { xAxis: 10 }]],
              }
            : { data: [] },
        })),
      } satisfies Option,
      { notMerge: true },
    );
  }
  return {
    render(next: Float32Array, limitedTime: boolean) {
      // A run redraws the ECG for its input-time shading; unchanged, that was a 60 ms task for nothing.
      if (next === ecg && limitedTime === limited) return;
      ecg = next;
      limited = limitedTime;
      draw();
    },
  };
}

/**
 * One site's TMP: the reconstruction (as far as decoded) over the truth (the page's select names the site).
 * While only the reconstruction grows (a streamed decode), only its series' data is replaced.
 */
export function siteChart(el: HTMLElement) {
  const chart = mount(el, () => {});
  let shown: { site: number; truth: Float32Array | undefined; hasPredicted: boolean } | undefined;
  return {
    render(
      site: number,
      truth: Float32Array | undefined,
      predicted: Float32Array | undefined,
      decoded = N_STEPS,
    ) {
      if (
        predicted !== undefined &&
        shown?.hasPredicted === true &&
        shown.site === site &&
        shown.truth === truth
      ) {
        chart.setOption({ series: [{ id: 'reconstructed', data: trace(predicted, site, decoded) }] });
        chart.getZr().flush();
        return;
      }
      shown = { site, truth, hasPredicted: predicted !== undefined };
      const series: LineSeriesOption[] = [];
      if (truth !== undefined)
        series.push({
          type: 'line',
          id: 'true',
          name: 'true',
          data: trace(truth, site),
          showSymbol: false,
          lineStyle: { width: 2, color: COLORS.truth, type: 'dashed' },
          itemStyle: { color: COLORS.truth },
        });
      if (predicted !== undefined)
        series.push({
          type: 'line',
          id: 'reconstructed',
          name: 'reconstructed',
          data: trace(predicted, site, decoded),
          showSymbol: false,
          lineStyle: { width: 2, color: COLORS.predicted },
          itemStyle: { color: COLORS.predicted },
        });
      chart.setOption(
        {
          animation: false,
          legend: { top: 2, right: 8, data: series.map((s) => String(s.name)) },
          grid: { left: 44, right: 12, top: 40, bottom: 34 },
          tooltip: { trigger: 'axis', valueFormatter: (v) => `${Number(v).toFixed(1)} mV` },
          xAxis: { type: 'value', min: 0, max: N_STEPS, name: 'ms', nameLocation: 'middle', nameGap: 22 },
          yAxis: { type: 'value', ...TMP_RANGE, name: 'mV', nameGap: 8 },
          series,
        } satisfies Option,
        { notMerge: true },
      );
    },
  };
}

/**
 * All 75 sites as small multiples; clicking one calls `onPick(site)`. Drawn on a plain 2D canvas, not with
 * ECharts: the cells, names and truth are painted once into a layer of their own (per layout, truth and
 * selection), and a redraw copies that layer and strokes the reconstruction over it. With ECharts, 75
 * grids took 100–300 ms of the main thread for every redraw in Chromium on the test machine, and one grid
 * with the traces as broken line series still 67–603 ms under load — each a long task while a streamed
 * decode redraws; the canvas draws the same picture in a few milliseconds.
 */
export function sitesGrid(el: HTMLElement, siteNames: readonly string[], onPick: (site: number) => void) {
  let truth: Float32Array | undefined;
  let predicted: Float32Array | undefined;
  let decoded = N_STEPS;
  let selected = 0;
  let boxes: ReturnType<typeof cells> = [];
  let size = { width: 0, height: 0 };
  const cellHeight = 74;
  const canvas = document.createElement('canvas');
  canvas.style.display = 'block';
  el.append(canvas);
  const ctx = canvas.getContext('2d')!;
  /** The static layer: outlines, names, truth. `baseKey` says for what it was painted. */
  const base = document.createElement('canvas');
  const baseCtx = base.getContext('2d')!;
  let baseKey: { truth: Float32Array | undefined; selected: number; width: number; dpr: number } | undefined;
  let dpr = 1;

  new ResizeObserver(() => {
    requestAnimationFrame(() => {
      const width = el.clientWidth;
      if (width === 0 || (width === size.width && dpr === (globalThis.devicePixelRatio || 1))) return;
      dpr = globalThis.devicePixelRatio || 1;
      const cols = Math.max(3, Math.min(10, Math.floor(width / 112)));
      size = { width, height: Math.ceil(N_SITES / cols) * cellHeight + 4 };
      el.style.height = `${size.height}px`;
      boxes = cells(N_SITES, cols, width, cellHeight, 2).map((b) => ({ ...b, top: b.top + 14 }));
      for (const c of [canvas, base]) {
        c.width = Math.round(size.width * dpr);
        c.height = Math.round(size.height * dpr);
      }
      canvas.style.width = `${size.width}px`;
      canvas.style.height = `${size.height}px`;
      paint();
    });
  }).observe(el);

  canvas.addEventListener('click', (e) => {
    const site = boxes.findIndex(
      (b) =>
        e.offsetX >= b.left &&
        e.offsetX <= b.left + b.width &&
        e.offsetY >= b.top - 14 &&
        e.offsetY <= b.top + b.height + 4,
    );
    if (site >= 0) onPick(site);
  });

  const span = TMP_RANGE.max - TMP_RANGE.min;
  /** Each site's steps `from` to `upto` (exclusive) of `data` as one path, in CSS pixels. */
  function stroke(target: CanvasRenderingContext2D, data: Float32Array, upto: number, from = 0): void {
    target.beginPath();
    boxes.forEach((b, s) => {
      for (let t = from; t < upto; t++) {
        const v = Math.min(TMP_RANGE.max, Math.max(TMP_RANGE.min, data[s * N_STEPS + t]!));
        const x = b.left + (t / N_STEPS) * b.width;
        const y = b.top + ((TMP_RANGE.max - v) / span) * b.height;
        if (t === from) target.moveTo(x, y);
        else target.lineTo(x, y);
      }
    });
    target.stroke();
  }
  /** What the canvas shows of the reconstruction: its first `steps` steps of `of`, over the base layer. */
  let shown: { of: Float32Array | undefined; steps: number; base: typeof baseKey } = {
    of: undefined,
    steps: 0,
    base: undefined,
  };

  function paintBase(): void {
    const c = baseCtx;
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    c.clearRect(0, 0, size.width, size.height);
    c.font = '10px system-ui, sans-serif';
    c.textBaseline = 'top';
    c.fillStyle = '#495057';
    boxes.forEach((b, s) => {
      c.fillText(siteNames[s] ?? '', b.left + 2, b.top - 13, b.width - 4);
    });
    c.lineWidth = 1;
    c.strokeStyle = '#e9ecef';
    boxes.forEach((b, s) => {
      if (s !== selected) c.strokeRect(b.left + 0.5, b.top + 0.5, b.width - 1, b.height - 1);
    });
    const sel = boxes[selected];
    if (sel !== undefined) {
      c.lineWidth = 2;
      c.strokeStyle = COLORS.predicted;
      c.strokeRect(sel.left + 1, sel.top + 1, sel.width - 2, sel.height - 2);
    }
    if (truth !== undefined) {
      c.lineWidth = 1;
      c.strokeStyle = COLORS.truth;
      c.setLineDash([4, 3]);
      stroke(c, truth, N_STEPS);
      c.setLineDash([]);
    }
    baseKey = { truth, selected, width: size.width, dpr };
  }

  function paint(): void {
    if (boxes.length === 0) return;
    const k = baseKey;
    if (
      k === undefined ||
      k.truth !== truth ||
      k.selected !== selected ||
      k.width !== size.width ||
      k.dpr !== dpr
    )
      paintBase();
    const upto = predicted === undefined ? 0 : Math.min(decoded, N_STEPS);
    // While a reconstruction streams in, only its new steps are drawn (from the last one shown, so the
    // lines join); anything else paints the whole canvas again.
    const appending =
      shown.of === predicted && shown.base === baseKey && shown.steps > 0 && upto >= shown.steps;
    if (!appending) {
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      ctx.drawImage(base, 0, 0);
    }
    if (predicted !== undefined && upto > (appending ? shown.steps : 0)) {
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.lineWidth = 1.2;
      ctx.lineJoin = 'round';
      ctx.strokeStyle = COLORS.predicted;
      stroke(ctx, predicted, upto, appending ? shown.steps - 1 : 0);
    }
    shown = { of: predicted, steps: upto, base: baseKey };
  }

  return {
    render(next: { truth?: Float32Array; predicted?: Float32Array; decoded?: number; selected: number }) {
      truth = next.truth;
      predicted = next.predicted;
      decoded = next.decoded ?? N_STEPS;
      selected = next.selected;
      paint();
    },
  };
}

/**
 * Activation times (ms) on the 75 sites over the heart's silhouette (frontal view); sites that never
 * activate are grey. Clicking a site calls `onPick(site)`.
 */
export function activationMap(
  el: HTMLElement,
  view: HeartView,
  title: string,
  onPick: (site: number) => void,
) {
  const us = [...view.sites.map((s) => s.u), ...view.silhouette.filter((_, i) => i % 2 === 0)];
  const vs = [...view.sites.map((s) => s.v), ...view.silhouette.filter((_, i) => i % 2 === 1)];
  const box = {
    u0: Math.min(...us) - 4,
    u1: Math.max(...us) + 4,
    v0: Math.min(...vs) - 4,
    v1: Math.max(...vs) + 4,
  };
  const silhouette: [number, number][] = [];
  for (let i = 0; i < view.silhouette.length; i += 2)
    silhouette.push([view.silhouette[i]!, view.silhouette[i + 1]!]);
  // Back to front, so nearer sites are drawn over those behind them.
  const order = view.sites.map((_, i) => i).sort((a, b) => view.sites[b]!.depth - view.sites[a]!.depth);
  let times: Int32Array | undefined;
  let maxMs = 100;
  let selected = 0;
  let note = '';
  const chart = mount(el, () => draw());
  chart.on('click', (params) => {
    const site = (params.data as number[] | undefined)?.[3];
    if (typeof site === 'number') onPick(site);
  });
  function draw() {
    const width = el.clientWidth;
    const height = el.clientHeight;
    if (width === 0) return;
    // Keep millimetres square: fit the heart's box into the space left by the title and colour bar.
    const room = { left: 8, right: 8, top: note === '' ? 28 : 44, bottom: 44 };
    const scale = Math.min(
      (width - room.left - room.right) / (box.u1 - box.u0),
      (height - room.top - room.bottom) / (box.v1 - box.v0),
    );
    const w = (box.u1 - box.u0) * scale;
    const h = (box.v1 - box.v0) * scale;
    const point = (i: number) => [view.sites[i]!.u, view.sites[i]!.v, times?.[i] ?? -1, i];
    // Sites that never activate get their own grey series: a colour scale has no colour for "never".
    const activated = times === undefined ? [] : order.filter((i) => times![i]! >= 0).map(point);
    const silent = times === undefined ? [] : order.filter((i) => times![i]! < 0).map(point);
    chart.setOption(
      {
        animation: false,
        title: {
          text: title,
          subtext: note,
          left: 'center',
          textStyle: { fontSize: 13 },
          subtextStyle: { fontSize: 11 },
          itemGap: 4,
        },
        grid: {
          left: (width - w) / 2,
          top: room.top + (height - room.top - room.bottom - h) / 2,
          width: w,
          height: h,
        },
        xAxis: { type: 'value', min: box.u0, max: box.u1, show: false },
        yAxis: { type: 'value', min: box.v0, max: box.v1, show: false },
        tooltip: {
          trigger: 'item',
          formatter: (p) => {
            const d = (p as { data: number[] }).data;
            const name = view.sites[d[3]!]?.name ?? '';
            return d[2]! < 0 ? `${name}: not activated` : `${name}: ${d[2]} ms`;
          },
        },
        visualMap: {
          type: 'continuous',
          seriesIndex: 1,
          dimension: 2,
          min: 0,
          max: maxMs,
          orient: 'horizontal',
          left: 'center',
          bottom: 0,
          itemWidth: 10,
          itemHeight: Math.max(80, Math.min(220, width - 120)),
          text: [`${maxMs} ms`, '0'],
          calculable: false,
          inRange: { color: ACTIVATION_COLORS },
        },
        series: [
          {
            type: 'scatter',
            name: 'heart',
            data: silhouette,
            symbolSize: 2,
            silent: true,
            large: true,
            itemStyle: { color: '#dee2e6' },
          },
          {
            type: 'scatter',
            name: 'sites',
            data: activated,
            symbolSize: 11,
            itemStyle: { borderColor: '#495057', borderWidth: 0.6 },
          },
          {
            type: 'scatter',
            name: 'never activated',
            data: silent,
            symbolSize: 9,
            itemStyle: { color: '#adb5bd', borderColor: '#495057', borderWidth: 0.6 },
          },
          {
            type: 'scatter',
            name: 'selected',
            data: [[view.sites[selected]!.u, view.sites[selected]!.v]],
            symbolSize: 18,
            silent: true,
            itemStyle: { color: 'transparent', borderColor: '#212529', borderWidth: 2 },
          },
        ],
      } satisfies Option,
      { notMerge: true },
    );
  }
  return {
    /** `times` per site (−1: never activates) on a colour scale 0…maxMs, or undefined with a note. */
    render(next: { times: Int32Array | undefined; maxMs: number; selected: number; note?: string }) {
      times = next.times;
      maxMs = Math.max(10, Math.ceil(next.maxMs / 10) * 10);
      selected = next.selected;
      note = next.note ?? '';
      draw();
    },
  };
}

/** What the strip shows: one lead of the whole recording and where its beats are. */
export interface StripData {
  /** [12 × T] mV at 1 kHz, lead-major (the extractor's filtered signal). */
  readonly ecg: Float32Array;
  readonly steps: number;
  /** Each beat's window, ms from the record's start. */
  readonly beats: readonly { readonly onsetMs: number; readonly startMs: number }[];
  /** Detected QRS that gave no beat, and why. */
  readonly skipped: readonly { readonly atMs: number; readonly reason: string }[];
  readonly selected: number;
}

/** The strip's lead: II, where the QRS of most recordings is clearest. */
const STRIP_LEAD = LEAD_NAMES.indexOf('II');

/**
 * A recording's lead II over its whole length, each beat's 500 ms window shaded (the picked one darker)
 * and its QRS onset marked; skipped QRS marked grey. A click on a beat calls `onPick(beatIndex)`.
 */
export function stripChart(el: HTMLElement, onPick: (beat: number) => void) {
  let data: StripData | undefined;
  const chart = mount(el, () => draw());
  chart.on('click', (params) => {
    if (params.seriesName === 'beats' && typeof params.dataIndex === 'number') onPick(params.dataIndex);
  });
  function draw() {
    if (data === undefined) return;
    const { ecg, steps, beats, skipped, selected } = data;
    const lead = ecg.subarray(STRIP_LEAD * steps, (STRIP_LEAD + 1) * steps);
    const points: [number, number][] = new Array(steps);
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (let t = 0; t < steps; t++) {
      points[t] = [t / 1000, lead[t]!];
      lo = Math.min(lo, lead[t]!);
      hi = Math.max(hi, lead[t]!);
    }
    const at = (ms: number) => lead[Math.min(steps - 1, Math.max(0, Math.round(ms)))]!;
    chart.setOption(
      {
        animation: false,
        grid: { left: 36, right: 12, top: 12, bottom: 28 },
        xAxis: {
          type: 'value',
          min: 0,
          max: steps / 1000,
          axisLabel: { fontSize: 10, color: '#868e96', formatter: (v: number) => `${v} s` },
          splitLine: { lineStyle: { color: '#f1f3f5' } },
        },
        yAxis: {
          type: 'value',
          min: lo - 0.1,
          max: hi + 0.1,
          axisLabel: { fontSize: 10, color: '#868e96', formatter: (v: number) => v.toFixed(1) },
          splitLine: hidden,
        },
        tooltip: { trigger: 'item' },
        series: [
          {
            type: 'line',
            name: 'II',
            data: points,
            showSymbol: false,
            silent: true,
            sampling: 'lttb',
            lineStyle: { width: 1, color: COLORS.ecg },
            markArea: {
              silent: true,
              data: beats.map((b, i) => [
                {
                  xAxis: b.startMs / 1000,
                  itemStyle: {
                    color: i === selected ? 'rgba(214, 51, 108, 0.25)' : 'rgba(28, 126, 214, 0.08)',
                  },
                },
                { xAxis: (b.startMs + N_STEPS) / 1000 },
              ]),
            },
          },
          {
            type: 'scatter',
            name: 'beats',
            data: beats.map((b) => [b.onsetMs / 1000, at(b.onsetMs)]),
            symbolSize: (_: unknown, p: { dataIndex: number }) => (p.dataIndex === selected ? 12 : 8),
            itemStyle: { color: COLORS.predicted },
            cursor: 'pointer',
            tooltip: {
              formatter: (p) =>
                `beat ${(p as { dataIndex: number }).dataIndex + 1}: QRS onset ${beats[(p as { dataIndex: number }).dataIndex]!.onsetMs} ms — click to pick`,
            },
          },
          {
            type: 'scatter',
            name: 'skipped',
            data: skipped.map((s) => [s.atMs / 1000, at(s.atMs)]),
            symbol: 'diamond',
            symbolSize: 8,
            itemStyle: { color: COLORS.muted },
            tooltip: {
              formatter: (p) => {
                const s = skipped[(p as { dataIndex: number }).dataIndex]!;
                return `skipped at ${s.atMs} ms: ${s.reason}`;
              },
            },
          },
        ],
      } satisfies Option,
      { notMerge: true },
    );
  }
  return {
    render(next: StripData) {
      data = next;
      draw();
    },
  };
}
