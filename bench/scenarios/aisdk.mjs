// aisdk: the AI SDK drop-in (`/v1/ai-sdk/ws`) driven by the real ai 7 `WebSocketChatTransport` and `AbstractChat`
// (as `useChat` drives them), against Parley's own SDK on the same node (PostgreSQL), answers of the demo model
// one at a time, alternating between the two so that a drift over the run weighs on both alike.
// - TTFT overhead: from sending the question to the first text (the first `text-delta` chunk out of the
//   transport; the first `ai.delta` for Parley's SDK), minus the model's TTFT. The endpoint's extra cost is the
//   difference of the two.
// - Stop: after the first text the chat's `stop()` (the transport sends `abort`); the time until a Parley
//   subscriber of the conversation (another connection of the same user) receives `ai.stopped`, and whether
//   any `ai.delta` reached it after that (checked after a round trip on its connection).
// ai 7 declares Node >= 22; its client classes run on Node 20 when given the `ws` constructor.
import { ParleyClient } from '@parley/client';
import { AbstractChat, WebSocketChatTransport } from 'ai7';
import WebSocket from 'ws';
import { sleep } from '../lib/load.mjs';
import { createBackends, startParley } from '../lib/servers.mjs';
import { token } from '../lib/tokens.mjs';

/** The bound the issue sets for Stop → `ai.stopped`; reported, not enforced. */
export const STOP_BOUND_MS = 100;
const USER = 'aisdk-user';

/** The chat state `useChat` keeps, in memory. */
class MemoryState {
  status = 'ready';
  error = undefined;
  messages = [];
  pushMessage = (message) => void this.messages.push(message);
  popMessage = () => void this.messages.pop();
  replaceMessage = (index, message) => void (this.messages[index] = message);
  snapshot = (thing) => structuredClone(thing);
}

class Chat extends AbstractChat {
  constructor(id, transport) {
    super({ id, transport, state: new MemoryState() });
  }
}

/** The transport, with a tap that notes when its first text chunk comes out. */
function tappedTransport(inner, onFirstText) {
  const tap = (stream) => {
    let seen = false;
    return stream.pipeThrough(
      new TransformStream({
        transform(chunk, controller) {
          if (!seen && chunk.type === 'text-delta') {
            seen = true;
            onFirstText(performance.now());
          }
          controller.enqueue(chunk);
        },
      }),
    );
  };
  return {
    sendMessages: async (options) => tap(await inner.sendMessages(options)),
    reconnectToStream: async (options) => {
      const stream = await inner.reconnectToStream(options);
      return stream === null ? null : tap(stream);
    },
  };
}

/** Resolves with the first value `test` accepts among `subscription`'s `kind` items, or null after `timeoutMs`. */
function first(subscription, kind, test, timeoutMs) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => (off(), resolve(null)), timeoutMs);
    const off = subscription.on(kind, (item) => {
      if (!test(item)) return;
      clearTimeout(timer);
      off();
      resolve(performance.now());
    });
  });
}

/** One answer through Parley's SDK: TTFT overhead, then Stop, so that the answers stay short. */
async function parleyAnswer(watcher, ttftMs, timeoutMs) {
  const { conversation } = await watcher.open({ assistant: 'assistant' });
  const subscription = watcher.subscribe(conversation.id);
  await subscription.ready;
  const firstDelta = first(subscription, 'signal', (signal) => signal.type === 'ai.delta', timeoutMs);
  const ended = first(subscription, 'event', (event) => event.type === 'ai.stopped' || event.type === 'ai.completed' || event.type === 'ai.failed', timeoutMs);
  const sentAt = performance.now();
  await watcher.send(conversation.id, 'Tell me a long story');
  const firstAt = await firstDelta;
  await watcher.stopGeneration(conversation.id);
  await ended;
  await subscription.unsubscribe();
  return firstAt === null ? null : firstAt - sentAt - ttftMs;
}

