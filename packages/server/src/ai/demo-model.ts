import type {
  LanguageModelV3,
  LanguageModelV3CallOptions,
  LanguageModelV3Content,
  LanguageModelV3GenerateResult,
  LanguageModelV3Prompt,
  LanguageModelV3StreamPart,
  LanguageModelV3StreamResult,
  LanguageModelV3Usage,
} from '@ai-sdk/provider';
import { KNOWLEDGE_HEADER } from './knowledge-context.js';
import { SUMMARY_INSTRUCTIONS } from './memory.js';

/** Pace of the scripted demo model. */
export interface DemoModelOptions {
  /** Delay before the first token. */
  ttftMs: number;
  tokensPerSecond: number;
  /** When above 0, every text answer is exactly this many tokens (repeated or cut), so benchmarks control its length. */
  answerTokens?: number;
}

const INTRODUCTION = "I'm Parley's demo model, a scripted stand-in for a real AI.";

/** The built-in FAQ: the first entry whose pattern matches the question answers it. */
const FAQ: ReadonlyArray<{ pattern: RegExp; answer: string }> = [
  { pattern: /\b(hello|hi|hey)\b/i, answer: `Hello! ${INTRODUCTION} Ask me about shipping, returns or opening hours, or ask "where is my order 1234?".` },
  { pattern: /\b(ship|shipping|deliver|delivery)\b/i, answer: 'Standard shipping takes 2 to 4 business days and is free above 50 euros. Express shipping arrives the next business day for 9 euros.' },
  { pattern: /\b(return|refund|exchange)\b/i, answer: 'You can return any item within 30 days. Start a return from your order page; the refund reaches your account within 5 business days of our receiving the parcel.' },
  { pattern: /\b(hours|open|opening|closed)\b/i, answer: 'Our support team is available Monday to Friday, 8:00 to 18:00 CET. This chat answers around the clock.' },
  { pattern: /\b(parley|demo|who are you|what are you)\b/i, answer: `${INTRODUCTION} Parley streams my answer token by token; set PARLEY_LLM_BASE_URL to talk to a real model instead.` },
  { pattern: /\b(long|story|essay)\b/i, answer: `Here is a long answer, useful to try Stop and reload. ${'Parley keeps every event in an ordered log, so a client that reloads in the middle of an answer receives the text so far and then the rest. '.repeat(6)}` },
];

const FALLBACK = `${INTRODUCTION} I can answer questions about shipping, returns and opening hours, look up an order ("where is my order 1234?") or open a support ticket ("I want to talk to a human").`;

