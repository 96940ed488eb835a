// desk: the support desk under load, on one node and then on two nodes sharing PostgreSQL and Redis.
// Simulated agents go online; customers each open a support conversation (one with the `assistant`
// profile), subscribe to it and hand it off (`support.handoff`) at a fixed rate. Routing assigns each to an
// agent. Parley pushes nothing to an agent about a new assignment (the agent console reads its inbox), so
// each agent reads `support.inbox {view: 'mine'}` every poll interval while it has room; for each new
// conversation there it subscribes, replies after a think time (which accepts the assignment), waits for the
// customer's answer (the customer answers the agent's first message after the same think time), and
// resolves it after the think time again, which frees its capacity. The customer times the handoff: from
// its send of `support.handoff` to its receipt of `conversation.assigned` (assignment), and to its receipt
// of the agent's first message (first response). Afterwards PostgreSQL tells whether every conversation was
// assigned exactly once and whether any agent ever held more open conversations than its capacity.
import { ApiClient } from '../lib/api.mjs';
import { Histogram, now } from '../lib/histogram.mjs';
import { LoadGroup, sleep } from '../lib/load.mjs';
import { ParleyConnection, pooled } from '../lib/parley-connection.mjs';
import { cpuSeconds } from '../lib/proc.mjs';
import { createBackends, startParley } from '../lib/servers.mjs';
import { token } from '../lib/tokens.mjs';

const customerUser = (index) => `desk-customer-${index}`;
const agentUser = (index) => `desk-agent-${index}`;
// No conversation moved on for this long: what has not finished by then never will.
const STALL_MS = 30_000;
// An agent gives up on a customer who has not answered within this (counted as an error).
const ANSWER_TIMEOUT_MS = 60_000;
// Events that take an open conversation away from its assignee.
const RELEASES = ['conversation.resolved', 'conversation.transferred', 'conversation.handed_back', 'conversation.closed'];

/** Commands run in the load processes: process 0 holds the agents, the others the customers. */
export const client = {
  async startAgents(state, { urls, localAddress, count, capacity, thinkMs, pollMs }) {
    state.agents = await pooled(count, 10, async (index) => {
      const agent = { id: agentUser(index), capacity, thinkMs, pollMs, open: new Set(), done: new Set(), answered: new Map(), served: 0, maxOpen: 0, polls: 0, errors: 0, firstError: null, stopped: false };
      agent.connection = await ParleyConnection.connect(urls[index % urls.length], await token(agent.id, ['agent']), { localAddress });
      agent.connection.onPush = (frame) => frame.push === 'event' && agentEvent(agent, frame.event);
      await agent.connection.request('agent.status', { status: 'online' });
      return agent;
    });
    // Polls spread over the interval, not all at once.
    state.agents.forEach((agent, index) => (agent.timer = setTimeout(() => poll(agent), (pollMs * index) / count)));
    return { online: state.agents.length };
  },
  async stopAgents(state) {
    for (const agent of state.agents) {
      agent.stopped = true;
      clearTimeout(agent.timer);
    }
    const report = {
      served: sum(state.agents, (agent) => agent.served),
      polls: sum(state.agents, (agent) => agent.polls),
      errors: sum(state.agents, (agent) => agent.errors),
      firstError: state.agents.find((agent) => agent.firstError)?.firstError ?? null,
      maxOpen: Math.max(0, ...state.agents.map((agent) => agent.maxOpen)),
      stillOpen: sum(state.agents, (agent) => agent.open.size),
    };
    for (const agent of state.agents) agent.connection.close();
    return report;
  },
  async openCustomers(state, { urls, localAddress, indexes, nodes, thinkMs }) {
    state.customers = await pooled(indexes.length, 50, async (offset) => {
      const index = indexes[offset];
      const customer = { index, id: customerUser(index), thinkMs, handoffAt: null, assignedAt: null, respondedAt: null, resolvedAt: null, assignments: 0, kind: null, lastSeq: 0, lost: 0, duplicates: 0, error: null };
      customer.connection = await ParleyConnection.connect(urls[nodes[offset]], await token(customer.id), { localAddress });
      const { conversation } = await customer.connection.request('conversation.open', { members: [], assistant: 'assistant' });
      customer.conversationId = conversation.id;
      // Nothing happens in the conversation before the handoff, so no event can come before the reply.
      customer.lastSeq = (await customer.connection.request('subscribe', { conversationId: conversation.id })).headSeq;
      customer.connection.onPush = (frame) => frame.push === 'event' && customerEvent(customer, frame.event);
      return customer;
    });
    return { opened: state.customers.length };
  },
  /** Hands off every customer's conversation at its turn: customer i at `startAt` + i / rate. */
  async handoff(state, { startAt, rate }) {
    await Promise.all(
      state.customers.map(async (customer) => {
        await sleep(Math.max(0, startAt + (customer.index * 1000) / rate - now()));
        customer.handoffAt = now();
        try {
          await customer.connection.request('support.handoff', { conversationId: customer.conversationId });
        } catch (error) {
          customer.error ??= String(error.message);
        }
      }),
    );
    return {};
  },
  progress: (state) => ({ assigned: count(state.customers, (customer) => customer.assignedAt !== null), resolved: count(state.customers, (customer) => customer.resolvedAt !== null) }),
  report(state) {
    const assignment = new Histogram();
    const firstResponse = new Histogram();
    for (const customer of state.customers) {
      if (customer.assignedAt !== null) assignment.record(customer.assignedAt - customer.handoffAt);
      if (customer.respondedAt !== null) firstResponse.record(customer.respondedAt - customer.handoffAt);
    }
    const report = {
      customers: state.customers.length,
      assigned: count(state.customers, (customer) => customer.assignedAt !== null),
      assignedTwice: count(state.customers, (customer) => customer.assignments > 1),
      notByRouting: count(state.customers, (customer) => customer.kind !== null && customer.kind !== 'routing'),
      responded: count(state.customers, (customer) => customer.respondedAt !== null),
      resolved: count(state.customers, (customer) => customer.resolvedAt !== null),
      lost: sum(state.customers, (customer) => customer.lost),
      duplicates: sum(state.customers, (customer) => customer.duplicates),
      errors: count(state.customers, (customer) => customer.error !== null),
      firstError: state.customers.find((customer) => customer.error)?.error ?? null,
      firstHandoffAt: Math.min(...state.customers.map((customer) => customer.handoffAt)),
      lastHandoffAt: Math.max(...state.customers.map((customer) => customer.handoffAt)),
      lastAssignedAt: Math.max(0, ...state.customers.map((customer) => customer.assignedAt ?? 0)),
      lastSeqs: Object.fromEntries(state.customers.map((customer) => [customer.conversationId, customer.lastSeq])),
      assignmentMs: assignment.counts,
      firstResponseMs: firstResponse.counts,
    };
    for (const customer of state.customers) customer.connection.close();
    return report;
  },
};

