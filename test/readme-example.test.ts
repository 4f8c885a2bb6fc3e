/**
 * The README's "embed the SDK" example is the file the demo's browser tests load
 * (packages/demo/examples/embed.html), so the example a newcomer copies is one that is known to run.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url);
const codeLines = (text: string) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter(
      (l) => l !== '' && !l.startsWith('<!') && !l.startsWith('bundle, reconstruct') && !l.startsWith('<!--'),
    );

describe('README', () => {
  it('shows the tested embed example, line for line', () => {
    const readme = readFileSync(new URL('README.md', root), 'utf8');
    const block = /```html\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block, 'the README has an ```html example').toBeDefined();
    const example = readFileSync(new URL('packages/demo/examples/embed.html', root), 'utf8');
    // The file opens with a doctype and a comment the README's prose replaces.
    const body = example.slice(example.indexOf('-->') + 3);
    expect(codeLines(block!)).toEqual(codeLines(body));
    expect(codeLines(block!).length).toBeLessThanOrEqual(12);
  });
});
