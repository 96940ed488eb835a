import { contentText, type GenerationState, type ParleyEvent, type ParleyStaffEvent } from '@parley/client';

/** Who wrote something, as the console tells people apart. */
export type AuthorKind = 'customer' | 'agent' | 'assistant' | 'system';

/** A message of the customer or an agent. */
export interface MessageItem {
  kind: 'message';
  key: string;
  authorKind: AuthorKind;
  authorId: string;
  mine: boolean;
  text: string;
  status: 'sending' | 'sent' | 'failed';
  error?: string;
  /** The customer's sentiment as the server measured it for this message. */
  sentiment?: { label: 'negative' | 'neutral' | 'positive'; score: number };
}

/** An answer of the assistant, streaming or finished. */
export interface AnswerItem {
  kind: 'answer';
  key: string;
  generationId: string;
  status: GenerationState['status'];
  text: string;
  error?: string;
}

/** A private note between agents: never shown to the customer. */
export interface NoteItem {
  kind: 'note';
  key: string;
  authorId: string;
  mine: boolean;
  text: string;
  status: 'sending' | 'sent' | 'failed';
  error?: string;
}

/** What the assistant wrote for the agents at a handoff. */
export interface SummaryItem {
  kind: 'summary';
  key: string;
  text: string;
  reason: string;
}

/** A line about what happened: handoff, queue, assignment, resolution, rating, a routing decision. */
export interface SystemItem {
  kind: 'system';
  key: string;
  text: string;
  /** Staff-only lines (routing decisions) are marked as such. */
  staff: boolean;
}

export type TimelineItem = MessageItem | AnswerItem | NoteItem | SummaryItem | SystemItem;

/**
 * Where an item sits: members' events by `seq`; a staff event right after the members' event it follows
 * (`afterSeq`), by `staffSeq`; items not yet stored (a message or note being sent) last, in the order written.
 */
interface Position {
  seq: number;
  staffSeq: number;
}

const UNPLACED = Number.MAX_SAFE_INTEGER;

/** Names to show for ids: agents (from assignments, viewing signals, the agent list) and the customer. */
export type Names = ReadonlyMap<string, string>;

/**
 * One conversation as the console shows it: members' events and staff-only events merged into one list,
 * answers assembled by `Generations`, the latest summary and sentiment kept aside for the header.
 */
export class Timeline {
  private readonly entries = new Map<string, { item: TimelineItem; position: Position }>();
  private unplaced = 0;
  /** Pending notes by the event id the server gave them, for notes whose event carries no clientMsgId. */
  private readonly noteKeys = new Map<string, string>();
  /** The latest summary of a handoff. */
  summary: SummaryItem | undefined;
  /** The customer's latest sentiment. */
  sentiment: { label: 'negative' | 'neutral' | 'positive'; score: number } | undefined;
  private readonly sentimentBySeq = new Map<number, { label: 'negative' | 'neutral' | 'positive'; score: number }>();

  private customerId: string | undefined;

  constructor(private readonly me: string) {}

  /** The customer (the conversation's creator): their messages show as the customer's. */
  setCustomer(customerId: string): void {
    this.customerId = customerId;
  }

  /** The items in order. */
  items(): TimelineItem[] {
    return [...this.entries.values()].sort((a, b) => a.position.seq - b.position.seq || a.position.staffSeq - b.position.staffSeq).map((entry) => entry.item);
  }