/** Reads the agent's own conversations while it has room, and serves each new one. */
async function poll(agent) {
  if (agent.stopped) return;
  if (agent.open.size < agent.capacity) {
    try {
      agent.polls++;
      const { items } = await agent.connection.request('support.inbox', { view: 'mine', limit: 100 });
      for (const item of items) if (!agent.open.has(item.conversationId) && !agent.done.has(item.conversationId)) void serve(agent, item.conversationId);
    } catch (error) {
      failed(agent, error);
    }
  }
  if (!agent.stopped) agent.timer = setTimeout(() => poll(agent), agent.pollMs);
}

/** One conversation: subscribe, reply after the think time, await the customer's answer, resolve after the think time. */
async function serve(agent, conversationId) {
  agent.open.add(conversationId);
  agent.maxOpen = Math.max(agent.maxOpen, agent.open.size);
  const answered = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${conversationId}: the customer did not answer`)), ANSWER_TIMEOUT_MS);
    agent.answered.set(conversationId, () => (clearTimeout(timer), resolve()));
  });
  try {
    await agent.connection.request('subscribe', { conversationId });
    await sleep(agent.thinkMs);
    await agent.connection.request('message.send', { conversationId, clientMsgId: `${conversationId}-agent`, content: { type: 'text', text: 'Hello, I am here to help. What happened?' } });
    await answered;
    await sleep(agent.thinkMs);
    await agent.connection.request('support.resolve', { conversationId });
    await agent.connection.request('unsubscribe', { conversationId });
    agent.served++;
  } catch (error) {
    failed(agent, error);
  } finally {
    agent.answered.delete(conversationId);
    agent.open.delete(conversationId);
    agent.done.add(conversationId);
  }
}

function agentEvent(agent, event) {
  if (event.type === 'message.created' && event.actor.id !== agent.id) agent.answered.get(event.conversation)?.();
}

function failed(agent, error) {
  agent.errors++;
  agent.firstError ??= String(error.message);
}

/** A customer's events, checked for order (lost: seqs skipped; duplicates: seqs at or below the last one). */
function customerEvent(customer, event) {
  if (event.seq <= customer.lastSeq) return void customer.duplicates++;
  customer.lost += event.seq - customer.lastSeq - 1;
  customer.lastSeq = event.seq;
  const at = now();
  if (event.type === 'conversation.assigned') {
    customer.assignments++;
    if (customer.assignedAt === null) {
      customer.assignedAt = at;
      customer.kind = event.data.kind;
    }
  } else if (event.type === 'message.created' && event.actor.id !== customer.id && customer.respondedAt === null) {
    customer.respondedAt = at;
    setTimeout(() => {
      customer.connection.request('message.send', { conversationId: customer.conversationId, clientMsgId: 'customer-answer', content: { type: 'text', text: 'My order did not arrive.' } }).catch((error) => (customer.error ??= String(error.message)));
    }, customer.thinkMs);
  } else if (event.type === 'conversation.resolved') customer.resolvedAt ??= at;
}

const sum = (items, value) => items.reduce((total, item) => total + value(item), 0);
const count = (items, test) => items.filter(test).length;
const range = (length) => Array.from({ length }, (_, index) => index);

/**
 * Runs the scenario: `{ customers, agents, capacity, rate, thinkMs, pollMs, customerProcesses }`, on one
 * node and then on two.
 */
export async function run(options) {
  const topologies = {};
  for (const nodes of [1, 2]) topologies[nodes === 1 ? 'oneNode' : 'twoNodes'] = await runOn(nodes, options);
  return {
    store: 'postgresql',
    customers: options.customers,
    agents: options.agents,
    capacity: options.capacity,
    handoffsPerSecond: options.rate,
    thinkMs: options.thinkMs,
    pollMs: options.pollMs,
    ...topologies,
  };
}

async function runOn(nodeCount, { customers, agents, capacity, rate, thinkMs, pollMs, customerProcesses }) {
  const backends = await createBackends({ redis: nodeCount > 1 });
  const nodes = [];
  const group = new LoadGroup('desk', 1 + customerProcesses);
  try {
    for (let index = 0; index < nodeCount; index++) nodes.push(await startParley(backends.env));
    const urls = nodes.map((node) => node.wsUrl);
    await configureAgents(nodes[0].httpUrl, agents, capacity);
    await group.one(0, 'startAgents', { urls, count: agents, capacity, thinkMs, pollMs });
    // Customer i is in load process 1 + i % processes; its node alternates within each process.
    const shares = range(customerProcesses).map((process) => range(customers).filter((index) => index % customerProcesses === process));
    const customerProcess = (process, command, args) => group.one(1 + process, command, args);
    await Promise.all(shares.map((indexes, process) => customerProcess(process, 'openCustomers', { urls, indexes, nodes: indexes.map((_, offset) => offset % nodeCount), thinkMs })));

    const cpuBefore = { server: sum(nodes, (node) => cpuSeconds(node.pid)), load: group.cpuSeconds() };
    const startedAt = now();
    await Promise.all(shares.map((_, process) => customerProcess(process, 'handoff', { startAt: startedAt + 200, rate })));
    await waitForResolutions(shares.map((_, process) => () => customerProcess(process, 'progress')), customers);
    const seconds = (now() - startedAt) / 1000;
    const cpu = { server: sum(nodes, (node) => cpuSeconds(node.pid)) - cpuBefore.server, load: group.cpuSeconds() - cpuBefore.load };

    const reports = await Promise.all(shares.map((_, process) => customerProcess(process, 'report')));
    const agentReport = await group.one(0, 'stopAgents');
    const stored = await checkStore(backends, reports, capacity);
    const total = (key) => sum(reports, (report) => report[key]);
    const firstHandoffAt = Math.min(...reports.map((report) => report.firstHandoffAt));
    const lastAssignedAt = Math.max(...reports.map((report) => report.lastAssignedAt));
    const merged = (key) => reports.reduce((histogram, report) => histogram.merge(Histogram.from(report[key])), new Histogram()).summary();
    return {
      nodes: nodeCount,
      customers: total('customers'),
      handoffSeconds: Number(((Math.max(...reports.map((report) => report.lastHandoffAt)) - firstHandoffAt) / 1000).toFixed(1)),
      assigned: total('assigned'),
      assignedTwice: total('assignedTwice'),
      notByRouting: total('notByRouting'),
      responded: total('responded'),
      resolved: total('resolved'),
      handoffToAssignmentMs: merged('assignmentMs'),
      firstResponseMs: merged('firstResponseMs'),
      // From the first handoff to the last assignment a customer saw.
      assignmentsPerSecond: lastAssignedAt > firstHandoffAt ? Math.round(total('assigned') / ((lastAssignedAt - firstHandoffAt) / 1000)) : null,
      lost: total('lost'),
      duplicates: total('duplicates'),
      customerErrors: total('errors'),
      firstCustomerError: reports.find((report) => report.firstError)?.firstError ?? null,
      agents: agentReport,
      stored,
      cores: { server: Number((cpu.server / seconds).toFixed(2)), load: Number((cpu.load / seconds).toFixed(2)) },
    };
  } finally {
    await group.stop();
    await Promise.all(nodes.map((node) => node.stop()));
    await backends.release();
  }
}

/** Registers the agents with their capacity, as a tenant admin does over the API. */
async function configureAgents(httpUrl, agents, capacity) {
  const admin = new ApiClient(httpUrl, await token('desk-admin', ['admin']), { connections: 4 });
  try {
    await pooled(agents, 4, (index) => admin.request('PUT', `/v1/api/support/agents/${agentUser(index)}`, { capacity, teams: [], skills: [] }));
  } finally {
    admin.close();
  }
}

/** Waits until every customer saw its conversation resolved, or nothing moved for STALL_MS. */
async function waitForResolutions(progressOf, customers) {
  let last = -1;
  let movedAt = now();
  for (;;) {
    const progress = await Promise.all(progressOf.map((read) => read()));
    const moved = sum(progress, (item) => item.assigned + item.resolved);
    if (sum(progress, (item) => item.resolved) >= customers) return;
    if (moved !== last) [last, movedAt] = [moved, now()];
    if (now() - movedAt > STALL_MS) return;
    await sleep(100);
  }
}

/**
 * What PostgreSQL holds: `conversation.assigned` events per conversation, the agents' open conversations over
 * time, and the events a customer never received. The most conversations an agent held open is swept from the
 * events in the order of their `ts` (each is taken under the agent's row lock, so an agent's are in order),
 * counting an assignment before a release of the same millisecond: an upper bound.
 */
async function checkStore(backends, reports, capacity) {
  const assignedRows = await backends.query(`SELECT conversation, count(*)::int AS assignments FROM parley_events WHERE tenant = 'bench' AND type = 'conversation.assigned' GROUP BY conversation`);
  const rows = await backends.query(
    `SELECT conversation, type, data FROM parley_events WHERE tenant = 'bench' AND type = ANY($1::text[])
     ORDER BY ts, (type <> 'conversation.assigned'), conversation, seq`,
    [['conversation.assigned', ...RELEASES]],
  );
  const assignee = new Map();
  const open = new Map();
  const maxOpen = new Map();
  for (const { conversation, type, data } of rows) {
    const previous = assignee.get(conversation);
    if (previous !== undefined) open.set(previous, open.get(previous) - 1);
    assignee.delete(conversation);
    if (type !== 'conversation.assigned') continue;
    assignee.set(conversation, data.agentId);
    open.set(data.agentId, (open.get(data.agentId) ?? 0) + 1);
    maxOpen.set(data.agentId, Math.max(maxOpen.get(data.agentId) ?? 0, open.get(data.agentId)));
  }
  const heads = new Map((await backends.query(`SELECT id, last_seq FROM parley_conversations WHERE tenant = 'bench'`)).map((row) => [row.id, Number(row.last_seq)]));
  const lastSeqs = reports.flatMap((report) => Object.entries(report.lastSeqs));
  const requeued = await backends.query(`SELECT count(*)::int AS requeued FROM parley_events WHERE tenant = 'bench' AND type = 'conversation.transferred'`);
  // Where the time of a handoff goes, by the server's own clock: requested → queued (the answer stopped, the
  // queue entered), queued → assigned (routing).
  const [split] = await backends.query(
    `WITH steps AS (
       SELECT conversation, min(ts) FILTER (WHERE type = 'handoff.requested') AS requested, min(ts) FILTER (WHERE type = 'conversation.queued') AS queued,
              min(ts) FILTER (WHERE type = 'conversation.assigned') AS assigned
       FROM parley_events WHERE tenant = 'bench' GROUP BY conversation)
     SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY queued - requested)::int AS queued_p50, percentile_disc(0.99) WITHIN GROUP (ORDER BY queued - requested)::int AS queued_p99,
            percentile_disc(0.5) WITHIN GROUP (ORDER BY assigned - queued)::int AS routed_p50, percentile_disc(0.99) WITHIN GROUP (ORDER BY assigned - queued)::int AS routed_p99
     FROM steps WHERE assigned IS NOT NULL`,
  );
  return {
    conversations: lastSeqs.length,
    assignedOnce: assignedRows.filter((row) => row.assignments === 1).length,
    assignedMoreThanOnce: assignedRows.filter((row) => row.assignments > 1).length,
    requeued: requeued[0].requeued,
    requestedToQueuedMs: { p50: split.queued_p50, p99: split.queued_p99 },
    queuedToAssignedMs: { p50: split.routed_p50, p99: split.routed_p99 },
    maxOpenPerAgent: Math.max(0, ...maxOpen.values()),
    agentsOverCapacity: [...maxOpen.values()].filter((most) => most > capacity).length,
    // Events committed to a customer's conversation that the customer had not received at the end.
    behindAtEnd: lastSeqs.reduce((total, [conversationId, seq]) => total + Math.max(0, (heads.get(conversationId) ?? 0) - seq), 0),
  };
}
