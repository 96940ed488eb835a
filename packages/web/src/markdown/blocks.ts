/**
 * Markdown cut into top-level blocks, so that a streaming answer re-renders only its last block, and the
 * text of an answer still being written trimmed so that a half-written table does not flicker.
 */

const FENCE = /^ {0,3}(`{3,}|~{3,})/;
const LIST_ITEM = /^ {0,3}([-*+]|\d{1,9}[.)])(\s|$)/;
// Link reference definitions and footnotes may be used in any block: text that has one is not cut.
const DEFINITION = /^ {0,3}\[[^\]\n]+\]:/m;
const TABLE_ROW = /^ {0,3}\|/;
const TABLE_DELIMITER = /^ {0,3}\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;

/**
 * The top-level blocks of `markdown`, cut at blank lines outside fenced code. A blank line inside a list or
 * before an indented continuation does not cut, so every block parses alone as it does in the whole text.
 * Joining the blocks with a blank line gives back the same document.
 */
export function splitBlocks(markdown: string): string[] {
  if (DEFINITION.test(markdown)) return [markdown];
  const blocks: string[][] = [];
  let current: string[] = [];
  let fence: string | undefined;
  let blankBefore = false;
  for (const line of markdown.split('\n')) {
    if (fence === undefined && line.trim() === '') {
      if (current.length > 0) blankBefore = true;
      continue;
    }
    if (blankBefore && !continuesBlock(current, line)) {
      blocks.push(current);
      current = [];
    } else if (blankBefore) {
      current.push('');
    }
    blankBefore = false;
    current.push(line);
    fence = nextFence(fence, line);
  }
  if (current.length > 0) blocks.push(current);
  return blocks.map((lines) => lines.join('\n'));
}

/** Whether `line`, after a blank line, still belongs to the block of `lines` (a loose list, an indented continuation). */
function continuesBlock(lines: string[], line: string): boolean {
  if (/^\s/.test(line)) return true;
  return LIST_ITEM.test(lines[0] ?? '') && LIST_ITEM.test(line);
}

/** The open fence after `line` (its marker), or undefined when none is open. */
function nextFence(open: string | undefined, line: string): string | undefined {
  const marker = FENCE.exec(line)?.[1];
  if (open === undefined) return marker;
  const closes = marker !== undefined && marker[0] === open[0] && marker.length >= open.length && line.trim() === marker;
  return closes ? undefined : open;
}

/**
 * The part of a text still being written that renders as it will when complete: a table at its end shows
 * from the moment its delimiter row is whole, and each row once its line ends; until then those lines wait.
 */
export function settledText(text: string): string {
  const lines = text.split('\n');
  const lastLineEnded = lines.at(-1) === '';
  if (lastLineEnded) lines.pop();
  let start = lines.length;
  while (start > 0 && TABLE_ROW.test(lines[start - 1]!)) start--;
  if (start === lines.length) return text;
  const rows = lines.slice(start);
  const whole = lastLineEnded ? rows : rows.slice(0, -1);
  const before = lines.slice(0, start);
  if (whole.length < 2 || !TABLE_DELIMITER.test(whole[1]!)) return before.join('\n');
  return [...before, ...whole].join('\n');
}
