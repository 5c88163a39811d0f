/*! The credentials directory on the host: created with explicit owner and mode, files replaced
 * atomically and only when their bytes, owner or mode differ, never deleted. */
import { mkdir, chmod, chown, stat, readdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { readIfExists, writeFileAtomic } from '../../lib/atomic-write.js';
import type { Secret } from '../../lib/secret.js';

export interface FileOwner {
  uid: number;
  gid: number;
}

/** What identifies the local file we wrote: when it still matches, the file is the one the ETag
 * describes, so a conditional GET is safe. Metadata only, never content. */
export interface Fingerprint {
  ino: number;
  size: number;
  mtimeMs: number;
  mode: number;
  uid: number;
  gid: number;
}

/** Directory mode: the container's group may enter and list, nobody else. */
export const DIRECTORY_MODE = 0o750;

/** `/meta/credentials` owned by root with the container user's group (the app may read, not
 * change or chmod it); parents 0755 so the container can reach it through the /meta bind. */
export async function ensureCredentialsDir(dir: string, owner: FileOwner): Promise<void> {
  await mkdir(dirname(dir), { recursive: true, mode: 0o755 });
  await mkdir(dir, { recursive: true, mode: DIRECTORY_MODE });
  await chown(dir, 0, owner.gid);
  await chmod(dir, DIRECTORY_MODE);
}

export async function fingerprint(path: string): Promise<Fingerprint | undefined> {
  try {
    const s = await stat(path);
    return { ino: s.ino, size: s.size, mtimeMs: s.mtimeMs, mode: s.mode & 0o7777, uid: s.uid, gid: s.gid };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export function sameFingerprint(a: Fingerprint | undefined, b: Fingerprint | undefined): boolean {
  return !!a && !!b && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.mode === b.mode && a.uid === b.uid && a.gid === b.gid;
}

/** Replace `path` with `content` unless it already holds exactly that, with that owner and mode. */
export async function writeIfChanged(path: string, content: Secret, options: FileOwner & { mode: number }): Promise<'written' | 'unchanged'> {
  const wanted = Buffer.from(content.reveal(), 'utf8');
  const current = await readIfExists(path);
  try {
    if (current?.equals(wanted)) {
      const fp = await fingerprint(path);
      if (fp && fp.mode === options.mode && fp.uid === options.uid && fp.gid === options.gid) return 'unchanged';
    }
    await writeFileAtomic(path, wanted, { mode: options.mode, uid: options.uid, gid: options.gid });
    return 'written';
  } finally {
    wanted.fill(0);
    current?.fill(0);
  }
}

/** Temp files a crashed writer left behind (`.<name>.<pid>.<hex>.tmp`, see writeFileAtomic): they
 * hold credentials, so remove those older than `olderThanMs` (younger ones may be mid-rename). */
export async function removeStaleTemps(dir: string, names: readonly string[], now: number, olderThanMs = 5 * 60_000): Promise<number> {
  let removed = 0;
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return 0;
  }
  for (const entry of entries) {
    if (!names.some((n) => entry.startsWith(`.${n}.`) && entry.endsWith('.tmp'))) continue;
    const s = await stat(join(dir, entry)).catch(() => undefined);
    if (s && now - s.mtimeMs > olderThanMs) {
      await unlink(join(dir, entry)).catch(() => undefined);
      removed++;
    }
  }
  return removed;
}
