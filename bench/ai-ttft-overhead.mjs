// Measures the time to first token that Parley adds on top of the model's own: a client sends a question
// and times the first `ai.delta` it receives; the demo model waits exactly MODEL_TTFT_MS before its first
// token, so the difference is Parley's overhead (commit, queue, context, AI SDK, delta publish, delivery).
// Usage: node bench/ai-ttft-overhead.mjs [questions=50]   (after `npm install`, which builds)
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { WebSocket } from 'ws';
import { ParleyClient } from '@parley/client';

const QUESTIONS = Number(process.argv[2] ?? 50);
const MODEL_TTFT_MS = 200;
const dataDir = mkdtempSync(join(tmpdir(), 'parley-bench-'));
const server = spawn(process.execPath, ['packages/server/dist/cli.js', 'start'], {
  env: { ...process.env, PORT: '0', HOST: '127.0.0.1', PARLEY_DATA_DIR: dataDir, PARLEY_JWT_SECRET: '', PARLEY_DEMO_TTFT_MS: String(MODEL_TTFT_MS), PARLEY_DEMO_TOKENS_PER_SECOND: '200', PARLEY_RATE_PER_SECOND: '1000', PARLEY_RATE_BURST: '1000', PARLEY_LOG_LEVEL: 'info' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const port = await new Promise((resolve) => {
  createInterface({ input: server.stdout }).on('line', (line) => {
    if (line.includes('"listening"')) resolve(JSON.parse(line).port);
  });
});
const base = `http://127.0.0.1:${port}`;
const token = async () => (await (await fetch(`${base}/v1/dev/token?user=bench&tenant=bench`)).json()).token;
const client = new ParleyClient({ url: `ws://127.0.0.1:${port}/v1/ws`, token, WebSocket });
await client.connect();

const overheads = [];
for (let index = 0; index < QUESTIONS; index++) {
  const { conversation } = await client.open({ assistant: 'assistant' });
  const subscription = client.subscribe(conversation.id);
  await subscription.ready;
  let sentAt = 0;
  const firstDelta = new Promise((resolve) => {
    const off = subscription.on('signal', (signal) => {
      if (signal.type === 'ai.delta') {
        off();
        resolve(performance.now());
      }
    });
  });
  const ended = new Promise((resolve) => subscription.on('event', (event) => event.type.startsWith('ai.') && event.type !== 'ai.started' && event.type !== 'ai.tool_call' && event.type !== 'ai.tool_result' && resolve()));
  sentAt = performance.now();
  await client.send(conversation.id, 'How long does shipping take?');
  overheads.push((await firstDelta) - sentAt - MODEL_TTFT_MS);
  await ended;
  await subscription.unsubscribe();
}
// Stop latency: from the `ai.stop` request to the client receiving `ai.stopped`.
const stops = [];
for (let index = 0; index < Math.min(QUESTIONS, 20); index++) {
  const { conversation } = await client.open({ assistant: 'assistant' });
  const subscription = client.subscribe(conversation.id);
  await subscription.ready;
  const streaming = new Promise((resolve) => subscription.on('signal', (signal) => signal.type === 'ai.delta' && resolve()));
  const stopped = new Promise((resolve) => subscription.on('event', (event) => event.type === 'ai.stopped' && resolve(performance.now())));
  await client.send(conversation.id, 'tell me a long story');
  await streaming;
  const stopAt = performance.now();
  await client.stopGeneration(conversation.id);
  stops.push((await stopped) - stopAt);
  await subscription.unsubscribe();
}
stops.sort((a, b) => a - b);

client.close();
server.kill('SIGTERM');
await new Promise((resolve) => server.on('exit', resolve));
rmSync(dataDir, { recursive: true, force: true });

overheads.sort((a, b) => a - b);
const pick = (q) => overheads[Math.min(overheads.length - 1, Math.floor(q * overheads.length))].toFixed(1);
const stopPick = (q) => stops[Math.min(stops.length - 1, Math.floor(q * stops.length))].toFixed(1);
console.log(JSON.stringify({ scenario: 'ai-ttft-overhead', questions: QUESTIONS, modelTtftMs: MODEL_TTFT_MS, store: 'pglite', overheadMs: { p50: pick(0.5), p95: pick(0.95), max: overheads.at(-1).toFixed(1) } }));
console.log(JSON.stringify({ scenario: 'ai-stop-latency', stops: stops.length, stopToStoppedEventMs: { p50: stopPick(0.5), p95: stopPick(0.95), max: stops.at(-1).toFixed(1) } }));
