import { describe, expect, it } from 'vitest';
import { settledText, splitBlocks } from '../src/markdown/blocks';
import { isAllowedImage, safeHref } from '../src/markdown/urls';

describe('splitBlocks', () => {
  it('cuts at blank lines, and joining the blocks gives the document back', () => {
    const text = '# Title\n\nA paragraph\non two lines.\n\n\n> a quote\n\n| a | b |\n|---|---|\n| 1 | 2 |';
    const blocks = splitBlocks(text);
    expect(blocks).toEqual(['# Title', 'A paragraph\non two lines.', '> a quote', '| a | b |\n|---|---|\n| 1 | 2 |']);
  });

  it('never cuts inside fenced code, also when the fence is still open', () => {
    expect(splitBlocks('Code:\n\n```ts\nconst a = 1;\n\nconst b = 2;\n```\n\nAfter.')).toEqual(['Code:', '```ts\nconst a = 1;\n\nconst b = 2;\n```', 'After.']);
    expect(splitBlocks('~~~~\none\n\n~~~\ntwo\n\nthree')).toEqual(['~~~~\none\n\n~~~\ntwo\n\nthree']);
  });

  it('keeps a loose list and indented continuations in one block', () => {
    expect(splitBlocks('1. one\n\n2. two\n\n   more of two\n\nAfter.')).toEqual(['1. one\n\n2. two\n\n   more of two', 'After.']);
    expect(splitBlocks('- a\n\n- b')).toEqual(['- a\n\n- b']);
  });

  it('does not cut text with link reference definitions or footnotes, which any block may use', () => {
    const text = 'See [the docs][docs].\n\n[docs]: https://example.com';
    expect(splitBlocks(text)).toEqual([text]);
    expect(splitBlocks('A claim.[^1]\n\n[^1]: The source.')).toHaveLength(1);
  });
});

describe('settledText', () => {
  it('leaves text without a table at its end as it is', () => {
    expect(settledText('Hello **wor')).toBe('Hello **wor');
    expect(settledText('| a | b |\n|---|---|\n| 1 | 2 |\n\nAfter')).toBe('| a | b |\n|---|---|\n| 1 | 2 |\n\nAfter');
  });

  it('holds back a table until its delimiter row is whole, so it never shows as a paragraph first', () => {
    expect(settledText('Here:\n\n| a | b')).toBe('Here:\n');
    expect(settledText('Here:\n\n| a | b |\n')).toBe('Here:\n');
    expect(settledText('Here:\n\n| a | b |\n|---|--')).toBe('Here:\n');
    expect(settledText('Here:\n\n| a | b |\n|---|---|\n')).toBe('Here:\n\n| a | b |\n|---|---|');
  });

  it('shows a row once its line ends', () => {
    expect(settledText('| a | b |\n|---|---|\n| 1 | 2 |\n| 3')).toBe('| a | b |\n|---|---|\n| 1 | 2 |');
    expect(settledText('| a | b |\n| :-- | --: |\n| 1 | 2 |\n')).toBe('| a | b |\n| :-- | --: |\n| 1 | 2 |');
  });
});

describe('safeHref', () => {
  it('keeps web and mail links and page fragments', () => {
    expect(safeHref('https://example.com/a?b=c')).toBe('https://example.com/a?b=c');
    expect(safeHref('http://example.com')).toBe('http://example.com/');
    expect(safeHref('mailto:help@example.com')).toBe('mailto:help@example.com');
    expect(safeHref('#user-content-fn-1')).toBe('#user-content-fn-1');
  });

  it('drops script, data and other protocols, however they are spelt, and relative URLs', () => {
    for (const url of ['javascript:alert(1)', ' JavaScript:alert(1)', 'java\tscript:alert(1)', 'data:text/html,<script>alert(1)</script>', 'vbscript:x', 'file:///etc/passwd', '/relative', 'x', '', undefined]) {
      expect(safeHref(url), String(url)).toBeUndefined();
    }
  });
});

describe('isAllowedImage', () => {
  const hosts = ['images.example.com', '*.cdn.example', '127.0.0.1:8080'];

  it('allows http(s) images from the listed hosts only', () => {
    expect(isAllowedImage('https://images.example.com/a.png', hosts)).toBe(true);
    expect(isAllowedImage('http://images.example.com:9000/a.png', hosts)).toBe(true);
    expect(isAllowedImage('https://eu.cdn.example/a.png', hosts)).toBe(true);
    expect(isAllowedImage('http://127.0.0.1:8080/a.png', hosts)).toBe(true);
  });

  it('refuses other hosts, look-alikes, ports, protocols and relative URLs', () => {
    for (const url of [
      'https://evil.example/leak?q=secret',
      'https://images.example.com.evil.example/a.png',
      'https://cdn.example/a.png',
      'https://evilcdn.example/a.png',
      'http://127.0.0.1:8081/a.png',
      'http://127.0.0.2:8080/a.png',
      'https://user:pass@images.example.com/a.png',
      'data:image/png;base64,AAAA',
      'javascript:alert(1)',
      '/a.png',
      'x',
      undefined,
    ]) {
      expect(isAllowedImage(url, hosts), String(url)).toBe(false);
    }
    expect(isAllowedImage('https://images.example.com/a.png', [])).toBe(false);
  });
});
