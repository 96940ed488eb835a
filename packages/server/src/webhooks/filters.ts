import { DURABLE_EVENT_TYPES } from '@parley/protocol';
import { z } from 'zod';

/** The durable event types an endpoint may name (the protocol's catalogue). */
export const KNOWN_EVENT_TYPES: readonly string[] = DURABLE_EVENT_TYPES;

/** Whether an endpoint with these filters receives events of `type`: `*`, the exact type, or `prefix.*` for `prefix.anything`. */
export function matchesTypes(filters: readonly string[], type: string): boolean {
  return filters.some((filter) => filter === '*' || filter === type || (filter.endsWith('.*') && type.startsWith(filter.slice(0, -1))));
}

/** One event-type filter: `*`, a type of the catalogue, or `prefix.*` where some type of the catalogue starts with `prefix.`. */
export const eventTypeFilterSchema = z
  .string()
  .max(100)
  .refine(
    (filter) => filter === '*' || KNOWN_EVENT_TYPES.includes(filter) || (filter.endsWith('.*') && KNOWN_EVENT_TYPES.some((type) => type.startsWith(filter.slice(0, -1)))),
    { message: `must be *, an event type (${KNOWN_EVENT_TYPES.join(', ')}) or a prefix such as ai.*` },
  );
