import type { DocumentFormat } from '@parley/protocol';
import type { Element, Nodes as HastNodes } from 'hast';
import { fromHtml } from 'hast-util-from-html';
import { toText } from 'hast-util-to-text';
import type { RootContent } from 'mdast';
import { fromMarkdown } from 'mdast-util-from-markdown';
import { gfmFromMarkdown } from 'mdast-util-gfm';
import { gfm } from 'micromark-extension-gfm';
import { toString } from 'mdast-util-to-string';

/** One passage cut from a document. */
export interface Chunk {
  /** The headings above it, outermost first, joined with " > ". */
  heading: string;
  text: string;
}

/** How large passages are and how much consecutive passages of one section share. */
export interface ChunkingOptions {
  /** Longest passage in characters (a longer paragraph is cut at word boundaries). */
  maxCharacters: number;
  /** Characters of the end of a passage repeated at the start of the next one in the same section. */
  overlapCharacters: number;
}

export const DEFAULT_CHUNKING: ChunkingOptions = { maxCharacters: 1200, overlapCharacters: 200 };

/** A run of blocks (paragraphs, list items, code) under one heading path. */
interface Section {
  headings: string[];
  blocks: string[];
}

/**
 * Cuts a document into passages along its structure: a passage never spans two sections, carries the
 * headings above it as context, and repeats the end of the previous passage of its section (overlap), so
 * that a sentence cut at a boundary is still found whole.
 */
export function chunkDocument(format: DocumentFormat, content: string, options: ChunkingOptions = DEFAULT_CHUNKING): Chunk[] {
  const sections = format === 'markdown' ? markdownSections(content) : format === 'html' ? htmlSections(content) : textSections(content);
  return sections.flatMap((section) => packSection(section, options));
}

function markdownSections(content: string): Section[] {
  const sections: Section[] = [{ headings: [], blocks: [] }];
  const headings: string[] = [];
  // GitHub-flavoured Markdown, so that tables (and task lists, strikethrough) are read as such.
  for (const node of fromMarkdown(content, { extensions: [gfm()], mdastExtensions: [gfmFromMarkdown()] }).children) {
    if (node.type === 'heading') {
      headings.splice(node.depth - 1, headings.length, toString(node).trim());
      sections.push({ headings: headings.filter(Boolean), blocks: [] });
      continue;
    }
    sections.at(-1)!.blocks.push(...markdownBlocks(node));
  }
  return sections;
}

/** The text blocks of a top-level Markdown node: a list gives one block per item. */
function markdownBlocks(node: RootContent): string[] {
  if (node.type === 'list') return node.children.map((item) => `- ${toString(item, { includeHtml: false }).trim()}`);
  if (node.type === 'code') return [node.value];
  if (node.type === 'html' || node.type === 'thematicBreak' || node.type === 'definition') return [];
  if (node.type === 'table') return node.children.map((row) => row.children.map((cell) => toString(cell).trim()).join(' | '));
  const text = toString(node, { includeHtml: false }).trim();
  return text ? [text] : [];
}

const HTML_HEADINGS = new Set(['h1', 'h2', 'h3', 'h4', 'h5', 'h6']);
// Elements read as one block of text each; others are walked into.
const HTML_BLOCKS = new Set(['p', 'li', 'pre', 'blockquote', 'td', 'th', 'dt', 'dd', 'figcaption', 'caption', 'summary']);
// Elements whose text is not the document's (scripts, styles, navigation chrome, the head).
const HTML_SKIPPED = new Set(['script', 'style', 'noscript', 'template', 'head', 'nav', 'svg']);

function htmlSections(content: string): Section[] {
  const sections: Section[] = [{ headings: [], blocks: [] }];
  const headings: string[] = [];
  const visit = (node: HastNodes): void => {
    if (node.type === 'text') {
      const text = node.value.trim();
      if (text) sections.at(-1)!.blocks.push(text);
      return;
    }
    if (node.type !== 'element' && node.type !== 'root') return;
    if (node.type === 'element') {
      const name = node.tagName;
      if (HTML_SKIPPED.has(name)) return;
      if (HTML_HEADINGS.has(name)) {
        headings.splice(Number(name[1]) - 1, headings.length, elementText(node));
        sections.push({ headings: headings.filter(Boolean), blocks: [] });
        return;
      }
      if (HTML_BLOCKS.has(name)) {
        const text = elementText(node);
        if (text) sections.at(-1)!.blocks.push(name === 'li' ? `- ${text}` : text);
        return;
      }
    }
    for (const child of node.children) visit(child);
  };
  visit(fromHtml(content));
  return sections;
}

function elementText(element: Element): string {
  return toText(element, { whitespace: element.tagName === 'pre' ? 'pre' : 'normal' }).trim();
}

function textSections(content: string): Section[] {
  const blocks = content.split(/\n\s*\n/).map((block) => block.trim()).filter(Boolean);
  return [{ headings: [], blocks }];
}

/** Packs a section's blocks into passages of at most `maxCharacters`, each next one starting with the previous one's end. */
function packSection(section: Section, options: ChunkingOptions): Chunk[] {
  const heading = section.headings.join(' > ');
  // Pieces leave room for the overlap in front of them.
  const pieceLength = Math.max(1, options.maxCharacters - options.overlapCharacters - 2);
  const pieces = section.blocks.flatMap((block) => splitLong(block, pieceLength));
  const chunks: Chunk[] = [];
  let current = '';
  let fresh = false;
  for (const piece of pieces) {
    if (current && current.length + 2 + piece.length > options.maxCharacters) {
      chunks.push({ heading, text: current });
      current = overlapOf(current, options.overlapCharacters, options.maxCharacters - piece.length - 2);
      fresh = false;
    }
    current = current ? `${current}\n\n${piece}` : piece;
    fresh = true;
  }
  // A section with only a heading makes no passage: its subsections carry the heading.
  if (fresh) chunks.push({ heading, text: current });
  return chunks;
}

/** The end of `text`, at most `size` (and `room`) characters, starting at a sentence where the tail holds one, else at a word. */
function overlapOf(text: string, size: number, room: number): string {
  const length = Math.min(size, room);
  if (length <= 0) return '';
  const tail = text.slice(-length);
  const sentence = /[.!?:]\s+(?=\S)/.exec(tail);
  if (sentence) return tail.slice(sentence.index + sentence[0].length).trim();
  const word = tail.search(/\s/);
  return word < 0 ? '' : tail.slice(word).trim();
}

/** A block cut into pieces of at most `max` characters, at whitespace where there is some. */
function splitLong(block: string, max: number): string[] {
  const pieces: string[] = [];
  let rest = block;
  while (rest.length > max) {
    const cut = rest.lastIndexOf(' ', max);
    const at = cut > max / 2 ? cut : max;
    pieces.push(rest.slice(0, at).trim());
    rest = rest.slice(at).trim();
  }
  if (rest) pieces.push(rest);
  return pieces;
}
