import { checkEventData, EVENT_CATALOGUE, isKnownEventType, type AgentStatus, type ConversationEvent, type StaffEvent, type SupportReport } from '@parley/protocol';
import { ParleyError } from '../../core/errors.js';
import type { ActivityCursor } from '../../core/member-store.js';
import type { AgentRecord, CannedReplyRecord, InboxQuery, PlannedEvent, SupportStore, TeamRecord, TransitionPlan } from '../../core/support-store.js';
import type { AppendInput, ConversationKey, ConversationRecord, Page, SupportRecord } from '../../core/types.js';
import { insertEvents, newEvent, toEvent } from './event-rows.js';
import type { SqlDatabase, SqlExecutor } from './sql.js';
import { CONVERSATION_COLUMNS, conversationColumns, toConversation, type ConversationRow } from './conversation-rows.js';

const STAFF_COLUMNS = 'tenant, conversation, staff_seq, after_seq, id, type, ts, actor_kind, actor_id, data, causation';
const AGENT_COLUMNS = `a.tenant, a.user_id, a.name, a.picture, a.teams, a.skills, a.capacity, a.status, a.last_seen_at, a.last_assigned_at,
  (SELECT count(*) FROM parley_conversations c WHERE c.tenant = a.tenant AND c.assignee = a.user_id AND c.mode = 'agent') AS open`;
// Conversations a transition retries when its assignee changed between the first read and the locks.
const TRANSITION_ATTEMPTS = 5;
// Queue waits averaged for the estimate.
const WAIT_SAMPLE = 20;

interface StaffRow {
  tenant: string;
  conversation: string;
  staff_seq: string | number;
  after_seq: string | number;
  id: string;
  type: string;
  ts: string | number;
  actor_kind: StaffEvent['actor']['kind'];
  actor_id: string;
  data: Record<string, unknown>;
  causation: StaffEvent['causation'] | null;
}

interface AgentRow {
  tenant: string;
  user_id: string;
  name: string | null;
  picture: string | null;
  teams: string[];
  skills: string[];
  capacity: number;
  status: AgentStatus;
  last_seen_at: string | number;
  last_assigned_at: string | number;
  open: string | number;
}

/** Thrown inside a transition's transaction when the assignee moved before the locks were taken: retried. */
class AssigneeMoved extends Error {}

/** The SupportStore over PostgreSQL (`pg` or PGlite), in the conversations' database. */
export class PostgresSupportStore implements SupportStore {
  constructor(
    private readonly db: SqlDatabase,
    private readonly largeRoomMembers: number,
  ) {}

  async transition(key: ConversationKey, agentIds: string[], plan: (current: ConversationRecord) => TransitionPlan): Promise<{ conversation: ConversationRecord; events: ConversationEvent[]; staffEvents: StaffEvent[] }> {
    for (let attempt = 1; ; attempt++) {
      const before = await this.getConversation(this.db, key);
      if (!before) throw new ParleyError('not_found', `conversation ${key.conversationId} does not exist`);
      try {
        return await this.db.transaction((tx) => this.transitionIn(tx, key, before.support?.assigneeId ?? null, agentIds, plan));
      } catch (error) {
        if (!(error instanceof AssigneeMoved) || attempt >= TRANSITION_ATTEMPTS) throw error;
      }
    }
  }

