import type { ConversationEvent, Signal } from '@parley/protocol';
import { Redis } from 'ioredis';
import type { Bus, BusListener, BusMessage, ControlMessage, HotLogRange } from '../../core/ports.js';
import { conversationKeyString, type ConversationKey } from '../../core/types.js';
import { isDown, requireConnected } from './connected.js';
import { defineScripts } from './scripts.js';

/** Where the Redis bus keeps things and for how long. */
export interface RedisBusOptions {
  url: string;
  /** Prefix of every key and channel (isolates deployments and test runs). */
  prefix: string;
  /** Events kept per conversation in its hot log. */
  hotLogSize: number;
  /** How long an idle conversation's hot log lives. */
  hotLogTtlMs: number;
}

const CLOSE_TIMEOUT_MS = 1000;

/** A channel this node asked for: its local listeners, and the SSUBSCRIBE that makes it live. */
interface SubscribedChannel {
  listeners: Set<BusListener>;
  subscribed: Promise<void>;
}

interface PublishEventCommand {
  publishEvent(hotLog: string, channel: string, seq: number, event: string, size: number, ttlMs: number, message: string): Promise<number>;
}

/**
 * The Bus over Redis: a capped, seq-sorted hot log per conversation (a sorted set with a TTL) and sharded
 * pub/sub, written together by one Lua script. Every key of a conversation shares the hash tag
 * `{tenant/conversation}`, so it works on Redis Cluster. A node subscribes only to the channels of
 * conversations that have local subscribers (the Hub asks). Nothing here is durable: PostgreSQL is.
 */
export class RedisBus implements Bus {
  private readonly commands: Redis & PublishEventCommand;
  private readonly subscriber: Redis;
  private readonly channels = new Map<string, SubscribedChannel>();
  private readonly resubscribedListeners: Array<() => void> = [];
  private readonly controlListeners: Array<(message: ControlMessage) => void> = [];
  private readonly topicListeners = new Map<string, Array<(message: unknown) => void>>();
  private subscriberWasReady = false;
  private channelSubscriber: Redis | null = null;

  constructor(private readonly options: RedisBusOptions) {
    this.commands = new Redis(options.url, { maxRetriesPerRequest: 2, lazyConnect: false }) as Redis & PublishEventCommand;
    defineScripts(this.commands, { publishEvent: 'publish-event-2.lua' });
    this.subscriber = new Redis(options.url, { maxRetriesPerRequest: null });
    // Connection errors are retried by ioredis; operations report their own failures.
    this.commands.on('error', () => undefined);
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('smessage', (channel: string, message: string) => this.dispatch(channel, message));
    // ioredis re-subscribes by itself after a reconnect, right after emitting 'ready'; a PING queued behind
    // those commands answers once the channels are live again. What was published in between is gone.
    this.subscriber.on('ready', () => {
      if (!this.subscriberWasReady) {
        this.subscriberWasReady = true;
        return;
      }
      setImmediate(() => {
        const notify = () => this.resubscribedListeners.forEach((listener) => listener());
        this.subscriber.ping().then(notify, notify);
      });
    });
  }

  onResubscribed(listener: () => void): void {
    this.resubscribedListeners.push(listener);
  }

  async publishControl(message: ControlMessage): Promise<void> {
    requireConnected(this.commands);
    await this.commands.publish(this.controlChannel, JSON.stringify(message));
  }

  onControl(listener: (message: ControlMessage) => void): void {
    if (this.controlListeners.length === 0) this.subscribePlain(this.controlChannel).catch(() => undefined);
    this.controlListeners.push(listener);
  }

  async publishTopic(topic: string, message: unknown): Promise<void> {
    await this.commands.publish(this.topicChannel(topic), JSON.stringify(message));
  }

  /** Subscribes the node to the topic's channel on its first listener; ioredis subscribes again after a reconnect. */
  async onTopic(topic: string, listener: (message: unknown) => void): Promise<void> {
    const channel = this.topicChannel(topic);
    const listeners = this.topicListeners.get(channel);
    if (listeners) {
      listeners.push(listener);
      return;
    }
    this.topicListeners.set(channel, [listener]);
    await this.subscribePlain(channel);
  }

  /**
   * Subscribes the plain connection to `channel` once it is ready: a SUBSCRIBE sent while ioredis still runs
   * its ready check can be dropped when another follows it (seen: the first of two vanished, unanswered).
   */
  private async subscribePlain(channel: string): Promise<void> {
    const subscriber = this.plainSubscriber();
    if (subscriber.status !== 'ready') await new Promise<void>((resolve) => subscriber.once('ready', () => resolve()));
    await subscriber.subscribe(channel);
  }

