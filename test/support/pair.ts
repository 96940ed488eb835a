import { expect } from 'vitest';
import { RawClient } from './raw-client.js';

/** Two members of one conversation, both subscribed: `exchange` proves the server still delivers. */
export class Pair {
  private count = 0;
  private constructor(
    readonly a: RawClient,
    readonly b: RawClient,
    readonly conversationId: string,
  ) {}

  static async open(wsUrl: string, tokenA: string, tokenB: string, userB: string, conversationId: string): Promise<Pair> {
    const a = await RawClient.connect(wsUrl, tokenA);
    const b = await RawClient.connect(wsUrl, tokenB);
    await a.call('conversation.open', { conversationId, members: [userB] });
    await a.call('subscribe', { conversationId });
    await b.call('subscribe', { conversationId });
    return new Pair(a, b, conversationId);
  }

  /** Each side sends one message; the other must receive it live. */
  async exchange(): Promise<void> {
    const n = ++this.count;
    for (const [from, to, side] of [[this.a, this.b, 'a'], [this.b, this.a, 'b']] as const) {
      const clientMsgId = `pair-${side}-${n}`;
      const ack = await from.call('message.send', { conversationId: this.conversationId, clientMsgId, content: { type: 'text', text: `still chatting ${n}` } });
      const received = await to.waitFor((frame) => frame.push === 'event' && frame.event.conversation === this.conversationId && frame.event.causation?.clientMsgId === clientMsgId, 5000);
      expect(received.event.seq).toBe(ack.seq);
      expect(received.event.data.content.text).toBe(`still chatting ${n}`);
    }
    expect(this.a.closeCode).toBeNull();
    expect(this.b.closeCode).toBeNull();
  }
}
