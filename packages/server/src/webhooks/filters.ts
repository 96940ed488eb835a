/** Endpoint filters live in the protocol (the routes and the SDK validate with them too). */
export { KNOWN_EVENT_TYPES, matchesTypes, eventTypeFilterSchema } from '@parley/protocol';
