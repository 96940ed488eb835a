import { ParleyClient, type ConversationEvent } from '@parley/client';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.js';
import { createTestSchema, DATABASE_URL } from '../support/postgres.js';
import { deleteTestKeys, REDIS_URL } from '../support/redis.js';
import { startServer } from '../support/server.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { token } from '../support/tokens.js';

const CLIENTS = 50;
const CONVERSATIONS = 10;
const MESSAGES_PER_CLIENT = 20; // 1,000 in all

/**
 * 50 clients on two nodes (behind one proxy each, standing in for a load balancer) send 1,000 messages in
 * 10 conversations while one node is killed with SIGKILL; its clients reconnect to the other node.
 */
describe('failover of a gateway under load', () => {
  it('SIGKILL of a node with 1,000 messages in flight: every member gets every message once, in order', async () => {
    const schema = await createTestSchema();
    const prefix = `parley-failover-${process.pid}-${Date.now()}`;
    const env = { DATABASE_URL, PARLEY_DATABASE_SCHEMA: schema.schema, PARLEY_REDIS_URL: REDIS_URL, PARLEY_REDIS_PREFIX: prefix, PARLEY_RATE_PER_SECOND: '1000', PARLEY_RATE_BURST: '1000', PARLEY_USER_SEND_RATE_PER_SECOND: '10000', PARLEY_USER_SEND_BURST: '10000' };
    const nodes = [await startServer(env), await startServer(env)];
    const proxies = [await TcpProxy.start(nodes[0]!.port), await TcpProxy.start(nodes[1]!.port)];
    const clients: ParleyClient[] = [];
    try {
      const users = Array.from({ length: CLIENTS }, (_, index) => `user-${index}`);
      for (const [index, user] of users.entries()) {
        const proxy = proxies[index % 2]!;
        clients.push(new ParleyClient({ url: `ws://127.0.0.1:${proxy.port}/v1/ws`, token: () => token(user), WebSocket: WebSocket as never, reconnect: { initialDelayMs: 50, maxDelayMs: 500 } }));
      }
      await Promise.all(clients.map((client) => client.connect()));
      // Conversation k has the users k, k+10, k+20, ...: members on both nodes.
      const conversationIds: string[] = [];
      for (let conversation = 0; conversation < CONVERSATIONS; conversation++) {
        const members = users.filter((_, index) => index % CONVERSATIONS === conversation);
        const { conversation: opened } = await clients[conversation]!.open({ members });
        conversationIds.push(opened.id);
      }
      const received = clients.map(() => [] as ConversationEvent[]);
      await Promise.all(
        clients.map((client, index) => {
          const subscription = client.subscribe(conversationIds[index % CONVERSATIONS]!, { since: 0 });
          subscription.on('event', (event) => received[index]!.push(event));
          return subscription.ready;
        }),
      );

      let sentCount = 0;
      const sending = clients.map(async (client, index) => {
        for (let message = 0; message < MESSAGES_PER_CLIENT; message++) {
          await client.send(conversationIds[index % CONVERSATIONS]!, `m ${index}.${message}`);
          sentCount++;
        }
      });
      await eventually(() => expect(sentCount).toBeGreaterThan(300));
      proxies[0]!.retarget(nodes[1]!.port);
      await nodes[0]!.kill(); // in flight: about 700 messages are not sent yet
      await Promise.all(sending);

      const expectedPerConversation = (CLIENTS / CONVERSATIONS) * MESSAGES_PER_CLIENT;
      await eventually(() => {
        for (const events of received) expect(events.filter((event) => event.type === 'message.created').length).toBeGreaterThanOrEqual(expectedPerConversation);
      }, 60_000);
      let lost = 0;
      let duplicated = 0;
      let delivered = 0;
      for (const [index, events] of received.entries()) {
        const texts = events.filter((event) => event.type === 'message.created').map((event) => (event.data.content as { text: string }).text);
        const expected = users
          .map((_, sender) => sender)
          .filter((sender) => sender % CONVERSATIONS === index % CONVERSATIONS)
          .flatMap((sender) => Array.from({ length: MESSAGES_PER_CLIENT }, (_, message) => `m ${sender}.${message}`));
        lost += expected.filter((text) => !texts.includes(text)).length;
        duplicated += texts.length - new Set(texts).size;
        delivered += texts.length;
        expect(events.map((event) => event.seq)).toEqual(events.map((_, position) => position + 1));
      }
      console.log(JSON.stringify({ scenario: 'gateway-sigkill', clients: CLIENTS, sent: CLIENTS * MESSAGES_PER_CLIENT, deliveries: delivered, lost, duplicated }));
      expect({ lost, duplicated }).toEqual({ lost: 0, duplicated: 0 });
      expect(delivered).toBe(CLIENTS * expectedPerConversation);
    } finally {
      for (const client of clients) client.close();
      for (const proxy of proxies) await proxy.close();
      for (const node of nodes) if (node.process.exitCode === null && node.process.signalCode === null) await node.stop();
      await deleteTestKeys(prefix);
      await schema.drop();
    }
  });
});