  private async transitionIn(tx: SqlExecutor, key: ConversationKey, assigneeSeen: string | null, agentIds: string[], plan: (current: ConversationRecord) => TransitionPlan) {
    // Agents first, then the conversation: every path locks in this order, so capacity and assignment agree.
    const agents = [...new Set([...agentIds, ...(assigneeSeen ? [assigneeSeen] : [])])].sort();
    if (agents.length > 0) {
      await tx.query('SELECT 1 FROM parley_support_agents WHERE tenant = $1 AND user_id = ANY($2::text[]) ORDER BY user_id FOR UPDATE', [key.tenant, agents]);
    }
    await tx.query('SELECT 1 FROM parley_conversations WHERE tenant = $1 AND id = $2 FOR UPDATE', [key.tenant, key.conversationId]);
    const current = await this.getConversation(tx, key);
    if (!current) throw new ParleyError('not_found', `conversation ${key.conversationId} does not exist`);
    if (!current.support) throw new ParleyError('conflict', `conversation ${key.conversationId} is not a support conversation (it has no assistant)`);
    if ((current.support.assigneeId ?? null) !== assigneeSeen) throw new AssigneeMoved();
    const decided = plan(current);
    if (decided.capacityOf) await this.requireCapacity(tx, key.tenant, decided.capacityOf.agentId, decided.capacityOf.connectedSince);
    const support: SupportRecord = { ...current.support, ...decided.patch };
    await tx.query(
      `UPDATE parley_conversations SET mode = $3, team = $4, assignee = $5, assignee_name = $6, accepted = $7, assigned_at = $8, queued_at = $9,
         priority = $10, resolution = $11, rated = $12, first_response_at = $13, handed_off = $14, sentiment = $15
       WHERE tenant = $1 AND id = $2`,
      [key.tenant, key.conversationId, support.mode, support.team, support.assigneeId, support.assigneeName, support.accepted, support.assignedAt, support.queuedAt,
        support.priority, support.resolution, support.rated, support.firstResponseAt, support.handedOff, support.sentiment],
    );
    if (decided.patch.assigneeId && decided.patch.assigneeId !== current.support.assigneeId) {
      await tx.query('UPDATE parley_support_agents SET last_assigned_at = $3 WHERE tenant = $1 AND user_id = $2', [key.tenant, decided.patch.assigneeId, Date.now()]);
    }
    if (decided.addMember) await this.addMember(tx, key, decided.addMember);
    if (decided.rating) {
      const { resolution, rating, comment, agentId, team } = decided.rating;
      const inserted = await tx.query(
        `INSERT INTO parley_csat (tenant, conversation, resolution, rating, comment, agent, team, ts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT DO NOTHING RETURNING resolution`,
        [key.tenant, key.conversationId, resolution, rating, comment, agentId, team, Date.now()],
      );
      if (inserted.rows.length === 0) throw new ParleyError('conflict', `resolution ${resolution} is already rated`);
    }
    const now = Date.now();
    for (const interval of decided.intervals ?? []) {
      await tx.query(
        'INSERT INTO parley_support_intervals (tenant, conversation, kind, reason, agent, team, ended_at, ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
        [key.tenant, key.conversationId, interval.kind, interval.reason ?? null, interval.agent ?? null, interval.team ?? null, now, Math.max(0, Math.round(interval.ms))],
      );
    }
    const events: ConversationEvent[] = [];
    const staffEvents: StaffEvent[] = [];
    for (const planned of decided.events) {
      if (isStaffType(planned.type)) staffEvents.push(await insertStaffEvent(tx, key, planned));
      else {
        const event = toNewEvent(key, planned, now);
        await insertEvents(tx, key, [event]);
        events.push(event);
      }
    }
    const conversation = (await this.getConversation(tx, key))!;
    return { conversation, events, staffEvents };
  }

  private async requireCapacity(tx: SqlExecutor, tenant: string, agentId: string, connectedSince: number): Promise<void> {
    const { rows } = await tx.query<AgentRow>(`SELECT ${AGENT_COLUMNS} FROM parley_support_agents a WHERE a.tenant = $1 AND a.user_id = $2`, [tenant, agentId]);
    const agent = rows[0];
    if (!agent) throw new ParleyError('conflict', `${agentId} is not an agent of this tenant`);
    if (agent.status !== 'online' || Number(agent.last_seen_at) < connectedSince) throw new ParleyError('conflict', `agent ${agentId} is not available`);
    if (Number(agent.open) >= agent.capacity) throw new ParleyError('conflict', `agent ${agentId} is at capacity (${agent.capacity})`);
  }

  private async addMember(tx: SqlExecutor, key: ConversationKey, userId: string): Promise<void> {
    const { rows } = await tx.query(
      `INSERT INTO parley_members (tenant, conversation, user_id, joined_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING user_id`,
      [key.tenant, key.conversationId, userId, Date.now()],
    );
    if (rows.length > 0) await tx.query('UPDATE parley_conversations SET member_count = member_count + 1 WHERE tenant = $1 AND id = $2', [key.tenant, key.conversationId]);
  }

