import type { ToolDefinition } from './tools.js';

const STATUSES = [
  { status: 'processing', detail: 'it is being packed and leaves the warehouse within a day' },
  { status: 'shipped', detail: 'it is on its way and should arrive in 2 business days' },
  { status: 'delivered', detail: 'it was delivered to your mailbox' },
  { status: 'delayed', detail: 'the carrier reports a delay of about 3 days' },
] as const;

/**
 * The demo backend's tools, in-process: an order lookup with deterministic made-up orders, and support
 * tickets kept in memory. They stand in for a tenant's backend in the offline demo and in tests.
 */
export function demoBackendTools(): ToolDefinition[] {
  const tickets: Array<{ ticketId: string; subject: string }> = [];
  const cancellations: string[] = [];
  return [
    {
      name: 'lookup_order',
      description: 'Look up the status of a customer order by its number.',
      inputSchema: { type: 'object', properties: { orderId: { type: 'string', description: 'the order number' } }, required: ['orderId'], additionalProperties: false },
      timeoutMs: 5000,
      execute: async (input) => {
        const orderId = String(input.orderId ?? '');
        if (!/^\d{3,10}$/.test(orderId) || orderId.startsWith('0')) return { orderId, found: false };
        const entry = STATUSES[Number(orderId) % STATUSES.length]!;
        return { orderId, found: true, status: entry.status, detail: entry.detail };
      },
    },
    {
      name: 'cancel_order',
      description: 'Cancel a customer order. Changes the order: profiles usually require approval.',
      inputSchema: { type: 'object', properties: { orderId: { type: 'string' } }, required: ['orderId'], additionalProperties: false },
      timeoutMs: 5000,
      execute: async (input) => {
        const orderId = String(input.orderId ?? '');
        cancellations.push(orderId);
        return { orderId, cancelled: true, cancellationsOfThisOrder: cancellations.filter((id) => id === orderId).length };
      },
    },
    {
      name: 'create_support_ticket',
      description: 'Open a support ticket so that a human agent follows up.',
      inputSchema: { type: 'object', properties: { subject: { type: 'string' } }, required: ['subject'], additionalProperties: false },
      timeoutMs: 5000,
      execute: async (input) => {
        const ticket = { ticketId: `T-${1000 + tickets.length + 1}`, subject: String(input.subject ?? '').slice(0, 200) };
        tickets.push(ticket);
        return ticket;
      },
    },
  ];
}