  /** Adds a members' event; an assignment adds the agent's name to `names`. */
  addEvent(event: ParleyEvent, names: Map<string, string>): void {
    const position = { seq: event.seq, staffSeq: 0 };
    switch (event.type) {
      case 'message.created': {
        const clientMsgId = event.causation?.clientMsgId;
        const key = clientMsgId ? `message:${event.actor.id}:${clientMsgId}` : `event:${event.id}`;
        const text = contentText(event.data.content);
        const sentiment = this.sentimentBySeq.get(event.seq);
        const item: MessageItem = {
          kind: 'message',
          key,
          authorKind: this.authorKind(event.actor),
          authorId: event.actor.id,
          mine: event.actor.id === this.me && event.actor.kind !== 'assistant',
          text,
          status: 'sent',
          ...(sentiment ? { sentiment } : {}),
        };
        return this.put(item, position);
      }
      case 'ai.started':
        return this.placeAnswer(event.data.generationId, position);
      case 'conversation.assigned':
        if (event.data.agentName) names.set(event.data.agentId, event.data.agentName);
        break;
      default:
        break;
    }
    const text = describeEvent(event, names);
    if (text) this.put({ kind: 'system', key: `event:${event.id}`, text, staff: false }, position);
  }

  /** Adds a staff-only event. */
  addStaffEvent(event: ParleyStaffEvent, names: Names): void {
    const position = { seq: event.afterSeq, staffSeq: event.staffSeq };
    switch (event.type) {
      case 'note.created': {
        const clientMsgId = event.causation?.clientMsgId;
        const key = this.noteKeys.get(event.id) ?? (clientMsgId ? `note:${event.actor.id}:${clientMsgId}` : `staff:${event.id}`);
        return this.put({ kind: 'note', key, authorId: event.actor.id, mine: event.actor.id === this.me, text: event.data.text, status: 'sent' }, position);
      }
      case 'support.summary': {
        const item: SummaryItem = { kind: 'summary', key: `staff:${event.id}`, text: event.data.text, reason: event.data.reason };
        this.summary = item;
        return this.put(item, position);
      }
      case 'support.sentiment': {
        const sentiment = { label: event.data.label, score: event.data.score };
        this.sentiment = sentiment;
        this.sentimentBySeq.set(event.data.messageSeq, sentiment);
        for (const entry of this.entries.values()) {
          if (entry.item.kind === 'message' && entry.position.seq === event.data.messageSeq && entry.position.staffSeq === 0) entry.item = { ...entry.item, sentiment };
        }
        return;
      }
      case 'routing.decided': {
        const who = event.data.agentId ? nameOf(event.data.agentId, names) : 'nobody yet';
        const text = `Routing: ${who} (${event.data.reason}, waited ${formatDuration(event.data.waitingMs)})`;
        return this.put({ kind: 'system', key: `staff:${event.id}`, text, staff: true }, position);
      }
      default:
        return;
    }
  }

  /** An answer's text and status changed. */
  updateAnswer(state: GenerationState): void {
    const key = `answer:${state.generationId}`;
    const entry = this.entries.get(key) ?? this.placeAnswerEntry(state.generationId, { seq: UNPLACED, staffSeq: this.unplaced++ });
    const error = state.status === 'failed' ? (state.error?.fallbackText ?? state.error?.message) : undefined;
    entry.item = { kind: 'answer', key, generationId: state.generationId, status: state.status, text: state.text, ...(error ? { error } : {}) };
  }

  /** A message or note this agent is sending: shown at once, placed when its event arrives. */
  addPending(kind: 'message' | 'note', clientMsgId: string, text: string): string {
    const key = `${kind}:${this.me}:${clientMsgId}`;
    const position = { seq: UNPLACED, staffSeq: this.unplaced++ };
    if (kind === 'note') this.put({ kind: 'note', key, authorId: this.me, mine: true, text, status: 'sending' }, position);
    else this.put({ kind: 'message', key, authorKind: 'agent', authorId: this.me, mine: true, text, status: 'sending' }, position);
    return key;
  }

  /** The server stored a pending note as event `eventId` (its staff event may arrive before or after this). */
  confirmNote(key: string, eventId: string): void {
    if (this.entries.has(`staff:${eventId}`)) this.entries.delete(key);
    else this.noteKeys.set(eventId, key);
  }

