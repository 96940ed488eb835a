/** Deepest nesting of objects and arrays a frame may have; deeper input is refused before schema validation. */
export const MAX_JSON_DEPTH = 32;

// A high surrogate not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why a string cannot travel or be stored (PostgreSQL's jsonb refuses both), or null when it can. */
export function stringProblem(text: string): string | null {
  if (text.includes('\u0000')) return 'strings may not contain U+0000';
  if (LONE_SURROGATE.test(text)) return 'strings may not contain unpaired UTF-16 surrogates';
  return null;
}

/**
 * Checks decoded JSON without recursion: nesting depth, and every key and string value.
 * Returns the first problem found, or null. Runs before schema validation, whose recursion deep input could exhaust.
 */
export function jsonProblem(value: unknown, maxDepth = MAX_JSON_DEPTH): string | null {
  const pending: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  for (let item = pending.pop(); item; item = pending.pop()) {
    if (typeof item.value === 'string') {
      const problem = stringProblem(item.value);
      if (problem) return problem;
      continue;
    }
    if (typeof item.value !== 'object' || item.value === null) continue;
    if (item.depth >= maxDepth) return `nesting deeper than ${maxDepth} levels`;
    for (const [key, child] of Object.entries(item.value)) {
      const problem = stringProblem(key);
      if (problem) return problem;
      pending.push({ value: child, depth: item.depth + 1 });
    }
  }
  return null;
}
