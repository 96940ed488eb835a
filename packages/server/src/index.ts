export { startNode, openStore, SERVER_VERSION, type ParleyNode } from './app/app.js';
export { loadConfig, ConfigError, SETTINGS, type Config } from './config/config.js';
export { ParleyError } from './core/errors.js';
export type * from './core/ports.js';
export type * from './core/types.js';
