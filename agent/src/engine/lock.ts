/*! Once per boot: the boot id, and the lock under /run that keeps a second `taupage boot` in the
 * same boot from running again. /run is a tmpfs, so a reboot clears the lock; a lock written in an
 * earlier boot (a /run that survived) is recognised by its boot id and taken over. */
import { open, readFile, unlink, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Paths } from '../config/paths.js';

export interface LockHolder {
  bootId: string;
  pid: number;
  startedAt: string;
}

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

export async function acquireBootLock(file: string, holder: LockHolder): Promise<{ acquired: true } | { acquired: false; holder: LockHolder }> {
  await mkdir(dirname(file), { recursive: true, mode: 0o755 });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(file, 'wx', 0o644);
      try {
        await fh.writeFile(`${JSON.stringify(holder)}\n`);
      } finally {
        await fh.close();
      }
      return { acquired: true };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const current = await readHolder(file);
    if (current && current.bootId === holder.bootId) return { acquired: false, holder: current };
    // Left by an earlier boot (or unreadable): take it over, once.
    await unlink(file).catch(() => undefined);
  }
  const current = await readHolder(file);
  return { acquired: false, holder: current ?? { bootId: holder.bootId, pid: 0, startedAt: '' } };
}

async function readHolder(file: string): Promise<LockHolder | undefined> {
  try {
    const h = JSON.parse(await readFile(file, 'utf8')) as Partial<LockHolder>;
    return typeof h.bootId === 'string' ? { bootId: h.bootId, pid: Number(h.pid ?? 0), startedAt: String(h.startedAt ?? '') } : undefined;
  } catch {
    return undefined;
  }
}
