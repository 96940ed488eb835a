import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

/**
 * Registers Lua scripts from `lua/<file>` on a connection as commands (EVALSHA, loaded once per
 * connection). The number of keys comes from the file name, `<name>-<numberOfKeys>.lua`.
 */
export function defineScripts(redis: Redis, scripts: Record<string, string>): void {
  for (const [command, file] of Object.entries(scripts)) {
    const numberOfKeys = Number(/-(\d+)\.lua$/.exec(file)?.[1]);
    if (!Number.isInteger(numberOfKeys)) throw new Error(`script ${file} does not say its number of keys`);
    redis.defineCommand(command, { numberOfKeys, lua: readFileSync(new URL(`./lua/${file}`, import.meta.url), 'utf8') });
  }
}
