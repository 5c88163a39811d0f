/*! Once per boot: the boot id, and the lock under /run that keeps a second `taupage boot` in the
 * same boot from running again. /run is a tmpfs, so a reboot clears the lock; a lock written in an
 * earlier boot (a /run that survived) is recognised by its boot id and taken over.
 *
 * In the same boot the lock says what became of its holder: finished (the boot ran: a second one
 * has nothing to do), still running (its pid is alive, and is the same process: the start time in
 * /proc guards against a reused pid), or gone without finishing (killed, crashed: the next boot
 * runs again). A boot stopped by SIGTERM removes the lock itself (releaseBootLock), having recorded
 * and signalled that it was interrupted, so the boot systemd starts next runs again too. */
import { open, readFile, unlink, mkdir, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Paths } from '../config/paths.js';
import { processAlive, processStartTime } from '../lib/process-alive.js';

export interface LockHolder {
  bootId: string;
  pid: number;
  startedAt: string;
  /** The holder's start time in clock ticks since boot (/proc/PID/stat), to tell a reused pid apart. */
  pidStart?: string;
  /** Set when the holder's boot ended (with any outcome). */
  finishedAt?: string;
}

export type LockVerdict =
  | { acquired: true /** The holder this one replaced, when it died mid-boot. */; tookOverFrom?: LockHolder }
  | { acquired: false; holder: LockHolder; state: 'finished' | 'running' };

/** The kernel's boot id; under a test root a fake one may stand in. */
export async function readBootId(paths: Paths): Promise<string> {
  for (const file of [paths.bootIdFile, '/proc/sys/kernel/random/boot_id']) {
    try {
      const id = (await readFile(file, 'utf8')).trim();
      if (id) return id;
    } catch {
      // next candidate
    }
  }
  return randomUUID();
}

export async function acquireBootLock(file: string, holder: Omit<LockHolder, 'pidStart' | 'finishedAt'>): Promise<LockVerdict> {
  await mkdir(dirname(file), { recursive: true, mode: 0o755 });
  const mine: LockHolder = { ...holder, ...pidStartOf(holder.pid) };
  let tookOverFrom: LockHolder | undefined;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(file, 'wx', 0o644);
      try {
        await fh.writeFile(`${JSON.stringify(mine)}\n`);
      } finally {
        await fh.close();
      }
      return tookOverFrom ? { acquired: true, tookOverFrom } : { acquired: true };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const current = await readHolder(file);
    if (current && current.bootId === holder.bootId) {
      if (current.finishedAt) return { acquired: false, holder: current, state: 'finished' };
      if (holderAlive(current)) return { acquired: false, holder: current, state: 'running' };
      tookOverFrom = current; // died mid-boot: this boot runs again
    }
    // Left by an earlier boot, by a holder that died, or unreadable: take it over, once.
    await unlink(file).catch(() => undefined);
  }
  const current = await readHolder(file);
  return { acquired: false, holder: current ?? { bootId: holder.bootId, pid: 0, startedAt: '' }, state: 'running' };
}

/** The boot ended (any outcome): a later `taupage boot` in this boot has nothing to do. */
export async function markBootLockFinished(file: string, holder: LockHolder, at: string): Promise<void> {
  const current = await readHolder(file);
  if (!current || current.pid !== holder.pid || current.bootId !== holder.bootId) return;
  const tmp = `${file}.${process.pid}.tmp`;
  await mkdir(dirname(file), { recursive: true, mode: 0o755 });
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(`${JSON.stringify({ ...current, finishedAt: at })}\n`);
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}

/** Remove the lock if it is this process's (an interrupted boot: the next one runs again). */
export async function releaseBootLock(file: string, holder: Pick<LockHolder, 'pid' | 'bootId'>): Promise<void> {
  const current = await readHolder(file);
  if (current && current.pid === holder.pid && current.bootId === holder.bootId) await unlink(file).catch(() => undefined);
}

function pidStartOf(pid: number): { pidStart?: string } {
  const start = processStartTime(pid);
  return start ? { pidStart: start } : {};
}

function holderAlive(h: LockHolder): boolean {
  if (!h.pid || !processAlive(h.pid)) return false;
  // The same pid, but another process since (the holder died and the pid was reused).
  return h.pidStart === undefined || processStartTime(h.pid) === h.pidStart;
}

async function readHolder(file: string): Promise<LockHolder | undefined> {
  try {
    const h = JSON.parse(await readFile(file, 'utf8')) as Partial<LockHolder>;
    if (typeof h.bootId !== 'string') return undefined;
    return {
      bootId: h.bootId,
      pid: Number(h.pid ?? 0),
      startedAt: String(h.startedAt ?? ''),
      ...(typeof h.pidStart === 'string' ? { pidStart: h.pidStart } : {}),
      ...(typeof h.finishedAt === 'string' ? { finishedAt: h.finishedAt } : {}),
    };
  } catch {
    return undefined;
  }
}
