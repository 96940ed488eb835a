// Copies the non-TypeScript files the server reads at run time (Redis Lua scripts) from src/ to dist/.
import { cpSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src');

function copyAssets(directory) {
  for (const name of readdirSync(directory)) {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) copyAssets(path);
    else if (name.endsWith('.lua')) cpSync(path, join(root, 'dist', relative(source, path)));
  }
}

copyAssets(source);
