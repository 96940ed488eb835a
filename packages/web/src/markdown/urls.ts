/**
 * Which URLs in Markdown from a model or a user the page may use. Links: web and mail only, never
 * `javascript:`, `data:` or the like. Images: only from the tenant's allowed hosts, because an image loads
 * by itself and its URL can carry the conversation's text to whoever runs its host.
 */

/** The protocols a link may have. */
const LINK_PROTOCOLS = new Set(['http:', 'https:', 'mailto:']);

/** `url` as a link target when it is an absolute http(s) or mailto URL or a fragment of the page, else undefined. */
export function safeHref(url: string | undefined): string | undefined {
  if (!url) return undefined;
  const trimmed = url.trim();
  // Footnote references (`#user-content-fn-1`) stay on the page.
  if (/^#[\w-]*$/.test(trimmed)) return trimmed;
  const parsed = parseAbsolute(trimmed);
  return parsed && LINK_PROTOCOLS.has(parsed.protocol) ? parsed.href : undefined;
}

/**
 * Whether the image at `url` may load: an absolute http(s) URL whose host matches one of `hosts`
 * (`images.example.com` on any port, `images.example.com:8443` on that port, `*.example.com` any subdomain).
 */
export function isAllowedImage(url: string | undefined, hosts: readonly string[]): boolean {
  const parsed = url ? parseAbsolute(url.trim()) : undefined;
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.username || parsed.password) return false;
  return hosts.some((pattern) => hostMatches(parsed, pattern.toLowerCase()));
}

function hostMatches(url: URL, pattern: string): boolean {
  const [patternHost = '', patternPort] = pattern.split(':');
  if (patternPort !== undefined && portOf(url) !== patternPort) return false;
  if (patternHost.startsWith('*.')) return url.hostname.endsWith(patternHost.slice(1));
  return url.hostname === patternHost;
}

function portOf(url: URL): string {
  if (url.port) return url.port;
  return url.protocol === 'https:' ? '443' : '80';
}

function parseAbsolute(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}