  async appendStaff(key: ConversationKey, planned: PlannedEvent): Promise<{ event: StaffEvent; duplicate: boolean }> {
    if (!isStaffType(planned.type)) throw new ParleyError('internal', `${planned.type} is not a staff-only event`);
    try {
      return { event: await insertStaffEvent(this.db, key, planned), duplicate: false };
    } catch (error) {
      const clientMsgId = planned.causation?.clientMsgId;
      if ((error as { code?: unknown }).code !== '23505' || clientMsgId === undefined) throw error;
    }
    const { rows } = await this.db.query<StaffRow>(
      `SELECT ${STAFF_COLUMNS} FROM parley_staff_events WHERE tenant = $1 AND conversation = $2 AND actor_id = $3 AND client_msg_id = $4`,
      [key.tenant, key.conversationId, planned.actor.id, planned.causation!.clientMsgId],
    );
    if (!rows[0]) throw new ParleyError('internal', 'a repeated staff event could not be read back');
    return { event: toStaffEvent(rows[0]), duplicate: true };
  }

  async readStaff(key: ConversationKey, after: number, limit: number): Promise<StaffEvent[]> {
    const { rows } = await this.db.query<StaffRow>(
      `SELECT ${STAFF_COLUMNS} FROM parley_staff_events WHERE tenant = $1 AND conversation = $2 AND staff_seq > $3 ORDER BY staff_seq LIMIT $4`,
      [key.tenant, key.conversationId, after, limit],
    );
    return rows.map(toStaffEvent);
  }

  async getAgent(tenant: string, userId: string): Promise<AgentRecord | null> {
    const { rows } = await this.db.query<AgentRow>(`SELECT ${AGENT_COLUMNS} FROM parley_support_agents a WHERE a.tenant = $1 AND a.user_id = $2`, [tenant, userId]);
    return rows[0] ? toAgent(rows[0]) : null;
  }

  async listAgents(tenant: string): Promise<AgentRecord[]> {
    const { rows } = await this.db.query<AgentRow>(`SELECT ${AGENT_COLUMNS} FROM parley_support_agents a WHERE a.tenant = $1 ORDER BY a.user_id`, [tenant]);
    return rows.map(toAgent);
  }

  async putAgent(tenant: string, userId: string, settings: { name?: string | null; teams: string[]; skills: string[]; capacity: number }): Promise<AgentRecord> {
    await this.db.query(
      `INSERT INTO parley_support_agents (tenant, user_id, name, teams, skills, capacity) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (tenant, user_id) DO UPDATE SET teams = EXCLUDED.teams, skills = EXCLUDED.skills, capacity = EXCLUDED.capacity,
         name = CASE WHEN $7 THEN EXCLUDED.name ELSE parley_support_agents.name END`,
      [tenant, userId, settings.name ?? null, unique(settings.teams), unique(settings.skills), settings.capacity, settings.name !== undefined],
    );
    return (await this.getAgent(tenant, userId))!;
  }

  async deleteAgent(tenant: string, userId: string): Promise<boolean> {
    const { rows } = await this.db.query('DELETE FROM parley_support_agents WHERE tenant = $1 AND user_id = $2 RETURNING user_id', [tenant, userId]);
    return rows.length > 0;
  }

  async setAgentStatus(tenant: string, userId: string, status: AgentStatus, profile: { name: string | null; picture: string | null }, now: number): Promise<AgentRecord> {
    await this.db.query(
      `INSERT INTO parley_support_agents (tenant, user_id, name, picture, status, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (tenant, user_id) DO UPDATE SET status = EXCLUDED.status, last_seen_at = EXCLUDED.last_seen_at,
         name = COALESCE(EXCLUDED.name, parley_support_agents.name), picture = COALESCE(EXCLUDED.picture, parley_support_agents.picture)`,
      [tenant, userId, profile.name, profile.picture, status, now],
    );
    return (await this.getAgent(tenant, userId))!;
  }

  async agentsSeen(tenant: string, userIds: string[], now: number): Promise<void> {
    if (userIds.length === 0) return;
    await this.db.query('UPDATE parley_support_agents SET last_seen_at = $3 WHERE tenant = $1 AND user_id = ANY($2::text[]) AND last_seen_at < $3', [tenant, userIds, now]);
  }

