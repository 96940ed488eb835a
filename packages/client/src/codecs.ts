import { jsonCodec, type Codec } from '@parley/protocol';

/** How frames travel: `json` (text frames, subprotocol parley.v1.json) or `msgpack` (binary, parley.v1.msgpack). */
export type CodecName = 'json' | 'msgpack';

/** The codec names a client accepts. */
export const CODEC_NAMES: readonly CodecName[] = ['json', 'msgpack'];

/**
 * The named codec. MessagePack is imported on first use, so that an application using JSON bundles none
 * of it (bundlers split a dynamic import into a chunk of its own).
 */
export async function loadCodec(name: CodecName): Promise<Codec> {
  if (name === 'json') return jsonCodec;
  const { msgpackCodec } = await import('@parley/protocol/msgpack');
  return msgpackCodec;
}

/**
 * A received message's data as the codec expects it: text stays text; binary data (an ArrayBuffer with
 * `binaryType = 'arraybuffer'`, or a Node Buffer) becomes bytes. Undefined for anything else (a Blob).
 */
export function frameData(data: unknown): string | Uint8Array | undefined {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return undefined;
}
