import { useEffect, useMemo, useState } from 'react';
import type { HighlighterCore, ThemedToken } from 'shiki/core';

/**
 * Syntax highlighting for code blocks with Shiki, loaded on the first code block (it is most of the cost
 * of highlighting, so pages without code never download it), with the grammars of common languages, each
 * loaded when first needed. Once a grammar is in, highlighting is synchronous, so a code block that grows
 * while an answer streams is highlighted on every render without flashing back to plain text.
 */

const GRAMMARS: Record<string, () => Promise<{ default: unknown[] }>> = {
  bash: () => import('shiki/dist/langs/bash.mjs'),
  c: () => import('shiki/dist/langs/c.mjs'),
  cpp: () => import('shiki/dist/langs/cpp.mjs'),
  csharp: () => import('shiki/dist/langs/csharp.mjs'),
  css: () => import('shiki/dist/langs/css.mjs'),
  diff: () => import('shiki/dist/langs/diff.mjs'),
  dockerfile: () => import('shiki/dist/langs/dockerfile.mjs'),
  go: () => import('shiki/dist/langs/go.mjs'),
  html: () => import('shiki/dist/langs/html.mjs'),
  java: () => import('shiki/dist/langs/java.mjs'),
  javascript: () => import('shiki/dist/langs/javascript.mjs'),
  json: () => import('shiki/dist/langs/json.mjs'),
  jsx: () => import('shiki/dist/langs/jsx.mjs'),
  kotlin: () => import('shiki/dist/langs/kotlin.mjs'),
  markdown: () => import('shiki/dist/langs/markdown.mjs'),
  php: () => import('shiki/dist/langs/php.mjs'),
  python: () => import('shiki/dist/langs/python.mjs'),
  ruby: () => import('shiki/dist/langs/ruby.mjs'),
  rust: () => import('shiki/dist/langs/rust.mjs'),
  sql: () => import('shiki/dist/langs/sql.mjs'),
  swift: () => import('shiki/dist/langs/swift.mjs'),
  toml: () => import('shiki/dist/langs/toml.mjs'),
  tsx: () => import('shiki/dist/langs/tsx.mjs'),
  typescript: () => import('shiki/dist/langs/typescript.mjs'),
  xml: () => import('shiki/dist/langs/xml.mjs'),
  yaml: () => import('shiki/dist/langs/yaml.mjs'),
};

const ALIASES: Record<string, string> = { sh: 'bash', shell: 'bash', zsh: 'bash', console: 'bash', 'c++': 'cpp', cs: 'csharp', js: 'javascript', mjs: 'javascript', ts: 'typescript', py: 'python', rb: 'ruby', rs: 'rust', md: 'markdown', yml: 'yaml', kt: 'kotlin', docker: 'dockerfile' };

/** The light and the dark theme; the page picks one with `prefers-color-scheme` (markdown.css). */
const THEMES = { light: 'github-light', dark: 'github-dark' } as const;

/** The grammar name for a code fence's language, or undefined when it has none here. */
export function grammarOf(language: string): string | undefined {
  const name = language.toLowerCase();
  const grammar = ALIASES[name] ?? name;
  return grammar in GRAMMARS ? grammar : undefined;
}

let highlighter: Promise<HighlighterCore> | undefined;
/** The highlighter once created, for synchronous use. */
let core: HighlighterCore | undefined;
/** Grammars loaded into `core`. */
const loaded = new Set<string>();
const loading = new Map<string, Promise<void>>();

function loadHighlighter(): Promise<HighlighterCore> {
  highlighter ??= (async () => {
    const [{ createHighlighterCore }, { createJavaScriptRegexEngine }] = await Promise.all([import('shiki/core'), import('shiki/engine/javascript')]);
    core = await createHighlighterCore({
      // Forgiving: a grammar with a regex the JavaScript engine cannot run highlights the rest instead of failing.
      engine: createJavaScriptRegexEngine({ forgiving: true }),
      themes: [import('shiki/dist/themes/github-light.mjs'), import('shiki/dist/themes/github-dark.mjs')],
      langs: [],
    });
    return core;
  })();
  return highlighter;
}

function loadGrammar(grammar: string): Promise<void> {
  let promise = loading.get(grammar);
  if (!promise) {
    promise = loadHighlighter().then(async (instance) => {
      await instance.loadLanguage((await GRAMMARS[grammar]!()).default as Parameters<HighlighterCore['loadLanguage']>[0]);
      // The first tokenization with a grammar can colour some tokens with the wrong theme colours (seen in
      // Chromium, not in Node): a throwaway first run keeps that from what the reader sees.
      instance.codeToTokens('const a = 1;', { lang: grammar, themes: THEMES });
      loaded.add(grammar);
    });
    loading.set(grammar, promise);
  }
  return promise;
}

/** The tokens of `code` in `language` once its grammar is loaded (it loads on first use); undefined before, or without a grammar. */
export function useHighlighted(code: string, language: string): ThemedToken[][] | undefined {
  const grammar = grammarOf(language);
  const ready = grammar !== undefined && loaded.has(grammar);
  const [, setLoads] = useState(0);
  useEffect(() => {
    if (!grammar || loaded.has(grammar)) return;
    let current = true;
    loadGrammar(grammar).then(
      () => current && setLoads((count) => count + 1),
      (error: unknown) => console.debug('parley: no highlighting for', grammar, error),
    );
    return () => {
      current = false;
    };
  }, [grammar]);
  return useMemo(() => {
    if (!ready || !core) return undefined;
    try {
      return core.codeToTokens(code, { lang: grammar, themes: THEMES }).tokens;
    } catch (error) {
      console.debug('parley: highlighting failed', error);
      return undefined;
    }
  }, [code, grammar, ready]);
}
