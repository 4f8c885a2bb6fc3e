import { describe, expect, it } from 'vitest';
import { figureSvg, niceTicks } from './plots.ts';

/**
 * A minimal XML well-formedness check (no parser in the dependencies): every tag closes in order, every
 * attribute is quoted, and text holds no raw '<' or bare '&'. Returns the root element's name.
 */
function checkWellFormed(xml: string): string {
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: string[] = [];
  let root = '';
  let at = 0;
  for (const m of body.matchAll(/<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g)) {
    const text = body.slice(at, m.index);
    expect(text).not.toMatch(/<|&(?!#\d+;|amp;|lt;|gt;|quot;)/);
    at = m.index + m[0].length;
    const [, closing, name, , selfClosing] = m;
    if (closing) expect(stack.pop()).toBe(name);
    else if (!selfClosing) {
      if (stack.length === 0) {
        expect(root).toBe('');
        root = name!;
      }
      stack.push(name!);
    }
  }
  expect(body.slice(at).trim()).toBe('');
  expect(stack).toEqual([]);
  return root;
}

const count = (s: string, re: RegExp) => s.match(re)?.length ?? 0;

describe('figureSvg', () => {
  const x = [0, 1, 2, 3, 4];
  const svg = figureSvg({
    title: 'Vm <site 3> & friends',
    columns: 1,
    panels: [
      {
        title: 'traces',
        xLabel: 'time (ms)',
        yLabel: 'Vm (mV)',
        series: [
          { label: 'true', x, y: [-85, -80, 20, 10, -85], style: 'line' },
          { label: 'predicted', x, y: [-84, Number.NaN, 15, 12, -80], style: 'dashed' },
        ],
      },
      {
        sameScale: true,
        series: [
          { label: 'identity', x: [0, 100], y: [0, 100], style: 'line', color: '#999' },
          { label: 'sites', x: [1, 2, 3, 4, Number.NaN, 6, 7], y: [2, 2, 3, 5, 1, 6, 9], style: 'points' },
        ],
      },
    ],
  });

  it('writes a well-formed SVG document', () => {
    expect(
      svg.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"'),
    ).toBe(true);
    expect(checkWellFormed(svg)).toBe('svg');
    expect(svg).not.toMatch(/NaN|Infinity|undefined/);
    expect(svg).toContain('Vm &#60;site 3&#62; &#38; friends');
  });

  it('draws one group per series, one circle per finite point and breaks lines at gaps', () => {
    expect(count(svg, /<g class="panel"/g)).toBe(2);
    expect(count(svg, /<g class="series"/g)).toBe(4);
    const groups = [...svg.matchAll(/<g class="series" data-label="([^"]+)"[^>]*>(.*?)<\/g>/g)];
    const byLabel = Object.fromEntries(groups.map((g) => [g[1], g[2]!]));
    expect(Object.keys(byLabel)).toEqual(['true', 'predicted', 'identity', 'sites']);
    expect(count(byLabel.true!, /[ML]/g)).toBe(5);
    expect(count(byLabel.predicted!, /M/g)).toBe(2); // the NaN splits the dashed line in two
    expect(count(byLabel.predicted!, /L/g)).toBe(2);
    expect(byLabel.predicted).toContain('stroke-dasharray');
    expect(count(byLabel.sites!, /<circle/g)).toBe(6);
    expect(byLabel.identity).toContain('stroke="#999"');
  });

  it('lists each label once in the legend', () => {
    const legend = svg.match(/<g class="legend">(.*?)<\/g>/)![1]!;
    expect(count(legend, /<text/g)).toBe(4);
  });

  it('stacks panels by the column count and survives flat or empty series', () => {
    const flat = figureSvg({
      title: 'flat',
      columns: 2,
      panelWidth: 100,
      panelHeight: 80,
      panels: [
        { series: [{ label: 'a', x: [0, 1], y: [5, 5], style: 'line' }] },
        { series: [{ label: 'b', x: [], y: [], style: 'points' }] },
        { series: [{ label: 'a', x: [0, 1], y: [1, 2], style: 'line' }] },
      ],
    });
    checkWellFormed(flat);
    expect(flat).not.toMatch(/NaN|Infinity/);
    expect(flat).toContain('width="200" height="212"'); // 2 columns × 100 px; title and legend 52 + 2 rows × 80
    expect(count(flat, /<g class="panel" transform="translate\(0 132\)"/g)).toBe(1);
  });
});

describe('niceTicks', () => {
  it('picks 1-2-5 steps inside the range', () => {
    expect(niceTicks({ lo: 0, hi: 1 })).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks({ lo: -90, hi: 52 })).toEqual([-80, -60, -40, -20, 0, 20, 40]);
    expect(niceTicks({ lo: 0, hi: 499 })).toEqual([0, 100, 200, 300, 400]);
  });
});
