import type { Agent, BusinessHours, CannedReply, SupportReport, Team } from '@parley/client';

/** Where the server API keeps the support desk's settings. */
const SUPPORT_API = '/v1/api/support';

/** A team as the admin page writes it. */
export interface TeamInput {
  name: string;
  skills: string[];
  businessHours: BusinessHours | null;
}

/** An agent's settings as the admin page writes them. */
export interface AgentInput {
  name?: string | null;
  teams: string[];
  skills: string[];
  capacity: number;
}

/** A canned reply as the admin page writes it. */
export interface CannedInput {
  team: string | null;
  shortcut: string;
  text: string;
}

/** An error answer of the server API: its code (`forbidden`, `bad_request`, ...) and message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The support desk's REST routes (teams, agents, canned replies), called with the signed-in user's token.
 * Agents may read teams and agents (for transfers); changing them takes an admin.
 */
export class SupportAdminApi {
  constructor(private readonly token: () => Promise<string>) {}

  async teams(): Promise<Team[]> {
    return (await this.request<{ teams: Team[] }>('GET', '/teams')).teams;
  }

  async saveTeam(id: string, team: TeamInput): Promise<Team> {
    return (await this.request<{ team: Team }>('PUT', `/teams/${encodeURIComponent(id)}`, team)).team;
  }

  async deleteTeam(id: string): Promise<void> {
    await this.request('DELETE', `/teams/${encodeURIComponent(id)}`);
  }

  async agents(): Promise<Agent[]> {
    return (await this.request<{ agents: Agent[] }>('GET', '/agents')).agents;
  }

  async saveAgent(userId: string, agent: AgentInput): Promise<Agent> {
    return (await this.request<{ agent: Agent }>('PUT', `/agents/${encodeURIComponent(userId)}`, agent)).agent;
  }

  async deleteAgent(userId: string): Promise<void> {
    await this.request('DELETE', `/agents/${encodeURIComponent(userId)}`);
  }

  async canned(): Promise<CannedReply[]> {
    return (await this.request<{ replies: CannedReply[] }>('GET', '/canned')).replies;
  }

  async saveCanned(id: string, reply: CannedInput): Promise<CannedReply> {
    return (await this.request<{ reply: CannedReply }>('PUT', `/canned/${encodeURIComponent(id)}`, reply)).reply;
  }

  async deleteCanned(id: string): Promise<void> {
    await this.request('DELETE', `/canned/${encodeURIComponent(id)}`);
  }

  /** Service figures for [from, to) (ms since the epoch): queue, first response, resolution, CSAT, handoffs. */
  report(from: number, to: number): Promise<SupportReport> {
    return this.request<SupportReport>('GET', `/report?from=${from}&to=${to}`);
  }

  private async request<Result>(method: string, path: string, body?: unknown): Promise<Result> {
    const headers: Record<string, string> = { Authorization: `Bearer ${await this.token()}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await fetch(`${SUPPORT_API}${path}`, { method, headers, cache: 'no-store', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    if (response.status === 204) return undefined as Result;
    const payload = (await response.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
    if (!response.ok) {
      throw new ApiError(response.status, payload.error?.code ?? 'internal', payload.error?.message ?? `${method} ${path} answered ${response.status}`);
    }
    return payload as Result;
  }
}
