/**
 * @module
 * A small, dependency-free SVG figure writer for the evaluation plots (`npm run evaluate`): a grid of
 * panels, each with linear axes, 1-2-5 ticks and any number of line, dashed-line or point series, and one
 * legend for the figure. The output is plain SVG 1.1 that browsers, editors and GitHub render as is.
 *
 * Every series is one `<g class="series" data-label="…">` holding a `<path>` (lines) or one `<circle>`
 * per point, so a figure can be checked (or restyled) without parsing coordinates.
 */

export type SeriesStyle = 'line' | 'dashed' | 'points';

export interface Series {
  /** Legend text; series with the same label share a colour across panels. */
  readonly label: string;
  readonly x: ArrayLike<number>;
  readonly y: ArrayLike<number>;
  readonly style: SeriesStyle;
  /** A CSS colour; by default the palette colour of the label. */
  readonly color?: string;
}

export interface Panel {
  readonly title?: string;
  readonly series: readonly Series[];
  readonly xLabel?: string;
  readonly yLabel?: string;
  /** One range for both axes, e.g. for predicted-vs-true scatter plots around the identity line. */
  readonly sameScale?: boolean;
}

export interface Figure {
  readonly title: string;
  readonly panels: readonly Panel[];
  /** Panels per row. Default: all in one row. */
  readonly columns?: number;
  /** Size of one panel in px, axes included. Default 320 × 220. */
  readonly panelWidth?: number;
  readonly panelHeight?: number;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];
const MARGIN = { left: 56, right: 12, top: 26, bottom: 40 } as const;
const TITLE_HEIGHT = 30;
const LEGEND_HEIGHT = 22;

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Coordinates with two decimals: sub-pixel precision without bloating files of thousands of points. */
function px(v: number): string {
  return String(Math.round(v * 100) / 100);
}

interface Range {
  readonly lo: number;
  readonly hi: number;
}

