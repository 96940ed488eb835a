import type { ConversationMode } from '@parley/protocol';
import type { ConversationRecord, SupportRecord } from '../../core/types.js';

export interface ConversationRow {
  tenant: string;
  id: string;
  created_by: string;
  created_at: string | number;
  metadata: Record<string, unknown>;
  last_seq: string | number;
  last_event_at: string | number;
  member_count: string | number;
  /** Null for rooms above the large-room threshold. */
  members: string[] | null;
  assistant: string | null;
  mode: ConversationMode | null;
  team: string | null;
  assignee: string | null;
  assignee_name: string | null;
  accepted: boolean;
  assigned_at: string | number | null;
  queued_at: string | number | null;
  priority: number;
  resolution: number;
  rated: boolean;
  last_staff_seq: string | number;
  sentiment: SupportRecord['sentiment'];
  first_response_at: string | number | null;
  handed_off: boolean;
}

// Members are embedded only up to the large-room threshold ($3 of the query that selects these).
/** The columns of a conversation row; `largeRoomParam` is the query parameter holding the large-room threshold. */
export function conversationColumns(largeRoomParam: string): string {
  return `c.tenant, c.id, c.created_by, c.created_at, c.metadata, c.last_seq, c.last_event_at, c.member_count, c.assistant,
  c.mode, c.team, c.assignee, c.assignee_name, c.accepted, c.assigned_at, c.queued_at, c.priority, c.resolution, c.rated, c.last_staff_seq,
  c.sentiment, c.first_response_at, c.handed_off,
  CASE WHEN c.member_count <= ${largeRoomParam} THEN (SELECT array_agg(m.user_id ORDER BY m.user_id) FROM parley_members m
    WHERE m.tenant = c.tenant AND m.conversation = c.id) END AS members`;
}
/** The columns of a conversation row, with the large-room threshold in $3. */
export const CONVERSATION_COLUMNS = conversationColumns('$3');
/** A conversation row (selected with CONVERSATION_COLUMNS) as the record the rest of the server reads. */
export function toConversation(row: ConversationRow, largeRoomMembers: number): ConversationRecord {
  return {
    tenant: row.tenant,
    id: row.id,
    createdBy: row.created_by,
    createdAt: Number(row.created_at),
    metadata: row.metadata,
    members: Number(row.member_count) <= largeRoomMembers ? (row.members ?? []) : null,
    memberCount: Number(row.member_count),
    lastSeq: Number(row.last_seq),
    lastEventAt: Number(row.last_event_at),
    assistant: row.assistant,
    support: row.mode === null ? null : toSupport(row),
  };
}

function toSupport(row: ConversationRow): SupportRecord {
  const optional = (value: string | number | null) => (value === null ? null : Number(value));
  return {
    mode: row.mode!,
    team: row.team,
    assigneeId: row.assignee,
    assigneeName: row.assignee_name,
    accepted: row.accepted,
    assignedAt: optional(row.assigned_at),
    queuedAt: optional(row.queued_at),
    priority: Number(row.priority),
    resolution: Number(row.resolution),
    rated: row.rated,
    lastStaffSeq: Number(row.last_staff_seq),
    sentiment: row.sentiment,
    firstResponseAt: optional(row.first_response_at),
    handedOff: row.handed_off,
  };
}

