import type { ConversationEvent } from '@parley/protocol';
import { z } from 'zod';
import type { Bus, Reaction, ReactionCursors } from '../core/ports.js';
import { conversationKeyString, type ConversationKey } from '../core/types.js';
import { ReactionLane, type LaneObserver, type LaneSettings } from './lane.js';

/** The bus topic on which a node that commits events wakes the nodes that run the reactions it does not. */
export const WAKE_TOPIC = 'reactions.wake';
// Conversations named in one wake message at most (a busy node's commits of one event-loop turn are batched).
const WAKE_BATCH = 500;

const wakeMessageSchema = z.object({
  reactions: z.array(z.string()).max(100),
  conversations: z.array(z.tuple([z.string(), z.string()])).max(WAKE_BATCH),
});
type WakeMessage = z.infer<typeof wakeMessageSchema>;

/** Timings of the runner: its lanes' and its sweep's. */
export interface RunnerSettings extends LaneSettings {
  /** How often each reaction's sweep runs (one node at a time) and each node looks for conversations due. */
  sweepIntervalMs: number;
  /** Conversations one sweep marks at most, and due conversations one look takes at most. */
  sweepLimit: number;
}

/** What the runner reports, for metrics and logs. */
export interface RunnerObserver extends LaneObserver {
  /** A sweep, a look for due conversations or a wake publish failed; the next one tries again. */
  sweepFailed?(reaction: string, error: unknown): void;
}

/**
 * Runs the app's reactions on this node (those `runsHere` selects) and wakes the others' nodes. Which
 * conversations to visit: (a) each one this node commits an event to, right after the commit, and those
 * other nodes name over the bus; (b) each one the periodic sweep finds changed and behind, or due (a
 * retry, a lease of a dead node). Each reaction has a lane of its own, so a slow one never delays another.
 */
export class ReactionRunner {
  private readonly reactions: Reaction[] = [];
  private readonly lanes: ReactionLane[] = [];
  /** The reactions that other nodes run: this node's commits wake them over the bus. */
  private readonly remote: string[] = [];
  /** Conversations committed to since the last flush, with their events in commit order. */
  private readonly woken = new Map<string, { key: ConversationKey; events: ConversationEvent[] }>();
  private flushScheduled = false;
  private sweepTimer: ReturnType<typeof setTimeout> | null = null;
  private sweeping: Promise<void> = Promise.resolve();
  private running = false;

  constructor(
    private readonly cursors: ReactionCursors,
    private readonly bus: Pick<Bus, 'publishTopic' | 'onTopic'>,
    private readonly settings: RunnerSettings,
    private readonly observer: RunnerObserver = {},
  ) {}

  /**
   * Adds a reaction of the app, before `start`. Every node adds every reaction, and runs it if `runsHere`
   * (by its role); a node that does not run one wakes the nodes that do when it commits an event.
   */
  add(reaction: Reaction, options: { runsHere: boolean }): void {
    if (this.running) throw new Error('reactions are added before the runner starts');
    if (!/^[a-z0-9-]{1,64}$/.test(reaction.name)) throw new Error(`reaction name ${JSON.stringify(reaction.name)}: lowercase letters, digits and dashes`);
    if (this.reactions.some((known) => known.name === reaction.name)) throw new Error(`two reactions are named ${reaction.name}`);
    this.reactions.push(reaction);
    if (options.runsHere) this.lanes.push(new ReactionLane(reaction, this.cursors, this.settings, this.observer));
    else this.remote.push(reaction.name);
  }

  /** The names of the reactions this node runs. */
  get local(): string[] {
    return this.lanes.map((lane) => lane.reaction.name);
  }

  /**
   * Registers every reaction (wherever it runs, so that each starts with the first node that knows it),
   * listens for wakes, and sweeps at once (catching up on what was committed while no node ran) and then
   * every interval.
   */
  async start(): Promise<void> {
    for (const reaction of this.reactions) await this.cursors.register(reaction.name);
    this.running = true;
    if (this.lanes.length === 0) return;
    // Not awaited: with the bus down the subscription completes once it is back; sweeps cover the meantime.
    this.bus.onTopic(WAKE_TOPIC, (message) => this.onWakeMessage(message)).catch((error: unknown) => this.observer.sweepFailed?.(WAKE_TOPIC, error));
    this.scheduleSweep(0);
  }