  async listTeams(tenant: string): Promise<TeamRecord[]> {
    const { rows } = await this.db.query<TeamRow>('SELECT tenant, id, name, skills, business_hours FROM parley_support_teams WHERE tenant = $1 ORDER BY id', [tenant]);
    return rows.map(toTeam);
  }

  async getTeam(tenant: string, id: string): Promise<TeamRecord | null> {
    const { rows } = await this.db.query<TeamRow>('SELECT tenant, id, name, skills, business_hours FROM parley_support_teams WHERE tenant = $1 AND id = $2', [tenant, id]);
    return rows[0] ? toTeam(rows[0]) : null;
  }

  async putTeam(team: TeamRecord): Promise<TeamRecord> {
    await this.db.query(
      `INSERT INTO parley_support_teams (tenant, id, name, skills, business_hours) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (tenant, id) DO UPDATE SET name = EXCLUDED.name, skills = EXCLUDED.skills, business_hours = EXCLUDED.business_hours`,
      [team.tenant, team.id, team.name, unique(team.skills), team.businessHours === null ? null : JSON.stringify(team.businessHours)],
    );
    return team;
  }

  async deleteTeam(tenant: string, id: string): Promise<boolean> {
    const { rows } = await this.db.query('DELETE FROM parley_support_teams WHERE tenant = $1 AND id = $2 RETURNING id', [tenant, id]);
    return rows.length > 0;
  }

  async listCanned(tenant: string, teams: string[] | null): Promise<CannedReplyRecord[]> {
    const { rows } = await this.db.query<{ tenant: string; id: string; team: string | null; shortcut: string; text: string }>(
      `SELECT tenant, id, team, shortcut, text FROM parley_canned_replies
       WHERE tenant = $1 AND ($2::text[] IS NULL OR team IS NULL OR team = ANY($2::text[])) ORDER BY shortcut, id`,
      [tenant, teams],
    );
    return rows;
  }

  async putCanned(reply: CannedReplyRecord): Promise<CannedReplyRecord> {
    await this.db.query(
      `INSERT INTO parley_canned_replies (tenant, id, team, shortcut, text) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (tenant, id) DO UPDATE SET team = EXCLUDED.team, shortcut = EXCLUDED.shortcut, text = EXCLUDED.text`,
      [reply.tenant, reply.id, reply.team, reply.shortcut, reply.text],
    );
    return reply;
  }

  async deleteCanned(tenant: string, id: string): Promise<boolean> {
    const { rows } = await this.db.query('DELETE FROM parley_canned_replies WHERE tenant = $1 AND id = $2 RETURNING id', [tenant, id]);
    return rows.length > 0;
  }

  async queuedTenants(): Promise<string[]> {
    const { rows } = await this.db.query<{ tenant: string }>("SELECT DISTINCT tenant FROM parley_conversations WHERE mode = 'queued'");
    return rows.map((row) => row.tenant);
  }

  async listQueue(tenant: string, limit: number): Promise<ConversationRecord[]> {
    const { rows } = await this.db.query<ConversationRow>(
      `SELECT ${CONVERSATION_COLUMNS} FROM parley_conversations c WHERE c.tenant = $1 AND c.mode = 'queued' AND c.queued_at IS NOT NULL
       ORDER BY c.priority DESC, c.queued_at, c.id LIMIT $2`,
      [tenant, limit, this.largeRoomMembers],
    );
    return rows.map((row) => toConversation(row, this.largeRoomMembers));
  }

  async availableAgents(tenant: string, team: string | null, skills: string[], connectedSince: number): Promise<AgentRecord[]> {
    const { rows } = await this.db.query<AgentRow>(
      `SELECT * FROM (SELECT ${AGENT_COLUMNS} FROM parley_support_agents a
         WHERE a.tenant = $1 AND a.status = 'online' AND a.last_seen_at >= $4 AND ($2::text IS NULL OR $2 = ANY(a.teams)) AND a.skills @> $3::text[]) agents
       WHERE open < capacity ORDER BY open, last_assigned_at, user_id LIMIT 20`,
      [tenant, team, skills, connectedSince],
    );
    return rows.map(toAgent);
  }

