import { memo, useMemo, type ComponentProps, type CSSProperties, type ReactNode } from 'react';
import ReactMarkdown, { type Components } from 'react-markdown';
import rehypeSanitize from 'rehype-sanitize';
import remarkGfm from 'remark-gfm';
import remend from 'remend';
import { settledText, splitBlocks } from './blocks';
import { useHighlighted } from './highlight';
import { isAllowedImage, safeHref } from './urls';
import './markdown.css';

export interface MarkdownProps {
  /** Markdown from a model or a person: rendered, never executed. */
  text: string;
  /** The text is still being written: its unfinished end (emphasis, a link, a table row) is settled so it does not flicker. */
  streaming?: boolean;
  /** Hosts whose images may load (see urls.ts); any other image is shown as a link. */
  imageHosts?: readonly string[];
  className?: string;
  'data-testid'?: string;
}

// Unfinished links show their text until the URL is complete; images wait (their URL would be a placeholder).
const REMEND_OPTIONS = { linkMode: 'text-only', images: true } as const;
const EMPTY: readonly string[] = [];

/**
 * Markdown (GitHub flavour: tables, task lists, strikethrough, autolinks) as React elements. Raw HTML shows
 * as text, links are web and mail only and open in a new tab, images load only from `imageHosts`, and code
 * blocks are highlighted. The text is cut into blocks rendered apart, so while an answer streams only its
 * last block is parsed again; callers render once per batch of deltas, not per token.
 */
export function Markdown({ text, streaming = false, imageHosts = EMPTY, className, 'data-testid': testId }: MarkdownProps) {
  const blocks = useMemo(() => splitBlocks(streaming ? remend(settledText(text), REMEND_OPTIONS) : text), [text, streaming]);
  const hostsKey = imageHosts.join(' ');
  // Keyed by the hosts' content, not the array's identity: new components would re-render every block.
  const components = useMemo(() => componentsFor(imageHosts), [hostsKey]);
  return (
    <div className={className ? `markdown ${className}` : 'markdown'} data-testid={testId} data-streaming={streaming || undefined}>
      {blocks.map((block, index) => (
        <Block key={index} text={block} components={components} />
      ))}
    </div>
  );
}

const Block = memo(function Block({ text, components }: { text: string; components: Components }) {
  return (
    <ReactMarkdown remarkPlugins={REMARK_PLUGINS} rehypePlugins={REHYPE_PLUGINS} components={components}>
      {text}
    </ReactMarkdown>
  );
});

const REMARK_PLUGINS = [remarkGfm];
// Raw HTML becomes text before sanitizing (which would drop it): `<b>` in a message reads as `<b>`.
const REHYPE_PLUGINS = [rawAsText, rehypeSanitize];

interface HastNode {
  type: string;
  value?: string;
  children?: HastNode[];
}

/** A rehype plugin: every raw HTML node becomes a text node with the same characters. */
function rawAsText() {
  const visit = (node: HastNode): void => {
    if (!node.children) return;
    node.children = node.children.map((child) => (child.type === 'raw' ? { type: 'text', value: child.value ?? '' } : (visit(child), child)));
  };
  return visit;
}

function componentsFor(imageHosts: readonly string[]): Components {
  return {
    a: ({ href, children }) => <Link href={href}>{children}</Link>,
    img: ({ src, alt }) => <Image src={typeof src === 'string' ? src : undefined} alt={alt} hosts={imageHosts} />,
    code: CodeElement,
    table: ({ children }) => (
      <div className="md-table">
        <table>{children}</table>
      </div>
    ),
  };
}

function Link({ href, children }: { href: string | undefined; children: ReactNode }) {
  const safe = safeHref(href);
  if (!safe) return <span className="md-unsafe-link">{children}</span>;
  if (safe.startsWith('#')) return <a href={safe}>{children}</a>;
  return (
    <a href={safe} target="_blank" rel="noopener noreferrer">
      {children}
    </a>
  );
}

/** An image from an allowed host; any other is a link to it, which loads nothing until someone follows it. */
function Image({ src, alt, hosts }: { src: string | undefined; alt: string | undefined; hosts: readonly string[] }) {
  if (isAllowedImage(src, hosts)) return <img src={src} alt={alt ?? ''} loading="lazy" decoding="async" referrerPolicy="no-referrer" />;
  const href = safeHref(src);
  const label = `image: ${alt || src || ''}`;
  if (!href || href.startsWith('#')) return alt ? <span className="md-image-link">{label}</span> : null;
  return (
    <a className="md-image-link" href={href} target="_blank" rel="noopener noreferrer" title={href}>
      {label}
    </a>
  );
}

/** Inline code as it is; a fenced block with a language highlighted (plain until its grammar loads). */
function CodeElement({ className, children }: ComponentProps<'code'>) {
  const language = /(?:^|\s)language-(\S+)/.exec(className ?? '')?.[1];
  if (!language || typeof children !== 'string') return <code className={className}>{children}</code>;
  return <HighlightedCode code={children.replace(/\n$/, '')} language={language} />;
}

function HighlightedCode({ code, language }: { code: string; language: string }) {
  const lines = useHighlighted(code, language);
  if (!lines) return <code className={`language-${language}`}>{code}</code>;
  return (
    <code className={`language-${language} md-highlighted`} data-language={language}>
      {lines.map((tokens, index) => (
        <span key={index} className="line">
          {tokens.map((token, position) => (
            <span key={position} style={token.htmlStyle as CSSProperties | undefined}>
              {token.content}
            </span>
          ))}
          {index < lines.length - 1 ? '\n' : null}
        </span>
      ))}
    </code>
  );
}