/** One answer through `/v1/ai-sdk/ws`: TTFT overhead, then Stop as seen by a Parley subscriber. */
async function aiSdkAnswer(watcher, url, ttftMs, timeoutMs) {
  const { conversation } = await watcher.open({ assistant: 'assistant' });
  const subscription = watcher.subscribe(conversation.id);
  await subscription.ready;
  const heard = [];
  subscription.on('event', (event) => heard.push(event.type));
  subscription.on('signal', (signal) => heard.push(signal.type));
  let firstText;
  const firstTextAt = new Promise((resolve) => (firstText = resolve));
  const inner = new WebSocketChatTransport({ url, headers: async () => ({ Authorization: `Bearer ${await token(USER)}` }), webSocket: WebSocket });
  const chat = new Chat(conversation.id, tappedTransport(inner, firstText));
  try {
    const sentAt = performance.now();
    const sending = chat.sendMessage({ text: 'Tell me a long story' });
    const firstAt = await Promise.race([firstTextAt, sleep(timeoutMs).then(() => null)]);
    const stoppedAt = first(subscription, 'event', (event) => event.type === 'ai.stopped', timeoutMs);
    const abortAt = performance.now();
    await chat.stop();
    const stopped = await stoppedAt;
    await sending;
    // A round trip on the subscriber's connection after ai.stopped: anything published before it has arrived.
    await watcher.history(conversation.id);
    const after = heard.slice(heard.indexOf('ai.stopped') + 1);
    return {
      ttftOverheadMs: firstAt === null ? null : firstAt - sentAt - ttftMs,
      stopMs: stopped === null ? null : stopped - abortAt,
      stopped: stopped !== null,
      deltasAfterStop: stopped === null ? 0 : after.filter((type) => type === 'ai.delta').length,
    };
  } finally {
    await subscription.unsubscribe();
    await chat.dispose?.();
    inner.close?.();
  }
}

/** `{ answers, ttftMs, tokensPerSecond, tokens, timeoutMs }` */
export async function run({ answers, ttftMs, tokensPerSecond, tokens, timeoutMs }) {
  const backends = await createBackends();
  const server = await startParley({
    ...backends.env,
    PARLEY_DEMO_TTFT_MS: String(ttftMs),
    PARLEY_DEMO_TOKENS_PER_SECOND: String(tokensPerSecond),
    PARLEY_DEMO_ANSWER_TOKENS: String(tokens),
  });
  const watcher = new ParleyClient({ url: server.wsUrl, token: () => token(USER), WebSocket, transports: ['websocket'] });
  watcher.on('error', () => undefined);
  const url = `${server.wsUrl.replace('/v1/ws', '')}/v1/ai-sdk/ws`;
  const parley = [];
  const aiSdk = [];
  try {
    await watcher.connect();
    for (let index = 0; index < answers; index++) {
      parley.push(await parleyAnswer(watcher, ttftMs, timeoutMs));
      aiSdk.push(await aiSdkAnswer(watcher, url, ttftMs, timeoutMs));
    }
  } finally {
    watcher.close();
    await server.stop();
    await backends.release();
  }
  const parleyTtft = percentiles(parley.filter((value) => value !== null));
  const aiSdkTtft = percentiles(aiSdk.map((answer) => answer.ttftOverheadMs).filter((value) => value !== null));
  const stop = percentiles(aiSdk.map((answer) => answer.stopMs).filter((value) => value !== null));
  return {
    store: 'postgresql',
    modelTtftMs: ttftMs,
    answers,
    ttftOverheadMs: {
      parleySdk: parleyTtft,
      aiSdkEndpoint: aiSdkTtft,
      addedByEndpoint: { p50: difference(aiSdkTtft.p50, parleyTtft.p50), p99: difference(aiSdkTtft.p99, parleyTtft.p99) },
    },
    stop: {
      answers: aiSdk.length,
      stopped: aiSdk.filter((answer) => answer.stopped).length,
      withDeltaAfterStop: aiSdk.filter((answer) => answer.deltasAfterStop > 0).length,
      stopToStoppedMs: stop,
      boundMs: STOP_BOUND_MS,
      withinBound: stop.p99 !== null && stop.p99 <= STOP_BOUND_MS,
    },
  };
}

function percentiles(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const pick = (q) => (sorted.length === 0 ? null : Number(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))].toFixed(1)));
  return { samples: sorted.length, p50: pick(0.5), p99: pick(0.99), max: pick(1) };
}

const difference = (a, b) => (a === null || b === null ? null : Number((a - b).toFixed(1)));