  async staleAssignments(assignedBefore: number, connectedSince: number, limit: number): Promise<Array<{ key: ConversationKey; agentId: string; reason: 'not_accepted' | 'agent_offline' }>> {
    const { rows } = await this.db.query<{ tenant: string; id: string; assignee: string; offline: boolean }>(
      `SELECT c.tenant, c.id, c.assignee, COALESCE(a.last_seen_at, 0) < $2 OR COALESCE(a.status, 'offline') = 'offline' AS offline
       FROM parley_conversations c LEFT JOIN parley_support_agents a ON a.tenant = c.tenant AND a.user_id = c.assignee
       WHERE c.mode = 'agent' AND NOT c.accepted AND (c.assigned_at < $1 OR COALESCE(a.last_seen_at, 0) < $2 OR COALESCE(a.status, 'offline') = 'offline')
       LIMIT $3`,
      [assignedBefore, connectedSince, limit],
    );
    return rows.map((row) => ({ key: { tenant: row.tenant, conversationId: row.id }, agentId: row.assignee, reason: row.offline ? 'agent_offline' : 'not_accepted' }));
  }

  async stalledHandoffs(before: number, limit: number): Promise<ConversationKey[]> {
    const { rows } = await this.db.query<{ tenant: string; id: string }>(
      "SELECT tenant, id FROM parley_conversations WHERE mode = 'queued' AND queued_at IS NULL AND last_event_at < $1 LIMIT $2",
      [before, limit],
    );
    return rows.map((row) => ({ tenant: row.tenant, conversationId: row.id }));
  }

  async averageWait(tenant: string, team: string | null): Promise<number | null> {
    const { rows } = await this.db.query<{ average: string | number | null }>(
      `SELECT avg(ms) AS average FROM (SELECT ms FROM parley_support_intervals WHERE tenant = $1 AND kind = 'queue_wait' AND team IS NOT DISTINCT FROM $2
       ORDER BY ended_at DESC LIMIT ${WAIT_SAMPLE}) recent`,
      [tenant, team],
    );
    const average = rows[0]?.average;
    return average === null || average === undefined ? null : Number(average);
  }

  async inbox(query: InboxQuery): Promise<Page<{ conversation: ConversationRecord; lastReadSeq: number }, ActivityCursor> & { counts: { queue: number; mine: number; team: number; all: number } }> {
    const { tenant, agentId, teams, after, limit } = query;
    // Which conversations each view holds, over `p`: the viewer, their teams (null: all), one team (null: any).
    // The parameters are typed once, in `p`, whichever of them a view uses.
    const viewer = 'WITH p AS (SELECT $2::text AS viewer, $3::text[] AS teams, $4::text AS team)';
    const reach = '(c.team IS NULL OR p.teams IS NULL OR c.team = ANY(p.teams) OR c.assignee = p.viewer)';
    const ofTeam = '(p.team IS NULL OR c.team = p.team)';
    const views = {
      queue: `c.mode = 'queued' AND ${reach} AND ${ofTeam}`,
      mine: `c.mode = 'agent' AND c.assignee = p.viewer AND ${ofTeam}`,
      team: `c.mode IN ('queued', 'agent') AND ${reach} AND ${ofTeam}`,
      all: `c.mode IS NOT NULL AND ${reach} AND ${ofTeam}`,
    };
    const parameters = [tenant, agentId, teams, query.team ?? null];
    const { rows } = await this.db.query<ConversationRow & { last_read_seq: string | number | null }>(
      `${viewer} SELECT ${conversationColumns('$8')}, (SELECT m.last_read_seq FROM parley_members m WHERE m.tenant = c.tenant AND m.conversation = c.id AND m.user_id = p.viewer) AS last_read_seq
       FROM parley_conversations c, p
       WHERE c.tenant = $1 AND ${views[query.view]} AND (c.last_event_at, c.id) < ($6, $7)
       ORDER BY c.last_event_at DESC, c.id DESC LIMIT $5`,
      [...parameters, limit + 1, after?.lastEventAt ?? Number.MAX_SAFE_INTEGER, after?.conversationId ?? '', this.largeRoomMembers],
    );
    const counted = await this.db.query<{ queue: string | number; mine: string | number; team: string | number; all: string | number }>(
      `${viewer} SELECT count(*) FILTER (WHERE ${views.queue}) AS queue, count(*) FILTER (WHERE ${views.mine}) AS mine,
              count(*) FILTER (WHERE ${views.team}) AS team, count(*) FILTER (WHERE ${views.all} AND c.mode <> 'closed') AS all
       FROM parley_conversations c, p WHERE c.tenant = $1 AND c.mode IS NOT NULL`,
      parameters,
    );
    const items = rows.slice(0, limit).map((row) => ({ conversation: toConversation(row, this.largeRoomMembers), lastReadSeq: Number(row.last_read_seq ?? 0) }));
    const last = items[items.length - 1]?.conversation;
    const count = counted.rows[0]!;
    return {
      items,
      next: rows.length > limit && last ? { lastEventAt: last.lastEventAt, conversationId: last.id } : null,
      counts: { queue: Number(count.queue), mine: Number(count.mine), team: Number(count.team), all: Number(count.all) },
    };
  }

