export * from './catalogue.js';
export * from './codec.js';
export * from './errors.js';
export * from './events.js';
export * from './frames.js';
export * from './ids.js';
export * from './json-limits.js';