  /**
   * The connection of control messages and topics (plain SUBSCRIBE). Not the conversations' connection: ioredis
   * loses track of a plain SUBSCRIBE on a connection whose last sharded channel is unsubscribed (its replies
   * then fail as "Command queue state error"), and every node-to-node message would go unheard.
   */
  private plainSubscriber(): Redis {
    if (this.channelSubscriber) return this.channelSubscriber;
    const subscriber = new Redis(this.options.url, { maxRetriesPerRequest: null });
    subscriber.on('error', () => undefined);
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.controlChannel) this.dispatchControl(message);
      else this.dispatchTopic(channel, message);
    });
    this.channelSubscriber = subscriber;
    return subscriber;
  }

  private dispatchControl(message: string): void {
    let parsed: ControlMessage;
    try {
      parsed = JSON.parse(message) as ControlMessage;
    } catch {
      return; // not ours
    }
    for (const each of this.controlListeners) each(parsed);
  }

  async publishEvent(event: ConversationEvent): Promise<void> {
    // Redis down: fail now, so that the log delivers the event on this node at once and retries the publish
    // later, instead of the publish waiting in ioredis's queue.
    requireConnected(this.commands);
    const key = { tenant: event.tenant, conversationId: event.conversation };
    const json = JSON.stringify(event);
    await this.commands.publishEvent(this.hotLogKey(key), this.channel(key), event.seq, json, this.options.hotLogSize, this.options.hotLogTtlMs, `{"kind":"event","event":${json}}`);
  }

  async publishSignal(signal: Signal): Promise<void> {
    requireConnected(this.commands);
    const message: BusMessage = { kind: 'signal', signal };
    await this.commands.spublish(this.channel({ tenant: signal.tenant, conversationId: signal.conversation }), JSON.stringify(message));
  }

  async subscribe(key: ConversationKey, listener: BusListener): Promise<() => Promise<void>> {
    const name = this.channel(key);
    let channel = this.channels.get(name);
    if (!channel) {
      // While Redis is down the SSUBSCRIBE waits in ioredis's queue (this connection retries forever) and
      // completes once it is back; a second subscriber of the channel meanwhile waits for the same one.
      const created: SubscribedChannel = { listeners: new Set(), subscribed: this.subscriber.ssubscribe(name).then(() => undefined) };
      created.subscribed.catch(() => {
        if (this.channels.get(name) === created) this.channels.delete(name);
      });
      this.channels.set(name, created);
      channel = created;
    }
    channel.listeners.add(listener);
    try {
      await channel.subscribed;
    } catch (error) {
      channel.listeners.delete(listener);
      throw error;
    }
    const subscribed = channel;
    return async () => {
      subscribed.listeners.delete(listener);
      if (subscribed.listeners.size > 0 || this.channels.get(name) !== subscribed) return;
      this.channels.delete(name);
      const unsubscribed = this.subscriber.sunsubscribe(name);
      // Redis down: the SSUNSUBSCRIBE waits in the queue, ahead of any later SSUBSCRIBE of the channel, so
      // the order holds without waiting for Redis to come back.
      if (this.subscriber.status !== 'ready') return void unsubscribed.catch(() => undefined);
      await unsubscribed;
    };
  }

  async readHotLog(key: ConversationKey, after: number, limit: number): Promise<HotLogRange> {
    // Redis down: say at once that the hot log cannot vouch for anything, so the store answers now rather
    // than after ioredis's reconnect attempts.
    if (isDown(this.commands)) return { events: [], complete: false };
    const hotLog = this.hotLogKey(key);
    const results = await this.commands
      .multi()
      .zrange(hotLog, 0, 0, 'WITHSCORES')
      .zrangebyscore(hotLog, `(${after}`, '+inf', 'LIMIT', 0, limit)
      .exec();
    const oldest = (results?.[0]?.[1] as string[] | undefined)?.[1];
    const events = ((results?.[1]?.[1] as string[] | undefined) ?? []).map((json) => JSON.parse(json) as ConversationEvent);
    // Complete only if the log still reaches back to after + 1: trimmed, expired or lost logs do not.
    return { events, complete: oldest !== undefined && Number(oldest) <= after + 1 };
  }

  /** Resolves when both connections (commands, and the subscriber that carries the live feed) are up and Redis answers; for readiness. */
  async check(): Promise<void> {
    for (const [role, connection] of [['command', this.commands], ['subscriber', this.subscriber]] as const) {
      if (connection.status !== 'ready') throw new Error(`Redis ${role} connection is ${connection.status}`);
    }
    await this.commands.ping();
  }

  /** The command connection, shared with the other Redis adapters of this node. */
  get connection(): Redis {
    return this.commands;
  }

  /** Closes both connections; never waits for a Redis that is down (QUIT would wait for a reconnect). */
  async close(): Promise<void> {
    this.channels.clear();
    this.subscriber.disconnect();
    this.channelSubscriber?.disconnect();
    if (this.commands.status !== 'ready') return this.commands.disconnect();
    const quit = this.commands.quit().catch(() => undefined);
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, CLOSE_TIMEOUT_MS).unref());
    await Promise.race([quit, deadline]);
    this.commands.disconnect();
  }

  private dispatch(channel: string, message: string): void {
    const set = this.channels.get(channel)?.listeners;
    if (!set) return;
    let parsed: BusMessage;
    try {
      parsed = JSON.parse(message) as BusMessage;
    } catch {
      return; // not ours: another writer on the channel
    }
    for (const listener of set) listener(parsed);
  }

  private dispatchTopic(channel: string, message: string): void {
    const listeners = this.topicListeners.get(channel);
    if (!listeners) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      return; // not ours: another writer on the channel
    }
    for (const listener of listeners) listener(parsed);
  }

  private topicChannel(topic: string): string {
    return `${this.options.prefix}:topic:${topic}`;
  }

  /** One channel for all nodes: control messages are rare. */
  private get controlChannel(): string {
    return `${this.options.prefix}:control`;
  }

  private hotLogKey(key: ConversationKey): string {
    return `${this.options.prefix}:hot:{${conversationKeyString(key)}}`;
  }

  private channel(key: ConversationKey): string {
    return `${this.options.prefix}:ch:{${conversationKeyString(key)}}`;
  }
}
