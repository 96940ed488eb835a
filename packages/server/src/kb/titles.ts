import type { DocumentFormat } from '@parley/protocol';
import type { Nodes as HastNodes } from 'hast';
import { fromHtml } from 'hast-util-from-html';
import { toText } from 'hast-util-to-text';
import { fromMarkdown } from 'mdast-util-from-markdown';
import { toString } from 'mdast-util-to-string';

/** A document's own title: a Markdown document's first top-level heading, an HTML page's <title> or first <h1>; null if none. */
export function documentTitle(format: DocumentFormat, content: string): string | null {
  if (format === 'markdown') {
    const heading = fromMarkdown(content).children.find((node) => node.type === 'heading' && node.depth === 1);
    return heading ? toString(heading).trim() || null : null;
  }
  if (format === 'html') {
    const tree = fromHtml(content);
    const title = findElement(tree, 'title') ?? findElement(tree, 'h1');
    return title ? toText(title).trim() || null : null;
  }
  return null;
}

function findElement(node: HastNodes, name: string): HastNodes | null {
  if (node.type === 'element' && node.tagName === name) return node;
  if (node.type !== 'element' && node.type !== 'root') return null;
  for (const child of node.children) {
    const found = findElement(child, name);
    if (found) return found;
  }
  return null;
}
