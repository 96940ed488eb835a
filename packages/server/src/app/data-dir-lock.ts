import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Who holds an embedded data directory: a server (with where it listens) or a CLI command. */
export interface DataDirHolder {
  pid: number;
  kind: 'server' | 'cli';
  /** Where a server listens, once it does: CLI commands go through it. */
  url?: string;
}

/**
 * PGlite's data directory belongs to the one process that opened it: a second one would corrupt it. The
 * holder writes `parley.lock` (its pid, and a server's URL); a lock whose process is gone is taken over.
 */
export class DataDirLock {
  private constructor(private readonly path: string) {}

  /** The live holder of the directory, or null. */
  static async holder(dataDir: string): Promise<DataDirHolder | null> {
    let holder: DataDirHolder;
    try {
      holder = JSON.parse(await readFile(lockPath(dataDir), 'utf8')) as DataDirHolder;
    } catch {
      return null;
    }
    return isAlive(holder.pid) ? holder : null;
  }

  /** Takes the directory for this process; throws DataDirHeldError if a live process holds it. */
  static async acquire(dataDir: string, kind: DataDirHolder['kind']): Promise<DataDirLock> {
    await mkdir(dataDir, { recursive: true });
    const path = lockPath(dataDir);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await writeFile(path, JSON.stringify({ pid: process.pid, kind }), { flag: 'wx' });
        return new DataDirLock(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = await DataDirLock.holder(dataDir);
      if (holder && holder.pid !== process.pid) throw new DataDirHeldError(dataDir, holder);
      await rm(path, { force: true }); // left by a process that is gone
    }
    throw new DataDirHeldError(dataDir, null);
  }

  /** Records where this server listens, for CLI commands. */
  async listening(url: string): Promise<void> {
    await writeFile(this.path, JSON.stringify({ pid: process.pid, kind: 'server', url } satisfies DataDirHolder));
  }

  async release(): Promise<void> {
    await rm(this.path, { force: true });
  }
}

/** Another live process holds the embedded data directory. */
export class DataDirHeldError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holder: DataDirHolder | null,
  ) {
    super(`the data directory ${dataDir} is in use by ${holder ? `${holder.kind === 'server' ? 'a Parley server' : 'a parley command'} (pid ${holder.pid})` : 'another process'}; stop it, or use another PARLEY_DATA_DIR`);
    this.name = 'DataDirHeldError';
  }
}

function lockPath(dataDir: string): string {
  return join(dataDir, 'parley.lock');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
