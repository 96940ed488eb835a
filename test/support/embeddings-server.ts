import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Dimensions of the hashing embedder's vectors. */
export const HASHING_DIMENSIONS = 256;

/**
 * A deterministic hashing embedder: each word (lowercased, letters and digits) adds ±1 at a dimension its
 * hash picks, and the vector is normalized. Texts sharing words come out similar. It measures the plumbing
 * (requests, storage, cosine search, fusion), not semantics: synonyms share nothing.
 */
export function hashingEmbedding(text: string): number[] {
  const vector = new Array<number>(HASHING_DIMENSIONS).fill(0);
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
    const digest = createHash('sha256').update(word).digest();
    vector[digest.readUInt16BE(0) % HASHING_DIMENSIONS]! += digest[2]! & 1 ? 1 : -1;
  }
  const norm = Math.hypot(...vector) || 1;
  return vector.map((value) => value / norm);
}

/** A local server speaking OpenAI's `POST /embeddings` with the hashing embedder; it records the inputs it embedded. */
export class EmbeddingsServer {
  readonly inputs: string[][] = [];
  private constructor(private readonly server: Server) {}

  static async start(): Promise<EmbeddingsServer> {
    const server = createServer();
    const instance = new EmbeddingsServer(server);
    server.on('request', (request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        if (request.method !== 'POST' || !request.url?.endsWith('/embeddings')) {
          response.writeHead(404, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: { message: 'not found' } }));
          return;
        }
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { model: string; input: string | string[] };
        const inputs = Array.isArray(body.input) ? body.input : [body.input];
        instance.inputs.push(inputs);
        const data = inputs.map((input, index) => ({ object: 'embedding', index, embedding: hashingEmbedding(input) }));
        const tokens = inputs.reduce((sum, input) => sum + Math.ceil(input.length / 4), 0);
        response.writeHead(200, { 'Content-Type': 'application/json' });
        response.end(JSON.stringify({ object: 'list', data, model: body.model, usage: { prompt_tokens: tokens, total_tokens: tokens } }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return instance;
  }

  /** The base URL to give the OpenAI-compatible provider (`.../v1`). */
  get baseUrl(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
