/** The ports: one file each; this index lets modules import them from one place. */
export type * from './store.js';
export type * from './member-store.js';
export type * from './key-store.js';
export type * from './bus.js';
export type * from './presence.js';
export type * from './assistants.js';
export type * from './generation-texts.js';
export type * from './usage-budgets.js';
export type * from './approval-registry.js';
export type * from './context-archive.js';
export type * from './job-queue.js';
export type * from './user-rate-limits.js';
export type * from './reactions.js';
export type * from './reaction-cursors.js';
export type * from './webhook-store.js';
export type * from './webhook-admin.js';