function dataRange(values: Iterable<ArrayLike<number>>): Range {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const arr of values) {
    for (let i = 0; i < arr.length; i++) {
      const v = arr[i]!;
      if (!Number.isFinite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  if (lo > hi) return { lo: 0, hi: 1 };
  // A flat series still needs a visible axis.
  if (lo === hi) return { lo: lo - 1, hi: hi + 1 };
  const pad = (hi - lo) * 0.04;
  return { lo: lo - pad, hi: hi + pad };
}

/** About `target` ticks at 1, 2 or 5 × 10^k inside the range (d3's rule: the step nearest range/target). */
export function niceTicks(range: Range, target = 5): number[] {
  const raw = (range.hi - range.lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const error = raw / mag;
  const step = mag * (error >= Math.sqrt(50) ? 10 : error >= Math.sqrt(10) ? 5 : error >= Math.SQRT2 ? 2 : 1);
  const ticks: number[] = [];
  // Rounded to 12 digits so 3 × 0.2 is the tick 0.6, not 0.6000000000000001.
  for (let k = Math.ceil(range.lo / step); k * step <= range.hi + step * 1e-9; k++) {
    ticks.push(Number((k * step).toPrecision(12)));
  }
  return ticks;
}

function colorOf(series: Series, labels: readonly string[]): string {
  return series.color ?? PALETTE[labels.indexOf(series.label) % PALETTE.length]!;
}

function panelSvg(panel: Panel, w: number, h: number, labels: readonly string[]): string {
  let xr = dataRange(panel.series.map((s) => s.x));
  let yr = dataRange(panel.series.map((s) => s.y));
  if (panel.sameScale) {
    xr = yr = { lo: Math.min(xr.lo, yr.lo), hi: Math.max(xr.hi, yr.hi) };
  }
  const plotW = w - MARGIN.left - MARGIN.right;
  const plotH = h - MARGIN.top - MARGIN.bottom;
  const sx = (v: number) => MARGIN.left + ((v - xr.lo) / (xr.hi - xr.lo)) * plotW;
  const sy = (v: number) => MARGIN.top + plotH - ((v - yr.lo) / (yr.hi - yr.lo)) * plotH;
  const out: string[] = [];
  out.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${px(plotW)}" height="${px(plotH)}" fill="none" stroke="#999"/>`,
  );
  for (const t of niceTicks(xr)) {
    const x = px(sx(t));
    out.push(
      `<line x1="${x}" y1="${MARGIN.top}" x2="${x}" y2="${px(MARGIN.top + plotH)}" stroke="#eee"/>`,
      `<text x="${x}" y="${px(MARGIN.top + plotH + 14)}" text-anchor="middle">${t}</text>`,
    );
  }
  for (const t of niceTicks(yr)) {
    const y = px(sy(t));
    out.push(
      `<line x1="${MARGIN.left}" y1="${y}" x2="${px(MARGIN.left + plotW)}" y2="${y}" stroke="#eee"/>`,
      `<text x="${MARGIN.left - 4}" y="${y}" text-anchor="end" dominant-baseline="middle">${t}</text>`,
    );
  }
  if (panel.title) {
    out.push(
      `<text x="${px(MARGIN.left + plotW / 2)}" y="${MARGIN.top - 8}" text-anchor="middle" font-weight="bold">${escapeXml(panel.title)}</text>`,
    );
  }
  if (panel.xLabel) {
    out.push(
      `<text x="${px(MARGIN.left + plotW / 2)}" y="${h - 6}" text-anchor="middle">${escapeXml(panel.xLabel)}</text>`,
    );
  }
  if (panel.yLabel) {
    const cy = px(MARGIN.top + plotH / 2);
    out.push(
      `<text x="12" y="${cy}" text-anchor="middle" transform="rotate(-90 12 ${cy})">${escapeXml(panel.yLabel)}</text>`,
    );
  }
  for (const s of panel.series) {
    const color = colorOf(s, labels);
    const n = Math.min(s.x.length, s.y.length);
    const label = escapeXml(s.label);
    if (s.style === 'points') {
      const dots: string[] = [];
      for (let i = 0; i < n; i++) {
        const x = s.x[i]!;
        const y = s.y[i]!;
        if (Number.isFinite(x) && Number.isFinite(y))
          dots.push(`<circle cx="${px(sx(x))}" cy="${px(sy(y))}" r="2"/>`);
      }
      out.push(
        `<g class="series" data-label="${label}" fill="${color}" fill-opacity="0.5">${dots.join('')}</g>`,
      );
    } else {
      // A non-finite value breaks the line instead of drawing a jump to nowhere.
      let d = '';
      let pen = false;
      for (let i = 0; i < n; i++) {
        const x = s.x[i]!;
        const y = s.y[i]!;
        if (!Number.isFinite(x) || !Number.isFinite(y)) {
          pen = false;
          continue;
        }
        d += `${pen ? 'L' : 'M'}${px(sx(x))} ${px(sy(y))}`;
        pen = true;
      }
      const dash = s.style === 'dashed' ? ' stroke-dasharray="5 3"' : '';
      out.push(
        `<g class="series" data-label="${label}"><path d="${d}" fill="none" stroke="${color}" stroke-width="1.5"${dash}/></g>`,
      );
    }
  }
  return out.join('\n');
}

function legendSvg(series: readonly Series[], labels: readonly string[], y: number): string {
  const seen = new Set<string>();
  const items: string[] = [];
  let x = MARGIN.left;
  for (const s of series) {
    if (seen.has(s.label)) continue;
    seen.add(s.label);
    const color = colorOf(s, labels);
    const mark =
      s.style === 'points'
        ? `<circle cx="${x + 10}" cy="${y}" r="3" fill="${color}"/>`
        : `<line x1="${x}" y1="${y}" x2="${x + 20}" y2="${y}" stroke="${color}" stroke-width="2"${s.style === 'dashed' ? ' stroke-dasharray="5 3"' : ''}/>`;
    items.push(`${mark}<text x="${x + 26}" y="${y}" dominant-baseline="middle">${escapeXml(s.label)}</text>`);
    // Approximate text width at 11 px: enough to keep entries apart without measuring fonts.
    x += 40 + s.label.length * 6.5;
  }
  return `<g class="legend">${items.join('')}</g>`;
}

/**
 * Renders a figure as a complete SVG document.
 * @example
 * const svg = figureSvg({
 *   title: 'Site 0',
 *   panels: [{ series: [{ label: 'true', x: t, y: vm, style: 'line' }], xLabel: 'ms', yLabel: 'mV' }],
 * });
 * await writeFile('site0.svg', svg);
 */
export function figureSvg(figure: Figure): string {
  const w = figure.panelWidth ?? 320;
  const h = figure.panelHeight ?? 220;
  const columns = Math.max(1, Math.min(figure.columns ?? figure.panels.length, figure.panels.length));
  const rows = Math.ceil(figure.panels.length / columns);
  const all = figure.panels.flatMap((p) => p.series);
  const labels = [...new Set(all.map((s) => s.label))];
  const width = columns * w;
  const top = TITLE_HEIGHT + LEGEND_HEIGHT;
  const height = top + rows * h;
  const panels = figure.panels.map((p, i) => {
    const x = (i % columns) * w;
    const y = top + Math.floor(i / columns) * h;
    return `<g class="panel" transform="translate(${x} ${y})">\n${panelSvg(p, w, h, labels)}\n</g>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    // A title element names the figure for screen readers (and for a11y lint where SVGs are committed).
    `<title>${escapeXml(figure.title)}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(figure.title)}</text>`,
    legendSvg(all, labels, TITLE_HEIGHT + LEGEND_HEIGHT / 2),
    ...panels,
    '</svg>',
    '',
  ].join('\n');
}
