import { useCallback, useEffect, useState, type FormEvent, type ReactNode } from 'react';
import type { Agent, CannedReply, SupportReport, Team } from '@parley/client';
import { describeHours, hoursForm, hoursFromForm, WEEKDAYS, type HoursForm } from './business-hours';
import type { Desk } from './desk';

type Tab = 'teams' | 'agents' | 'canned' | 'report';

const IDENTIFIER = /^[A-Za-z0-9_.:@-]{1,128}$/;

/** Splits "billing, refunds" into identifiers; throws on one that is not. */
function identifiers(value: string, what: string): string[] {
  const list = value.split(',').map((part) => part.trim()).filter((part) => part.length > 0);
  const bad = list.find((part) => !IDENTIFIER.test(part));
  if (bad) throw new Error(`${what}: "${bad}" is not an identifier (letters, digits, . _ : @ -)`);
  return list;
}

/** Runs a save or delete, then reloads; shows what went wrong. */
function useAdminAction(reload: () => Promise<void>) {
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const run = async (action: () => Promise<unknown>): Promise<boolean> => {
    setBusy(true);
    setError(undefined);
    try {
      await action();
      await reload();
      return true;
    } catch (cause) {
      setError(cause instanceof Error ? cause.message : String(cause));
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { error, busy, run, setError };
}

/** Teams (with skills and business hours), agents (teams, skills, capacity) and canned replies, for admins. */
export function Admin({ desk }: { desk: Desk }) {
  const [tab, setTab] = useState<Tab>('teams');
  const [teams, setTeams] = useState<Team[]>([]);
  const [agents, setAgents] = useState<Agent[]>([]);
  const [canned, setCanned] = useState<CannedReply[]>([]);
  const [loadError, setLoadError] = useState<string | undefined>();
  const reload = useCallback(async () => {
    try {
      const [nextTeams, nextAgents, nextCanned] = await Promise.all([desk.api.teams(), desk.api.agents(), desk.api.canned()]);
      setTeams(nextTeams);
      setAgents(nextAgents);
      setCanned(nextCanned);
      setLoadError(undefined);
      void desk.loadDirectory();
    } catch (cause) {
      setLoadError(cause instanceof Error ? cause.message : String(cause));
    }
  }, [desk]);
  useEffect(() => void reload(), [reload]);
  return (
    <main className="admin" aria-label="Admin">
      <div className="admin-tabs" role="tablist" aria-label="Settings">
        {(
          [
            ['teams', 'Teams'],
            ['agents', 'Agents'],
            ['canned', 'Canned replies'],
            ['report', 'Report'],
          ] as const
        ).map(([value, label]) => (
          <button key={value} type="button" role="tab" aria-selected={tab === value} onClick={() => setTab(value)} data-testid={`admin-tab-${value}`}>
            {label}
          </button>
        ))}
      </div>
      {loadError && (
        <p className="error" role="alert">
          Could not load the settings: {loadError}
        </p>
      )}
      {tab === 'teams' && <Teams desk={desk} teams={teams} reload={reload} />}
      {tab === 'agents' && <Agents desk={desk} agents={agents} teams={teams} reload={reload} />}
      {tab === 'canned' && <CannedReplies desk={desk} replies={canned} teams={teams} reload={reload} />}
      {tab === 'report' && <Report desk={desk} agents={agents} teams={teams} />}
    </main>
  );
}

function Teams({ desk, teams, reload }: { desk: Desk; teams: Team[]; reload(): Promise<void> }) {
  const [editing, setEditing] = useState<Team | 'new' | undefined>();
  const action = useAdminAction(reload);
  return (
    <section className="admin-section">
      <Table headers={['Id', 'Name', 'Skills', 'Business hours', '']}>
        {teams.map((team) => (
          <tr key={team.id} data-testid="team-row">
            <td>{team.id}</td>
            <td>{team.name}</td>
            <td>{team.skills.join(', ') || '—'}</td>
            <td>{describeHours(team.businessHours)}</td>
            <td className="row-actions">
              <button type="button" onClick={() => setEditing(team)}>
                Edit
              </button>
              <button type="button" className="danger" disabled={action.busy} onClick={() => confirm(`Delete team ${team.name}?`) && void action.run(() => desk.api.deleteTeam(team.id))}>
                Delete
              </button>
            </td>
          </tr>
        ))}
      </Table>
      {action.error && <p className="error" role="alert">{action.error}</p>}
      {editing ? (
        <TeamForm key={editing === 'new' ? 'new' : editing.id} team={editing === 'new' ? undefined : editing} onCancel={() => setEditing(undefined)} onSave={async (id, input) => (await action.run(() => desk.api.saveTeam(id, input))) && setEditing(undefined)} busy={action.busy} />
      ) : (
        <button type="button" className="primary" onClick={() => setEditing('new')} data-testid="new-team">
          New team
        </button>
      )}
    </section>
  );
}

function TeamForm({ team, busy, onSave, onCancel }: { team: Team | undefined; busy: boolean; onSave(id: string, input: { name: string; skills: string[]; businessHours: Team['businessHours'] }): Promise<unknown>; onCancel(): void }) {
  const [id, setId] = useState(team?.id ?? '');
  const [name, setName] = useState(team?.name ?? '');
  const [skills, setSkills] = useState(team?.skills.join(', ') ?? '');
  const [hours, setHours] = useState<HoursForm>(() => hoursForm(team?.businessHours ?? null, Intl.DateTimeFormat().resolvedOptions().timeZone));
  const [error, setError] = useState<string | undefined>();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    try {
      if (!IDENTIFIER.test(id)) throw new Error('The id is 1 to 128 letters, digits or . _ : @ -');
      const businessHours = hoursFromForm(hours);
      if ('error' in businessHours) throw new Error(businessHours.error);
      setError(undefined);
      void onSave(id, { name: name.trim(), skills: identifiers(skills, 'Skills'), businessHours: businessHours.hours });
    } catch (cause) {
      setError(cause instanceof Error ? cause.message : String(cause));
    }
  };
  const setDay = (key: (typeof WEEKDAYS)[number][0], changes: Partial<HoursForm['days'][typeof key]>) => setHours({ ...hours, days: { ...hours.days, [key]: { ...hours.days[key], ...changes } } });
  return (
    <form className="admin-form" onSubmit={submit} aria-label={team ? `Edit team ${team.name}` : 'New team'} data-testid="team-form">
      <label>
        Id
        <input value={id} onChange={(event) => setId(event.target.value)} disabled={team !== undefined} required />
      </label>
      <label>
        Name
        <input value={name} onChange={(event) => setName(event.target.value)} required maxLength={200} />
      </label>
      <label>
        Skills (comma separated; agents need all of them)
        <input value={skills} onChange={(event) => setSkills(event.target.value)} />
      </label>
      <fieldset className="hours">
        <legend>
          <label>
            <input type="checkbox" checked={hours.enabled} onChange={(event) => setHours({ ...hours, enabled: event.target.checked })} data-testid="hours-enabled" /> Business hours (outside them the
            queue says so and the assistant keeps answering)
          </label>
        </legend>
        {hours.enabled && (
          <>
            <label>
              Time zone
              <input value={hours.timeZone} onChange={(event) => setHours({ ...hours, timeZone: event.target.value })} required />
            </label>
            {WEEKDAYS.map(([key, dayName]) => (
              <div className="day" key={key}>
                <label>
                  <input type="checkbox" checked={hours.days[key].open} onChange={(event) => setDay(key, { open: event.target.checked })} /> {dayName}
                </label>
                <input type="time" aria-label={`${dayName} opens`} value={hours.days[key].from} disabled={!hours.days[key].open} onChange={(event) => setDay(key, { from: event.target.value })} />
                <input type="time" aria-label={`${dayName} closes`} value={hours.days[key].to} disabled={!hours.days[key].open} onChange={(event) => setDay(key, { to: event.target.value })} />
              </div>
            ))}
          </>
        )}
      </fieldset>
      {error && <p className="error" role="alert">{error}</p>}
      <div className="form-actions">
        <button type="submit" className="primary" disabled={busy}>
          Save team
        </button>
        <button type="button" className="link" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function Agents({ desk, agents, teams, reload }: { desk: Desk; agents: Agent[]; teams: Team[]; reload(): Promise<void> }) {
  const [editing, setEditing] = useState<Agent | 'new' | undefined>();
  const action = useAdminAction(reload);
  return (
    <section className="admin-section">
      <Table headers={['User', 'Name', 'Teams', 'Skills', 'Open / capacity', 'Status', '']}>
        {agents.map((agent) => (
          <tr key={agent.userId} data-testid="agent-row">
            <td>{agent.userId}</td>
            <td>{agent.name ?? '—'}</td>
            <td>{agent.teams.join(', ') || 'default inbox'}</td>
            <td>{agent.skills.join(', ') || '—'}</td>
            <td>
              {agent.open} / {agent.capacity}
            </td>
            <td>
              {agent.status}
              {agent.connected ? '' : ' (not connected)'}
            </td>
            <td className="row-actions">
              <button type="button" onClick={() => setEditing(agent)}>
                Edit
              </button>
              <button type="button" className="danger" disabled={action.busy} onClick={() => confirm(`Remove agent ${agent.userId}?`) && void action.run(() => desk.api.deleteAgent(agent.userId))}>
                Remove
              </button>
            </td>
          </tr>
        ))}
      </Table>
      {action.error && <p className="error" role="alert">{action.error}</p>}
      {editing ? (
        <AgentForm key={editing === 'new' ? 'new' : editing.userId} agent={editing === 'new' ? undefined : editing} teams={teams} busy={action.busy} onCancel={() => setEditing(undefined)} onSave={async (userId, input) => (await action.run(() => desk.api.saveAgent(userId, input))) && setEditing(undefined)} />
      ) : (
        <button type="button" className="primary" onClick={() => setEditing('new')} data-testid="new-agent">
          Add agent
        </button>
      )}
    </section>
  );
}

function AgentForm({ agent, teams, busy, onSave, onCancel }: { agent: Agent | undefined; teams: Team[]; busy: boolean; onSave(userId: string, input: { name: string | null; teams: string[]; skills: string[]; capacity: number }): Promise<unknown>; onCancel(): void }) {
  const [userId, setUserId] = useState(agent?.userId ?? '');
  const [name, setName] = useState(agent?.name ?? '');
  const [memberOf, setMemberOf] = useState<string[]>(agent?.teams ?? []);
  const [skills, setSkills] = useState(agent?.skills.join(', ') ?? '');
  const [capacity, setCapacity] = useState(String(agent?.capacity ?? 5));
  const [error, setError] = useState<string | undefined>();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    try {
      if (!IDENTIFIER.test(userId)) throw new Error('The user id is 1 to 128 letters, digits or . _ : @ -');
      const slots = Number(capacity);
      if (!Number.isInteger(slots) || slots < 0 || slots > 1000) throw new Error('The capacity is a whole number from 0 to 1000');
      setError(undefined);
      void onSave(userId, { name: name.trim() || null, teams: memberOf, skills: identifiers(skills, 'Skills'), capacity: slots });
    } catch (cause) {
      setError(cause instanceof Error ? cause.message : String(cause));
    }
  };
  const toggleTeam = (id: string, on: boolean) => setMemberOf(on ? [...memberOf, id] : memberOf.filter((team) => team !== id));
  return (
    <form className="admin-form" onSubmit={submit} aria-label={agent ? `Edit agent ${agent.userId}` : 'New agent'} data-testid="agent-form">
      <label>
        User id
        <input value={userId} onChange={(event) => setUserId(event.target.value)} disabled={agent !== undefined} required />
      </label>
      <label>
        Display name
        <input value={name} onChange={(event) => setName(event.target.value)} maxLength={200} />
      </label>
      <fieldset>
        <legend>Teams (none: the default inbox)</legend>
        {teams.length === 0 && <p className="muted">No teams yet.</p>}
        {teams.map((team) => (
          <label key={team.id} className="inline">
            <input type="checkbox" checked={memberOf.includes(team.id)} onChange={(event) => toggleTeam(team.id, event.target.checked)} /> {team.name}
          </label>
        ))}
      </fieldset>
      <label>
        Skills (comma separated)
        <input value={skills} onChange={(event) => setSkills(event.target.value)} />
      </label>
      <label>
        Capacity (conversations at once)
        <input type="number" min={0} max={1000} value={capacity} onChange={(event) => setCapacity(event.target.value)} required />
      </label>
      {error && <p className="error" role="alert">{error}</p>}
      <div className="form-actions">
        <button type="submit" className="primary" disabled={busy}>
          Save agent
        </button>
        <button type="button" className="link" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function CannedReplies({ desk, replies, teams, reload }: { desk: Desk; replies: CannedReply[]; teams: Team[]; reload(): Promise<void> }) {
  const [editing, setEditing] = useState<CannedReply | 'new' | undefined>();
  const action = useAdminAction(reload);
  const teamName = (id: string | null) => (id === null ? 'everyone' : (teams.find((team) => team.id === id)?.name ?? id));
  return (
    <section className="admin-section">
      <Table headers={['Shortcut', 'For', 'Text', '']}>
        {replies.map((reply) => (
          <tr key={reply.id} data-testid="canned-row">
            <td>{reply.shortcut}</td>
            <td>{teamName(reply.team)}</td>
            <td className="canned-text">{reply.text}</td>
            <td className="row-actions">
              <button type="button" onClick={() => setEditing(reply)}>
                Edit
              </button>
              <button type="button" className="danger" disabled={action.busy} onClick={() => confirm(`Delete ${reply.shortcut}?`) && void action.run(() => desk.api.deleteCanned(reply.id))}>
                Delete
              </button>
            </td>
          </tr>
        ))}
      </Table>
      {action.error && <p className="error" role="alert">{action.error}</p>}
      {editing ? (
        <CannedForm key={editing === 'new' ? 'new' : editing.id} reply={editing === 'new' ? undefined : editing} teams={teams} busy={action.busy} onCancel={() => setEditing(undefined)} onSave={async (id, input) => (await action.run(() => desk.api.saveCanned(id, input))) && setEditing(undefined)} />
      ) : (
        <button type="button" className="primary" onClick={() => setEditing('new')} data-testid="new-canned">
          New canned reply
        </button>
      )}
    </section>
  );
}

function CannedForm({ reply, teams, busy, onSave, onCancel }: { reply: CannedReply | undefined; teams: Team[]; busy: boolean; onSave(id: string, input: { team: string | null; shortcut: string; text: string }): Promise<unknown>; onCancel(): void }) {
  const [id, setId] = useState(reply?.id ?? '');
  const [shortcut, setShortcut] = useState(reply?.shortcut ?? '/');
  const [team, setTeam] = useState(reply?.team ?? '');
  const [text, setText] = useState(reply?.text ?? '');
  const [error, setError] = useState<string | undefined>();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const reference = id || shortcut.replace(/^\//, '');
    if (!IDENTIFIER.test(reference)) return setError('The id is 1 to 128 letters, digits or . _ : @ -');
    if (shortcut.trim().length === 0 || text.trim().length === 0) return setError('A shortcut and a text are needed');
    setError(undefined);
    void onSave(reference, { team: team || null, shortcut: shortcut.trim(), text });
  };
  return (
    <form className="admin-form" onSubmit={submit} aria-label={reply ? `Edit ${reply.shortcut}` : 'New canned reply'} data-testid="canned-form">
      <label>
        Shortcut
        <input value={shortcut} onChange={(event) => setShortcut(event.target.value)} required maxLength={64} />
      </label>
      <label>
        Id (default: the shortcut without "/")
        <input value={id} onChange={(event) => setId(event.target.value)} disabled={reply !== undefined} />
      </label>
      <label>
        For
        <select value={team} onChange={(event) => setTeam(event.target.value)}>
          <option value="">everyone (the whole tenant)</option>
          {teams.map((option) => (
            <option key={option.id} value={option.id}>
              team {option.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Text
        <textarea value={text} onChange={(event) => setText(event.target.value)} rows={4} required />
      </label>
      <p className="muted">Variables: {'{{customer.name}}'}, {'{{agent.name}}'}, {'{{conversation.KEY}}'} (a metadata key of the conversation).</p>
      {error && <p className="error" role="alert">{error}</p>}
      <div className="form-actions">
        <button type="submit" className="primary" disabled={busy}>
          Save reply
        </button>
        <button type="button" className="link" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

const DAY_MS = 86_400_000;
const PERIODS = [
  ['Today', DAY_MS],
  ['Last 7 days', 7 * DAY_MS],
  ['Last 30 days', 30 * DAY_MS],
] as const;

/** The service figures of a period: queue, response and resolution times, CSAT per agent and team, handoffs. */
function Report({ desk, agents, teams }: { desk: Desk; agents: Agent[]; teams: Team[] }) {
  const [period, setPeriod] = useState<number>(7 * DAY_MS);
  const [report, setReport] = useState<SupportReport | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    const to = Date.now();
    desk.api.report(to - period, to).then(
      (next) => (setReport(next), setError(undefined)),
      (cause: unknown) => setError(cause instanceof Error ? cause.message : String(cause)),
    );
  }, [desk, period]);
  const agentName = (id: string) => agents.find((agent) => agent.userId === id)?.name ?? id;
  const teamName = (id: string | null) => (id === null ? 'default inbox' : (teams.find((team) => team.id === id)?.name ?? id));
  return (
    <section className="admin-section" data-testid="report">
      <div className="admin-tabs" role="radiogroup" aria-label="Period">
        {PERIODS.map(([label, ms]) => (
          <button key={label} type="button" role="radio" aria-checked={period === ms} onClick={() => setPeriod(ms)}>
            {label}
          </button>
        ))}
      </div>
      {error && <p className="error" role="alert">{error}</p>}
      {report && (
        <>
          <dl className="figures">
            <Figure label="Queue now" value={`${report.queue.depth}${report.queue.oldestWaitMs !== null ? ` (oldest ${formatMs(report.queue.oldestWaitMs)})` : ''}`} />
            <Figure label="Average wait" value={formatMs(report.queue.averageWaitMs)} />
            <Figure label="First response (median · 90%)" value={`${formatMs(report.firstResponseMs.p50)} · ${formatMs(report.firstResponseMs.p90)}`} />
            <Figure label="Resolution (median · 90%)" value={`${formatMs(report.resolutionMs.p50)} · ${formatMs(report.resolutionMs.p90)}`} />
            <Figure label="CSAT" value={report.csat.average === null ? '—' : `${report.csat.average.toFixed(2)} of 5 (${report.csat.count})`} />
            <Figure label="Handoff rate" value={`${percent(report.handoffs.rate)} (${report.handoffs.handedOff} of ${report.handoffs.conversations})`} />
            <Figure label="Resolved by the assistant" value={percent(report.botResolvedRate)} />
          </dl>
          <Table headers={['CSAT per agent', 'Average', 'Ratings']}>
            {report.csat.byAgent.map((row) => (
              <tr key={row.agentId}>
                <td>{agentName(row.agentId)}</td>
                <td>{row.average.toFixed(2)}</td>
                <td>{row.count}</td>
              </tr>
            ))}
          </Table>
          <Table headers={['CSAT per team', 'Average', 'Ratings']}>
            {report.csat.byTeam.map((row) => (
              <tr key={row.team ?? ''}>
                <td>{teamName(row.team)}</td>
                <td>{row.average.toFixed(2)}</td>
                <td>{row.count}</td>
              </tr>
            ))}
          </Table>
          <Table headers={['Handoff reason', 'Conversations']}>
            {Object.entries(report.handoffs.byReason).map(([reason, count]) => (
              <tr key={reason}>
                <td>{reason}</td>
                <td>{count}</td>
              </tr>
            ))}
          </Table>
        </>
      )}
    </section>
  );
}

function Figure({ label, value }: { label: string; value: string }) {
  return (
    <div>
      <dt>{label}</dt>
      <dd>{value}</dd>
    </div>
  );
}

function formatMs(ms: number | null): string {
  if (ms === null) return '—';
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

function percent(rate: number | null): string {
  return rate === null ? '—' : `${Math.round(rate * 100)}%`;
}

function Table({ headers, children }: { headers: string[]; children: ReactNode }) {
  return (
    <table className="admin-table">
      <thead>
        <tr>
          {headers.map((header, index) => (
            <th key={index}>{header}</th>
          ))}
        </tr>
      </thead>
      <tbody>{children}</tbody>
    </table>
  );
}
