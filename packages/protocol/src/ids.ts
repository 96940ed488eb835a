import { z } from 'zod';

/** Identifiers (tenants, users, conversations, client message ids): short, printable, no separators that matter to keys. */
export const identifierSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.:@-]+$/, 'only letters, digits and _ . : @ - are allowed');

export const roleSchema = z.enum(['user', 'agent', 'admin']);
export type Role = z.infer<typeof roleSchema>;