  /** The server refused a pending message or note. */
  failPending(key: string, error: string): void {
    const entry = this.entries.get(key);
    if (entry && (entry.item.kind === 'message' || entry.item.kind === 'note') && entry.item.status === 'sending') entry.item = { ...entry.item, status: 'failed', error };
  }

  private authorKind(actor: { kind: string; id: string }): AuthorKind {
    if (actor.kind === 'assistant') return 'assistant';
    if (actor.kind === 'agent') return 'agent';
    if (actor.kind === 'system' || actor.kind === 'service') return 'system';
    return actor.id === this.customerId ? 'customer' : 'agent';
  }

  private placeAnswer(generationId: string, position: Position): void {
    const entry = this.entries.get(`answer:${generationId}`);
    if (entry) entry.position = position;
    else this.placeAnswerEntry(generationId, position);
  }

  private placeAnswerEntry(generationId: string, position: Position) {
    const key = `answer:${generationId}`;
    const entry = { item: { kind: 'answer', key, generationId, status: 'streaming', text: '' } as AnswerItem, position };
    this.entries.set(key, entry);
    return entry;
  }

  private put(item: TimelineItem, position: Position): void {
    this.entries.set(item.key, { item, position });
  }
}

/** The name to show for an id. */
export function nameOf(id: string, names: Names): string {
  return names.get(id) ?? id;
}

const HANDOFF_REASONS: Record<string, string> = {
  user: 'The customer asked for a person',
  tool: 'The assistant handed the conversation to a person',
  failures: 'Handed to a person after failed answers',
  sentiment: 'Handed to a person: the customer seems upset',
  rule: 'Handed to a person by a rule',
  agent: 'An agent took the conversation over',
  api: 'Handed to a person by the backend',
};

const QUEUE_REASONS: Record<string, string> = {
  transfer: ' (transferred)',
  not_accepted: ' (the assigned agent did not accept in time)',
  agent_offline: ' (the assigned agent went offline)',
};

/** The line a members' support event shows as; null for events that are not shown as lines. */
export function describeEvent(event: ParleyEvent, names: Names): string | null {
  switch (event.type) {
    case 'handoff.requested':
      return `${HANDOFF_REASONS[event.data.reason] ?? 'Handed to a person'}${event.data.detail ? `: ${event.data.detail}` : ''}`;
    case 'conversation.queued':
      return `Waiting in the ${event.data.team ?? 'default'} queue${QUEUE_REASONS[event.data.reason] ?? ''}`;
    case 'conversation.assigned': {
      const how = event.data.kind === 'claim' ? ' (claimed)' : event.data.kind === 'routing' ? ' (routed)' : '';
      return `${event.data.agentName ?? nameOf(event.data.agentId, names)} joined${how}`;
    }
    case 'conversation.transferred': {
      const to = event.data.toAgentId ? nameOf(event.data.toAgentId, names) : `the ${event.data.toTeam ?? 'default'} queue`;
      return `Transferred to ${to}${event.data.reason ? `: ${event.data.reason}` : ''}`;
    }
    case 'conversation.resolved':
      return `Resolved${event.data.agentId ? ` by ${nameOf(event.data.agentId, names)}` : ''}`;
    case 'conversation.reopened':
      return event.data.mode === 'assistant' ? 'Reopened by the customer: the assistant answers' : `Reopened by ${nameOf(event.actor.id, names)}`;
    case 'conversation.handed_back':
      return 'Handed back to the assistant';
    case 'conversation.closed':
      return 'Closed';
    case 'csat.submitted':
      return `Rated ${event.data.rating} of 5${event.data.comment ? `: “${event.data.comment}”` : ''}`;
    case 'ai.stopped':
      return event.data.reason === 'handoff' ? 'The assistant stopped: handed to a person' : null;
    default:
      return null;
  }
}

/** "12 s", "3 min", "2 h". */
export function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.round(minutes / 60)} h`;
}