  async report(tenant: string, from: number, to: number): Promise<SupportReport> {
    const now = Date.now();
    const queue = await this.db.query<{ depth: string | number; oldest: string | number | null }>(
      "SELECT count(*) AS depth, min(queued_at) AS oldest FROM parley_conversations WHERE tenant = $1 AND mode = 'queued'",
      [tenant],
    );
    const intervals = await this.db.query<{ kind: string; reason: string | null; ms: string | number }>(
      'SELECT kind, reason, ms FROM parley_support_intervals WHERE tenant = $1 AND ended_at >= $2 AND ended_at < $3',
      [tenant, from, to],
    );
    const ratings = await this.db.query<{ agent: string | null; team: string | null; rating: number }>(
      'SELECT agent, team, rating FROM parley_csat WHERE tenant = $1 AND ts >= $2 AND ts < $3',
      [tenant, from, to],
    );
    const active = await this.db.query<{ conversations: string | number; handed_off: string | number }>(
      `SELECT count(*) AS conversations, count(*) FILTER (WHERE handed_off) AS handed_off FROM parley_conversations
       WHERE tenant = $1 AND mode IS NOT NULL AND last_event_at >= $2 AND created_at < $3`,
      [tenant, from, to],
    );
    const times = (kind: string) => intervals.rows.filter((row) => row.kind === kind).map((row) => Number(row.ms));
    const byReason: Record<string, number> = {};
    for (const row of intervals.rows) if (row.kind === 'handoff' && row.reason) byReason[row.reason] = (byReason[row.reason] ?? 0) + 1;
    const conversations = Number(active.rows[0]?.conversations ?? 0);
    const handedOff = Number(active.rows[0]?.handed_off ?? 0);
    const oldest = queue.rows[0]?.oldest;
    const waits = times('queue_wait');
    return {
      from,
      to,
      queue: { depth: Number(queue.rows[0]?.depth ?? 0), oldestWaitMs: oldest === null || oldest === undefined ? null : Math.max(0, now - Number(oldest)), averageWaitMs: average(waits) },
      firstResponseMs: summarize(times('first_response')),
      resolutionMs: summarize(times('resolution')),
      csat: {
        average: average(ratings.rows.map((row) => row.rating)),
        count: ratings.rows.length,
        byAgent: groupRatings(ratings.rows, (row) => row.agent).filter((group) => group.key !== null).map(({ key, average, count }) => ({ agentId: key!, average, count })),
        byTeam: groupRatings(ratings.rows, (row) => row.team).map(({ key, average, count }) => ({ team: key, average, count })),
      },
      handoffs: { conversations, handedOff, rate: conversations === 0 ? null : handedOff / conversations, byReason },
      botResolvedRate: conversations === 0 ? null : (conversations - handedOff) / conversations,
    };
  }

  private async getConversation(executor: SqlExecutor, key: ConversationKey): Promise<ConversationRecord | null> {
    const { rows } = await executor.query<ConversationRow>(`SELECT ${CONVERSATION_COLUMNS} FROM parley_conversations c WHERE c.tenant = $1 AND c.id = $2`, [
      key.tenant,
      key.conversationId,
      this.largeRoomMembers,
    ]);
    return rows[0] ? toConversation(rows[0], this.largeRoomMembers) : null;
  }
}

