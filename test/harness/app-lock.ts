/*! One test file at a time may own the `taupageapp` container of the shared engine. Files that
 * create it take this lock in beforeAll and release it in afterAll; a lock left by a dead process
 * is taken over. (vitest runs files in parallel; the container name is fixed by design.) */
import { processAlive } from '../../agent/src/lib/process-alive.js';
import { mkdir, writeFile, readFile, rm } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { REPO } from './repo.js';

/** Shared with scripts/demo (APP_LOCK). */
const LOCK = join(REPO, '.tmp', 'locks', 'taupageapp');

export async function lockApp(timeoutMs = 15 * 60_000): Promise<() => Promise<void>> {
  await mkdir(dirname(LOCK), { recursive: true });
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      await mkdir(LOCK);
      await writeFile(join(LOCK, 'pid'), String(process.pid));
      return () => rm(LOCK, { recursive: true, force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number(await readFile(join(LOCK, 'pid'), 'utf8').catch(() => '0'));
      if (owner && !processAlive(owner)) await rm(LOCK, { recursive: true, force: true });
      else if (Date.now() > until) throw new Error(`the taupageapp lock is held by pid ${owner || '?'} for too long`);
      else await new Promise((r) => setTimeout(r, 200));
    }
  }
}