/** Tool intents: a pattern on the user's text, the tool it calls and how its input is read from the text. */
const INTENTS: ReadonlyArray<{ pattern: RegExp; tool: string; input: (match: RegExpExecArray, text: string) => Record<string, unknown> }> = [
  { pattern: /\bcancel\b.*?\border\s*(?:number\s*|no\.?\s*|#\s*)?(\d{3,10})\b/i, tool: 'cancel_order', input: (match) => ({ orderId: match[1] }) },
  { pattern: /\border\s*(?:number\s*|no\.?\s*|#\s*)?(\d{3,10})\b/i, tool: 'lookup_order', input: (match) => ({ orderId: match[1] }) },
  { pattern: /\b(human|agent|person|representative)\b/i, tool: 'handoff_to_human', input: (_match, text) => ({ reason: `the customer asked: ${text.slice(0, 200)}` }) },
  { pattern: /\b(human|agent|person|ticket|complain)/i, tool: 'create_support_ticket', input: (_match, text) => ({ subject: text.slice(0, 120) }) },
];

/**
 * A deterministic, offline language model implementing the AI SDK's LanguageModelV3: FAQ answers, tool
 * calls on recognizable intents, answers that use tool results, at a configurable pace. It says it is a demo.
 */
export class DemoLanguageModel implements LanguageModelV3 {
  readonly specificationVersion = 'v3';
  readonly provider = 'parley-demo';
  readonly modelId = 'demo';
  readonly supportedUrls = {};

  constructor(private readonly options: DemoModelOptions) {}

  async doGenerate(options: LanguageModelV3CallOptions): Promise<LanguageModelV3GenerateResult> {
    const reply = this.reply(options);
    const content: LanguageModelV3Content[] = reply.toolCall
      ? [{ type: 'tool-call', toolCallId: reply.toolCall.id, toolName: reply.toolCall.name, input: JSON.stringify(reply.toolCall.input) }]
      : [{ type: 'text', text: reply.text }];
    return { content, finishReason: finish(reply.toolCall !== null), usage: usage(options.prompt, reply.text), warnings: [] };
  }

  async doStream(options: LanguageModelV3CallOptions): Promise<LanguageModelV3StreamResult> {
    const reply = this.reply(options);
    const parts = toParts(reply);
    const { ttftMs, tokensPerSecond } = this.options;
    const signal = options.abortSignal;
    const stream = new ReadableStream<LanguageModelV3StreamPart>({
      async start(controller) {
        try {
          controller.enqueue({ type: 'stream-start', warnings: [] });
          // Paced by the clock, not by chained timers: like a remote model, it keeps its pace when this
          // process is busy, and what is late arrives together.
          const firstAt = performance.now() + ttftMs;
          let tokens = 0;
          for (const part of parts) {
            if (part.type === 'text-delta' || part.type === 'tool-call') {
              const due = firstAt + (tokens++ * 1000) / tokensPerSecond;
              if (due > performance.now()) await sleep(due - performance.now(), signal);
              else if (signal?.aborted) throw signal.reason ?? new Error('aborted');
            }
            controller.enqueue(part);
          }
          controller.enqueue({ type: 'finish', finishReason: finish(reply.toolCall !== null), usage: usage(options.prompt, reply.text) });
          controller.close();
        } catch (error) {
          controller.error(error);
        }
      },
    });
    return { stream };
  }

  private reply(options: LanguageModelV3CallOptions): Reply {
    const system = options.prompt[0]?.role === 'system' ? options.prompt[0].content : '';
    if (system === SUMMARY_INSTRUCTIONS) return { text: summarize(lastUserText(options.prompt)), toolCall: null };
    const lastMessage = options.prompt.at(-1);
    if (lastMessage?.role === 'tool') return { text: answerFromToolResults(options.prompt), toolCall: null };
    const images = lastUserImages(options.prompt);
    if (images.length > 0) return { text: sized(describeImages(images), this.options.answerTokens ?? 0), toolCall: null };
    const question = lastUserText(options.prompt);
    const toolNames = new Set((options.tools ?? []).map((tool) => tool.name));
    for (const intent of INTENTS) {
      const match = intent.pattern.exec(question);
      if (match && toolNames.has(intent.tool)) {
        return { text: '', toolCall: { id: `call_${Math.abs(hash(question)).toString(36)}`, name: intent.tool, input: intent.input(match, question) } };
      }
    }
    const cited = quoteTopPassage(typeof system === 'string' ? system : '');
    return { text: sized(cited ?? FAQ.find((entry) => entry.pattern.test(question))?.answer ?? FALLBACK, this.options.answerTokens ?? 0), toolCall: null };
  }
}

// Characters of the top passage the demo model quotes.
const QUOTE_CHARACTERS = 300;

/**
 * With knowledge-base passages in the system prompt, the demo's answer quotes the first (best) one and cites
 * it as [1], as a real model told to cite would. Null without passages.
 */
function quoteTopPassage(system: string): string | null {
  const section = system.indexOf(KNOWLEDGE_HEADER);
  if (section < 0) return null;
  const start = system.indexOf('[1] ', section + KNOWLEDGE_HEADER.length);
  if (start < 0) return null;
  const end = system.indexOf('\n\n[2] ', start);
  const [where = '', ...lines] = system.slice(start + 4, end < 0 ? undefined : end).split('\n');
  const text = lines.join(' ').replace(/\s+/g, ' ').trim();
  const quote = text.length > QUOTE_CHARACTERS ? `${text.slice(0, text.lastIndexOf(' ', QUOTE_CHARACTERS))} …` : text;
  return `From "${where}": ${quote} [1] (${INTRODUCTION} It quotes the best passage of your knowledge base.)`;
}

interface Reply {
  text: string;
  toolCall: { id: string; name: string; input: Record<string, unknown> } | null;
}

/** The answer's tokens repeated or cut to exactly `tokens` of them (0: the answer as it is). */
export function sized(answer: string, tokens: number): string {
  if (tokens === 0) return answer;
  const words = tokenize(answer);
  return Array.from({ length: tokens }, (_, index) => words[index % words.length]!.trimEnd()).join(' ');
}

/** One token per word, with its trailing space, the way real models stream. */
function tokenize(text: string): string[] {
  return text.match(/\S+\s*/g) ?? [];
}

function toParts(reply: Reply): LanguageModelV3StreamPart[] {
  if (reply.toolCall) {
    return [{ type: 'tool-call', toolCallId: reply.toolCall.id, toolName: reply.toolCall.name, input: JSON.stringify(reply.toolCall.input) }];
  }
  const tokens = tokenize(reply.text);
  return [
    { type: 'text-start', id: 'text-0' },
    ...tokens.map((delta): LanguageModelV3StreamPart => ({ type: 'text-delta', id: 'text-0', delta })),
    { type: 'text-end', id: 'text-0' },
  ];
}

function answerFromToolResults(prompt: LanguageModelV3Prompt): string {
  const results = prompt.flatMap((message) => (message.role === 'tool' ? message.content : [])).filter((part) => part.type === 'tool-result');
  const last = results.at(-1);
  if (!last) return FALLBACK;
  const output = last.output.type === 'json' ? (last.output.value as Record<string, unknown>) : { text: String((last.output as { value?: unknown }).value) };
  // A tool that failed or timed out (not a denial, which the cancellation answer below explains).
  if (typeof output.error === 'string' && output.error !== 'denied') return `I could not use ${last.toolName} just now (${String(output.message ?? output.error)}). Please try again later. (${INTRODUCTION})`;
  if (last.toolName === 'lookup_order') {
    if (output.found === false) return `I could not find order ${String(output.orderId)}. Please check the number on your confirmation email.`;
    return `Order ${String(output.orderId)} is ${String(output.status)}: ${String(output.detail)} (${INTRODUCTION})`;
  }
  if (last.toolName === 'cancel_order') {
    if (output.error === 'denied') return `Okay, I did not cancel anything. (${INTRODUCTION})`;
    return `Order ${String(output.orderId)} is cancelled. (${INTRODUCTION})`;
  }
  if (last.toolName === 'create_support_ticket') {
    return `I opened support ticket ${String(output.ticketId)} for you; a person from our team will reply here. (${INTRODUCTION})`;
  }
  return `The ${last.toolName} tool answered: ${JSON.stringify(output)}`;
}

/** An extractive summary: the earlier summary, then the user's questions of the transcript. */
function summarize(request: string): string {
  const earlier = /Summary of what came before:\n([\s\S]*?)\n\n/.exec(request)?.[1] ?? '';
  const questions = [...request.matchAll(/^User: (.*)$/gm)].map((match) => match[1]!.slice(0, 80));
  const parts = [earlier, questions.length ? `The user asked: ${questions.map((question) => `"${question}"`).join('; ')}.` : ''].filter(Boolean);
  return parts.join(' ').slice(-600) || 'Nothing of note yet.';
}

function lastUserText(prompt: LanguageModelV3Prompt): string {
  for (let index = prompt.length - 1; index >= 0; index--) {
    const message = prompt[index]!;
    if (message.role === 'user') return message.content.map((part) => (part.type === 'text' ? part.text : '')).join(' ');
  }
  return '';
}

/** The image file parts of the last user message, with their bytes (the demo model reads no URLs). */
function lastUserImages(prompt: LanguageModelV3Prompt): Array<{ mediaType: string; bytes: Uint8Array }> {
  const last = [...prompt].reverse().find((message) => message.role === 'user');
  if (last?.role !== 'user') return [];
  return last.content.flatMap((part) => (part.type === 'file' && part.mediaType.startsWith('image/') && part.data instanceof Uint8Array ? [{ mediaType: part.mediaType, bytes: part.data }] : []));
}

/** What the demo model can honestly say about images: their type, size and, for PNG and GIF, their pixels. */
function describeImages(images: Array<{ mediaType: string; bytes: Uint8Array }>): string {
  const described = images.map(({ mediaType, bytes }) => {
    const pixels = pixelSize(mediaType, bytes);
    return `a ${mediaType.slice('image/'.length).toUpperCase()} image of ${bytes.byteLength} bytes${pixels ? `, ${pixels.width}x${pixels.height} pixels` : ''}`;
  });
  return `I received ${described.join(' and ')}. ${INTRODUCTION} I cannot see what an image shows, only its type and size.`;
}

/** Width and height from a PNG's IHDR chunk or a GIF's logical screen descriptor; null for other formats. */
function pixelSize(mediaType: string, bytes: Uint8Array): { width: number; height: number } | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (mediaType === 'image/png' && bytes.byteLength >= 24) return { width: view.getUint32(16), height: view.getUint32(20) };
  if (mediaType === 'image/gif' && bytes.byteLength >= 10) return { width: view.getUint16(6, true), height: view.getUint16(8, true) };
  return null;
}

function finish(toolCalls: boolean) {
  return { unified: toolCalls ? ('tool-calls' as const) : ('stop' as const), raw: undefined };
}

/** Token counts estimated at four characters a token: the demo model has no tokenizer. */
function usage(prompt: LanguageModelV3Prompt, text: string): LanguageModelV3Usage {
  const promptChars = JSON.stringify(prompt).length;
  return {
    inputTokens: { total: Math.ceil(promptChars / 4), noCache: undefined, cacheRead: undefined, cacheWrite: undefined },
    outputTokens: { total: Math.ceil(text.length / 4), text: undefined, reasoning: undefined },
  };
}

function hash(text: string): number {
  let value = 0;
  for (const char of text) value = (value * 31 + char.charCodeAt(0)) | 0;
  return value;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error('aborted'));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason ?? new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