  /** Called right after an event is committed on this node: wakes this node's reactions and, over the bus, the others'. */
  committed(event: ConversationEvent): void {
    if (!this.running) return;
    const key = { tenant: event.tenant, conversationId: event.conversation };
    const name = conversationKeyString(key);
    const woken = this.woken.get(name);
    if (woken) woken.events.push(event);
    else this.woken.set(name, { key, events: [event] });
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // After the current turn: the commits of one turn wake together, and the sender's code that runs on
    // the commit (an admission handing over its reservation) has run before the reaction looks.
    setImmediate(() => this.flushWakes());
  }

  /** The backlog of each reaction this node runs, as far as the sweep sees it (NaN where the store cannot be read). */
  backlogs(): Promise<Array<{ reaction: string; oldestTs: number | null; events: number }>> {
    return Promise.all(
      this.lanes.map(async ({ reaction }) => {
        try {
          return { reaction: reaction.name, ...(await this.cursors.backlog(reaction.name, this.lookbackMs)) };
        } catch {
          return { reaction: reaction.name, oldestTs: Number.NaN, events: Number.NaN };
        }
      }),
    );
  }

  /** Stops sweeping and waking; waits up to `graceMs` for visits under way. */
  async stop(graceMs: number): Promise<void> {
    this.running = false;
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.sweepTimer = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // A sweep waiting on a store that does not answer must not hold the shutdown up.
    const sweepDone = Promise.race([this.sweeping, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    await Promise.all([sweepDone, ...this.lanes.map((lane) => lane.stop(graceMs))]);
    clearTimeout(timer);
  }

  private flushWakes(): void {
    this.flushScheduled = false;
    const woken = [...this.woken.values()];
    this.woken.clear();
    for (const { key, events } of woken) for (const lane of this.lanes) for (const event of events) lane.wake(key, event);
    const keys = woken.map(({ key }) => key);
    if (this.remote.length === 0) return;
    for (let start = 0; start < keys.length; start += WAKE_BATCH) {
      const message: WakeMessage = { reactions: this.remote, conversations: keys.slice(start, start + WAKE_BATCH).map((key) => [key.tenant, key.conversationId]) };
      this.bus.publishTopic(WAKE_TOPIC, message).catch((error: unknown) => this.observer.sweepFailed?.(WAKE_TOPIC, error));
    }
  }

  private onWakeMessage(message: unknown): void {
    const parsed = wakeMessageSchema.safeParse(message);
    if (!parsed.success || !this.running) return;
    const lanes = this.lanes.filter((lane) => parsed.data.reactions.includes(lane.reaction.name));
    for (const [tenant, conversationId] of parsed.data.conversations) for (const lane of lanes) lane.wake({ tenant, conversationId });
  }

  /** The sweep's look back: a commit's delay after its stamp, plus a lease that a dead holder let run out. */
  private get lookbackMs(): number {
    return this.settings.lookbackMs + this.settings.leaseMs;
  }

  private scheduleSweep(delayMs: number): void {
    if (!this.running) return;
    this.sweepTimer = setTimeout(() => {
      this.sweeping = this.sweepAll().finally(() => this.scheduleSweep(this.settings.sweepIntervalMs));
    }, delayMs);
    this.sweepTimer.unref();
  }

  /** Each local reaction: the sweep (if no other node has it now), then every conversation due is woken here. */
  private async sweepAll(): Promise<void> {
    const { sweepLimit, sweepIntervalMs } = this.settings;
    for (const lane of this.lanes) {
      const name = lane.reaction.name;
      try {
        await this.cursors.sweep(name, { lookbackMs: this.lookbackMs, limit: sweepLimit, intervalMs: sweepIntervalMs });
        for (const key of await this.cursors.due(name, sweepLimit)) lane.wake(key);
      } catch (error) {
        this.observer.sweepFailed?.(name, error);
      }
    }
  }
}
