/*! A cross-process lock on a file path (Node has no flock): O_EXCL create, holder pid inside.
 *
 * Used to serialize SSH hook invocations, so two grants at once cannot interleave their account
 * changes or fork the audit hash chain. A lock whose holder process is gone (killed mid-run) is
 * taken over; the takeover itself runs under a second O_EXCL file so two waiters cannot both
 * remove the stale lock and then each other's fresh one. Keep lock files on tmpfs (/run): a
 * reboot clears them. */
import { processAlive } from './process-alive.js';
import { open, readFile, unlink, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { AgentError } from './errors.js';
import { realClock, type Clock } from './clock.js';

export interface LockOptions {
  /** Give up after this long. */
  timeoutMs: number;
  /** Poll interval while waiting. */
  pollMs?: number;
  clock?: Clock;
}

export interface HeldLock {
  release(): Promise<void>;
}

export async function acquireLock(path: string, options: LockOptions): Promise<HeldLock> {
  const clock = options.clock ?? realClock;
  const token = `${process.pid} ${randomBytes(6).toString('hex')}\n`;
  const giveUpAt = clock.now() + options.timeoutMs;
  for (;;) {
    if (await tryCreate(path, token)) return { release: () => releaseIf(path, token) };
    await takeOverIfStale(path);
    if (clock.now() >= giveUpAt) {
      throw new AgentError('TPG_SSH_FAILED', `another taupage process holds ${path} (waited ${options.timeoutMs} ms)`, {
        hint: `if no taupage process is running, remove ${path}`,
        retriable: true,
      });
    }
    await clock.sleep((options.pollMs ?? 20) * (0.5 + Math.random()));
  }
}

async function tryCreate(path: string, content: string): Promise<boolean> {
  try {
    const fh = await open(path, 'wx', 0o600);
    try {
      await fh.writeFile(content);
    } finally {
      await fh.close();
    }
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

async function holderAlive(path: string, content: string): Promise<boolean> {
  const pid = Number.parseInt(content, 10);
  if (!Number.isInteger(pid) || pid <= 0) {
    // Empty: its holder is between create and write, or died there; only age tells them apart.
    const st = await stat(path).catch(() => undefined);
    return st !== undefined && Date.now() - st.mtimeMs < 10_000;
  }
  return processAlive(pid);
}

async function takeOverIfStale(path: string): Promise<void> {
  const seen = await readFile(path, 'utf8').catch(() => undefined);
  if (seen === undefined || (await holderAlive(path, seen))) return;
  const guard = `${path}.takeover`;
  if (!(await tryCreate(guard, `${process.pid}\n`))) {
    // A takeover guard left by a process killed within the few microseconds it exists.
    const st = await stat(guard).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > 10_000) await unlink(guard).catch(() => undefined);
    return;
  }
  try {
    // Re-read under the guard: remove only the very lock we judged stale.
    const now = await readFile(path, 'utf8').catch(() => undefined);
    if (now === seen) await unlink(path).catch(() => undefined);
  } finally {
    await unlink(guard).catch(() => undefined);
  }
}

async function releaseIf(path: string, token: string): Promise<void> {
  const now = await readFile(path, 'utf8').catch(() => undefined);
  if (now === token) await unlink(path).catch(() => undefined);
}
