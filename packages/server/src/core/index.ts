export * from './errors.js';
export * from './ports.js';
export * from './types.js';
export * from './count-map.js';
