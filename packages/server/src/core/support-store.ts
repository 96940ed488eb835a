import type { Actor, AgentStatus, BusinessHours, Causation, ConversationEvent, KnownEventType, StaffEvent, SupportReport } from '@parley/protocol';
import type { ConversationKey, ConversationRecord, Page, SupportRecord } from './types.js';
import type { ActivityCursor } from './member-store.js';

/** An event a transition appends, in the members' sequence or (staff-only types) the staff sequence. */
export interface PlannedEvent {
  type: KnownEventType;
  actor: Actor;
  data: Record<string, unknown>;
  causation?: Causation;
}

/** A measured service interval (or a handoff), for the support report. */
export interface SupportInterval {
  kind: 'queue_wait' | 'first_response' | 'resolution' | 'handoff';
  reason?: string;
  agent?: string | null;
  team?: string | null;
  ms: number;
}

/** What a transition changes, decided from the conversation as it stands under its lock. */
export interface TransitionPlan {
  patch: Partial<Omit<SupportRecord, 'lastStaffSeq'>>;
  /** Appended in order; staff-only types take staff seqs. */
  events: PlannedEvent[];
  intervals?: SupportInterval[];
  /** Routing: the new assignee must be online, connected since `connectedSince`, and under capacity (checked under its row lock). */
  capacityOf?: { agentId: string; connectedSince: number };
  /** Adds this user to the conversation's members (an assigned agent: read markers and the agent's list). */
  addMember?: string;
  /** The customer's rating of a resolution; a second one for the same resolution is a `conflict`. */
  rating?: { resolution: number; rating: number; comment: string | null; agentId: string | null; team: string | null };
}

export interface AgentRecord {
  tenant: string;
  userId: string;
  name: string | null;
  picture: string | null;
  teams: string[];
  skills: string[];
  capacity: number;
  status: AgentStatus;
  lastSeenAt: number;
  lastAssignedAt: number;
  /** Conversations the agent owns now (mode `agent`). */
  open: number;
}

export interface TeamRecord {
  tenant: string;
  id: string;
  name: string;
  skills: string[];
  businessHours: BusinessHours | null;
}

export interface CannedReplyRecord {
  tenant: string;
  id: string;
  team: string | null;
  shortcut: string;
  text: string;
}

/** Which support conversations an inbox lists. */
export interface InboxQuery {
  tenant: string;
  view: 'queue' | 'mine' | 'team' | 'all';
  agentId: string;
  /** The teams the viewer serves; null: every team (admins). */
  teams: string[] | null;
  /** One team only (the `team` view's filter). */
  team?: string;
  after: ActivityCursor | null;
  limit: number;
}

/**
 * The support desk's storage: conversation modes and assignments (changed with their events in one
 * transaction), the staff-only sequence, agents, teams, canned replies, ratings and service intervals.
 */
export interface SupportStore {
  /**
   * Locks the rows the change touches (the agents' first, in id order, then the conversation's), lets `plan`
   * decide from the conversation as it stands (throwing `conflict` for an illegal transition), then writes
   * the patch, the events and the intervals in the same transaction.
   */
  transition(key: ConversationKey, agentIds: string[], plan: (current: ConversationRecord) => TransitionPlan): Promise<{ conversation: ConversationRecord; events: ConversationEvent[]; staffEvents: StaffEvent[] }>;
  /** Appends a staff-only event; with `causation.clientMsgId`, a repeat by the same actor returns the original. */
  appendStaff(key: ConversationKey, event: PlannedEvent): Promise<{ event: StaffEvent; duplicate: boolean }>;
  /** Staff-only events with staff seq > after, ascending. */
  readStaff(key: ConversationKey, after: number, limit: number): Promise<StaffEvent[]>;

  getAgent(tenant: string, userId: string): Promise<AgentRecord | null>;
  listAgents(tenant: string): Promise<AgentRecord[]>;
  /** Creates or updates an agent's settings (teams, skills, capacity; a name if given). */
  putAgent(tenant: string, userId: string, settings: { name?: string | null; teams: string[]; skills: string[]; capacity: number }): Promise<AgentRecord>;
  deleteAgent(tenant: string, userId: string): Promise<boolean>;
  /** Sets an agent's status (registering the agent with default settings if new), with their display name and picture. */
  setAgentStatus(tenant: string, userId: string, status: AgentStatus, profile: { name: string | null; picture: string | null }, now: number): Promise<AgentRecord>;
  /** Marks agents as connected now (every node reports its connected agents periodically). */
  agentsSeen(tenant: string, userIds: string[], now: number): Promise<void>;

  listTeams(tenant: string): Promise<TeamRecord[]>;
  getTeam(tenant: string, id: string): Promise<TeamRecord | null>;
  putTeam(team: TeamRecord): Promise<TeamRecord>;
  deleteTeam(tenant: string, id: string): Promise<boolean>;

  listCanned(tenant: string, teams: string[] | null): Promise<CannedReplyRecord[]>;
  putCanned(reply: CannedReplyRecord): Promise<CannedReplyRecord>;
  deleteCanned(tenant: string, id: string): Promise<boolean>;

  /** Tenants with conversations waiting in a queue. */
  queuedTenants(): Promise<string[]>;
  /** A tenant's queued conversations, by priority (highest first), then longest waiting. */
  listQueue(tenant: string, limit: number): Promise<ConversationRecord[]>;
  /** Agents who could take a conversation of `team` needing `skills` now: online, connected since `connectedSince`, under capacity; fewest open first, then least recently assigned. */
  availableAgents(tenant: string, team: string | null, skills: string[], connectedSince: number): Promise<AgentRecord[]>;
  /** Assignments not accepted by `assignedBefore`, or whose agent was last connected before `connectedSince`. */
  staleAssignments(assignedBefore: number, connectedSince: number, limit: number): Promise<Array<{ key: ConversationKey; agentId: string; reason: 'not_accepted' | 'agent_offline' }>>;
  /** Handed-off conversations whose handoff never reached the queue (its node died in between), last active before `before`. */
  stalledHandoffs(before: number, limit: number): Promise<ConversationKey[]>;
  /** Average queue wait (ms) of a team's last assignments, or null with no history. */
  averageWait(tenant: string, team: string | null): Promise<number | null>;

  /** Support conversations of an inbox view, most recently active first, each with the viewer's read marker (0: not a member). */
  inbox(query: InboxQuery): Promise<Page<{ conversation: ConversationRecord; lastReadSeq: number }, ActivityCursor> & { counts: { queue: number; mine: number; team: number; all: number } }>;
  report(tenant: string, from: number, to: number): Promise<SupportReport>;
}
