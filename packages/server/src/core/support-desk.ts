import type { Agent, CannedReply, OperationArgs, OperationResult, SupportReport, Team } from '@parley/protocol';
import type { ConversationRecord, Principal } from './types.js';

/**
 * When the team whose queue a queued conversation waits in opens next (ms since the epoch), while it is
 * outside its business hours; null otherwise (open, no business hours, the default inbox, not queued).
 */
export type QueueClosedUntil = (conversation: ConversationRecord) => Promise<number | null>;

/**
 * The support desk's use cases as transports call them (the WebSocket operations, the REST routes); the
 * support module implements it. Each takes the acting principal and authorizes it.
 */
export interface SupportDesk {
  handoff(principal: Principal, args: OperationArgs<'support.handoff'>): Promise<OperationResult<'support.handoff'>>;
  claim(principal: Principal, args: OperationArgs<'support.claim'>): Promise<OperationResult<'support.claim'>>;
  assign(principal: Principal, args: OperationArgs<'support.assign'>): Promise<OperationResult<'support.assign'>>;
  transfer(principal: Principal, args: OperationArgs<'support.transfer'>): Promise<OperationResult<'support.transfer'>>;
  note(principal: Principal, args: OperationArgs<'support.note'>): Promise<OperationResult<'support.note'>>;
  resolve(principal: Principal, args: OperationArgs<'support.resolve'>): Promise<OperationResult<'support.resolve'>>;
  reopen(principal: Principal, args: OperationArgs<'support.reopen'>): Promise<OperationResult<'support.reopen'>>;
  handBack(principal: Principal, args: OperationArgs<'support.handBack'>): Promise<OperationResult<'support.handBack'>>;
  close(principal: Principal, args: OperationArgs<'support.close'>): Promise<OperationResult<'support.close'>>;
  rate(principal: Principal, args: OperationArgs<'support.rate'>): Promise<OperationResult<'support.rate'>>;
  staffHistory(principal: Principal, args: OperationArgs<'support.staffHistory'>): Promise<OperationResult<'support.staffHistory'>>;
  /** Authorizes staff-only events of a live subscription; returns the conversation's last staff seq. */
  authorizeStaffEvents(principal: Principal, conversationId: string): Promise<number>;
  inbox(principal: Principal, args: OperationArgs<'support.inbox'>): Promise<OperationResult<'support.inbox'>>;
  canned(principal: Principal, args: OperationArgs<'support.canned'>): Promise<OperationResult<'support.canned'>>;
  setStatus(principal: Principal, args: OperationArgs<'agent.status'>): Promise<OperationResult<'agent.status'>>;
  viewing(principal: Principal, args: OperationArgs<'agent.viewing'>): Promise<OperationResult<'agent.viewing'>>;
  listTeams(principal: Principal): Promise<Team[]>;
  putTeam(principal: Principal, team: Team): Promise<Team>;
  deleteTeam(principal: Principal, id: string): Promise<void>;
  listAgents(principal: Principal): Promise<Agent[]>;
  putAgent(principal: Principal, userId: string, settings: { name?: string | null; teams: string[]; skills: string[]; capacity: number }): Promise<Agent>;
  deleteAgent(principal: Principal, userId: string): Promise<void>;
  listCanned(principal: Principal): Promise<CannedReply[]>;
  putCanned(principal: Principal, reply: CannedReply): Promise<CannedReply>;
  deleteCanned(principal: Principal, id: string): Promise<void>;
  report(principal: Principal, range: { from?: number; to?: number }): Promise<SupportReport>;
}
