import { describe, expect, it } from 'vitest';
import { chunkDocument } from '../../src/kb/chunking.js';

describe('chunkDocument', () => {
  it('keeps the headings above each Markdown passage and never joins two sections', () => {
    const chunks = chunkDocument('markdown', '# Guide\nIntro text.\n\n## Install\nRun `npm i`.\n\n- one\n- two\n\n### Linux\nUse apt.\n\n## Use\n| a | b |\n|---|---|\n| 1 | 2 |\n');
    expect(chunks).toEqual([
      { heading: 'Guide', text: 'Intro text.' },
      { heading: 'Guide > Install', text: 'Run npm i.\n\n- one\n\n- two' },
      { heading: 'Guide > Install > Linux', text: 'Use apt.' },
      { heading: 'Guide > Use', text: 'a | b\n\n1 | 2' },
    ]);
  });

  it('cuts long sections into passages that overlap, long paragraphs at word boundaries', () => {
    const words = Array.from({ length: 60 }, (_, index) => `word${index}`);
    const chunks = chunkDocument('text', `${words.slice(0, 30).join(' ')}\n\n${words.slice(30).join(' ')}`, { maxCharacters: 120, overlapCharacters: 30 });
    expect(chunks.length).toBeGreaterThan(3);
    for (const chunk of chunks) expect(chunk.text.length).toBeLessThanOrEqual(120);
    // Every word is in some passage, and each next passage starts with the end of the previous one.
    for (const word of words) expect(chunks.some((chunk) => chunk.text.split(/\s+/).includes(word))).toBe(true);
    for (let index = 1; index < chunks.length; index++) {
      const firstWord = chunks[index]!.text.split(/\s+/)[0]!;
      expect(chunks[index - 1]!.text.split(/\s+/)).toContain(firstWord);
    }
  });

  it('starts the overlap at a sentence when the end of the previous passage holds one', () => {
    const chunks = chunkDocument('text', 'First sentence is here. Second one follows.\n\nThird paragraph needs its own passage.', { maxCharacters: 70, overlapCharacters: 25 });
    expect(chunks.map((chunk) => chunk.text)).toEqual(['First sentence is here. Second one follows.', 'Second one follows.\n\nThird paragraph needs its own passage.']);
  });

  it('reads HTML by its elements: headings, paragraphs, list items and preformatted text, without scripts or styles', () => {
    const chunks = chunkDocument('html', '<style>p{}</style><h2>FAQ</h2><div>Loose text<p>Para <em>one</em>.</p><ul><li>Item</li></ul><pre>a\n  b</pre></div><script>alert(1)</script>');
    expect(chunks).toEqual([{ heading: 'FAQ', text: 'Loose text\n\nPara one.\n\n- Item\n\na\n  b' }]);
  });
});
