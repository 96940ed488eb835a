import type { RequestId } from './frames.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const MAX_ID_LENGTH = 64;
// The longest a JSON string token can be and still decode to an id: every code unit escaped as \uXXXX, and the quotes.
const MAX_ID_TOKEN = MAX_ID_LENGTH * 6 + 2;
const NUMBER = /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/;

// Not fatal: only the structure is read here; a frame that is not UTF-8 is refused when it is decoded.
const utf8 = new TextDecoder('utf-8');

/**
 * The top-level `id` of a JSON request frame that will not be parsed (too large, rate limited), wherever it
 * stands among the keys: a scan that steps over the other values without building them (strings by
 * `indexOf`), reading at most `maxUnits` characters (bytes, for binary data). Null when there is none, it is
 * not a valid request id, or the scan ran out. With a key given twice it finds the first (JSON.parse keeps
 * the last; such a frame is malformed anyway).
 */
export function peekJsonId(data: string | Uint8Array, maxUnits = Number.POSITIVE_INFINITY): RequestId | null {
  const text = typeof data === 'string' ? (data.length > maxUnits ? data.slice(0, maxUnits) : data) : utf8.decode(data.length > maxUnits ? data.subarray(0, maxUnits) : data);
  try {
    return scan(text);
  } catch {
    return null; // a token that does not decode (a broken escape)
  }
}

function scan(text: string): RequestId | null {
  let at = skipSpace(text, 0);
  if (text.charCodeAt(at) !== OPEN_OBJECT) return null;
  at = skipSpace(text, at + 1);
  while (text.charCodeAt(at) === QUOTE) {
    const keyEnd = skipString(text, at);
    const colon = skipSpace(text, keyEnd);
    if (text.charCodeAt(colon) !== COLON) return null;
    const valueStart = skipSpace(text, colon + 1);
    const valueEnd = skipValue(text, valueStart);
    if (valueEnd > text.length) return null;
    if (isIdKey(text, at, keyEnd)) return idOf(text, valueStart, valueEnd);
    at = skipSpace(text, valueEnd);
    if (text.charCodeAt(at) !== COMMA) return null;
    at = skipSpace(text, at + 1);
  }
  return null;
}

function skipSpace(text: string, from: number): number {
  let at = from;
  for (let code = text.charCodeAt(at); code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09; code = text.charCodeAt(++at));
  return at;
}

/** The position after the string that opens at `from` (a quote), or past the end when it is not closed. */
function skipString(text: string, from: number): number {
  for (let at = from + 1; ; ) {
    const quote = text.indexOf('"', at);
    if (quote < 0) return text.length + 1;
    // Escaped when an odd number of backslashes precede it. Each run of backslashes is counted once.
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    at = quote + 1;
  }
}

/** The position after the value at `from` (an object or array with its nesting, a string, a number or literal), or past the end. */
function skipValue(text: string, from: number): number {
  const first = text.charCodeAt(from);
  if (first === QUOTE) return skipString(text, from);
  if (first === OPEN_OBJECT || first === OPEN_ARRAY) return skipContainer(text, from);
  let at = from;
  for (let code = first; code > 0x20 && code !== COMMA && code !== CLOSE_OBJECT && code !== CLOSE_ARRAY; code = text.charCodeAt(++at));
  // A number cut off by the end of what is scanned may be missing digits: it did not end.
  return at < text.length ? at : text.length + 1;
}

function skipContainer(text: string, from: number): number {
  let depth = 0;
  for (let at = from; at < text.length; at++) {
    const code = text.charCodeAt(at);
    if (code === QUOTE) at = skipString(text, at) - 1;
    else if (code === OPEN_OBJECT || code === OPEN_ARRAY) depth++;
    else if ((code === CLOSE_OBJECT || code === CLOSE_ARRAY) && --depth === 0) return at + 1;
  }
  return text.length + 1;
}

/** Whether the key token [start, end) is "id", also when written with escapes ("\u0069d"). */
function isIdKey(text: string, start: number, end: number): boolean {
  if (end - start === 4) return text.charCodeAt(start + 1) === 0x69 && text.charCodeAt(start + 2) === 0x64;
  // Escaped, "id" is at most two \uXXXX and the quotes long.
  if (end - start > 14) return false;
  const key = text.slice(start, end);
  return key.includes('\\') && JSON.parse(key) === 'id';
}

/** The value token [start, end) as a request id (a string of 1 to 64 characters, or a non-negative safe integer), else null. */
function idOf(text: string, start: number, end: number): RequestId | null {
  if (text.charCodeAt(start) === QUOTE) {
    if (end - start > MAX_ID_TOKEN) return null;
    const id = JSON.parse(text.slice(start, end)) as string;
    return id.length >= 1 && id.length <= MAX_ID_LENGTH ? id : null;
  }
  const token = text.slice(start, end);
  if (!NUMBER.test(token)) return null;
  const id = Number(token);
  return Number.isSafeInteger(id) && id >= 0 ? id : null;
}