interface TeamRow {
  tenant: string;
  id: string;
  name: string;
  skills: string[];
  business_hours: TeamRecord['businessHours'];
}

function toTeam(row: TeamRow): TeamRecord {
  return { tenant: row.tenant, id: row.id, name: row.name, skills: row.skills, businessHours: row.business_hours };
}

function toAgent(row: AgentRow): AgentRecord {
  return {
    tenant: row.tenant,
    userId: row.user_id,
    name: row.name,
    picture: row.picture,
    teams: row.teams,
    skills: row.skills,
    capacity: row.capacity,
    status: row.status,
    lastSeenAt: Number(row.last_seen_at),
    lastAssignedAt: Number(row.last_assigned_at),
    open: Number(row.open),
  };
}

/** A stored staff event: an event row whose seq is its staff seq, with the members' seq it follows. */
function toStaffEvent(row: StaffRow): StaffEvent {
  const { seq, ...event } = toEvent({ ...row, seq: row.staff_seq });
  return { ...event, staffSeq: seq, afterSeq: Number(row.after_seq) };
}

/** Whether an event type goes into the staff sequence. */
export function isStaffType(type: string): boolean {
  return isKnownEventType(type) && EVENT_CATALOGUE[type].audience === 'staff';
}

/** A planned event as appended: its data checked against the catalogue as every writer's is. */
function toNewEvent(key: ConversationKey, planned: PlannedEvent, ts: number): ConversationEvent {
  const problem = checkEventData(planned.type, planned.data);
  if (problem) throw new ParleyError('internal', `refused to append: ${problem}`);
  return newEvent(key, 0, ts, { key, ...planned } as AppendInput);
}

/** Takes the next staff seq (naming the members' seq it follows) and inserts the event, in one statement. */
async function insertStaffEvent(executor: SqlExecutor, key: ConversationKey, planned: PlannedEvent): Promise<StaffEvent> {
  const event = toNewEvent(key, planned, Date.now());
  const { rows } = await executor.query<{ staff_seq: string | number; after_seq: string | number }>(
    `WITH bumped AS (
       UPDATE parley_conversations SET last_staff_seq = last_staff_seq + 1 WHERE tenant = $1 AND id = $2 RETURNING last_staff_seq, last_seq
     )
     INSERT INTO parley_staff_events (${STAFF_COLUMNS}, client_msg_id)
     SELECT $1, $2, bumped.last_staff_seq, bumped.last_seq, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10 FROM bumped
     RETURNING staff_seq, after_seq`,
    [key.tenant, key.conversationId, event.id, event.type, event.ts, event.actor.kind, event.actor.id, JSON.stringify(event.data), event.causation ? JSON.stringify(event.causation) : null, event.causation?.clientMsgId ?? null],
  );
  if (!rows[0]) throw new ParleyError('not_found', `conversation ${key.conversationId} does not exist`);
  const { seq: _seq, ...rest } = event;
  return { ...rest, staffSeq: Number(rows[0].staff_seq), afterSeq: Number(rows[0].after_seq) };
}

function unique(values: string[]): string[] {
  return [...new Set(values)].sort();
}

function average(values: number[]): number | null {
  return values.length === 0 ? null : values.reduce((sum, value) => sum + value, 0) / values.length;
}

function percentile(sorted: number[], fraction: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

function summarize(values: number[]): { average: number | null; p50: number | null; p90: number | null; count: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { average: average(sorted), p50: percentile(sorted, 0.5), p90: percentile(sorted, 0.9), count: sorted.length };
}

function groupRatings<Row extends { rating: number }>(rows: Row[], keyOf: (row: Row) => string | null): Array<{ key: string | null; average: number; count: number }> {
  const groups = new Map<string | null, number[]>();
  for (const row of rows) {
    const key = keyOf(row);
    groups.set(key, [...(groups.get(key) ?? []), row.rating]);
  }
  return [...groups].map(([key, ratings]) => ({ key, average: average(ratings)!, count: ratings.length }));
}
