import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { staticFile } from '../src/http/static-files.js';

describe('staticFile', () => {
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'parley-web-'));
    await mkdir(join(root, 'assets'));
    await writeFile(join(root, 'index.html'), 'chat page');
    await writeFile(join(root, 'agent.html'), 'agent console');
    await writeFile(join(root, 'assets', 'agent-1.js'), 'code');
  });

  afterAll(() => rm(root, { recursive: true, force: true }));

  const body = async (path: string) => (await staticFile(root, path))?.text();

  it('serves files, the agent console under /agent and the chat page for every other client-side route', async () => {
    expect(await body('/assets/agent-1.js')).toBe('code');
    expect(await body('/agent')).toBe('agent console');
    expect(await body('/agent/')).toBe('agent console');
    expect(await body('/agent/conversations/c1')).toBe('agent console');
    expect(await body('/')).toBe('chat page');
    expect(await body('/agents')).toBe('chat page');
    expect(await body('/chat/agent')).toBe('chat page');
  });

  it('stays under the root', async () => {
    expect(await body('/../../etc/passwd')).toBe('chat page');
    expect(await staticFile(root, '/%E0%A4%A')).toBeNull();
  });
});
