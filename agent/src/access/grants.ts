/*! Grant records: one root-only JSON file per user with the key and the expiry, so
 * `taupage ssh expire` knows what to end without trusting files the user can edit (their own
 * authorized_keys). Normally under /var/lib/taupage/ssh-grants; under /run when the disk is full
 * (such a grant's key is on tmpfs too, so a reboot ends both). */
import { readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { makeDir } from '../lib/make-dir.js';
import { writeFileAtomic } from '../lib/atomic-write.js';
import { USER_NAME_PATTERN } from './command.js';

export interface GrantRecord {
  user: string;
  grantedAt: string;
  expiresAt: string;
  keyType: string;
  keyBase64: string;
  keyFingerprint: string;
}

export interface GrantDirs {
  /** Persistent (/var/lib/taupage/ssh-grants). */
  disk: string;
  /** tmpfs (/run/taupage/ssh-grants). */
  run: string;
}

const file = (dir: string, user: string) => join(dir, `${user}.json`);

async function readOne(path: string): Promise<GrantRecord | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const g = JSON.parse(text) as GrantRecord;
    return typeof g.user === 'string' && typeof g.expiresAt === 'string' && typeof g.keyBase64 === 'string' ? g : undefined;
  } catch {
    return undefined;
  }
}

/** The user's grant; the tmpfs one wins (it is the newer when both exist: written on a full disk). */
export async function readGrant(dirs: GrantDirs, user: string): Promise<GrantRecord | undefined> {
  return (await readOne(file(dirs.run, user))) ?? (await readOne(file(dirs.disk, user)));
}

export async function listGrants(dirs: GrantDirs): Promise<GrantRecord[]> {
  const byUser = new Map<string, GrantRecord>();
  for (const dir of [dirs.disk, dirs.run]) {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const n of names) {
      const user = n.replace(/\.json$/, '');
      if (!n.endsWith('.json') || !USER_NAME_PATTERN.test(user)) continue;
      const g = await readOne(join(dir, n));
      if (g && g.user === user) byUser.set(user, g);
    }
  }
  return [...byUser.values()].sort((a, b) => a.user.localeCompare(b.user));
}

/** Write the record where there is room; returns where it went. */
export async function writeGrant(dirs: GrantDirs, g: GrantRecord, preferRun: boolean): Promise<'disk' | 'run'> {
  const text = `${JSON.stringify(g)}\n`;
  if (!preferRun) {
    try {
      await makeDir(dirs.disk, 0o700);
      await writeFileAtomic(file(dirs.disk, g.user), text, { mode: 0o600 });
      await unlink(file(dirs.run, g.user)).catch(() => undefined);
      return 'disk';
    } catch (e) {
      if (!['ENOSPC', 'EDQUOT', 'EROFS'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
    }
  }
  await makeDir(dirs.run, 0o700);
  await writeFileAtomic(file(dirs.run, g.user), text, { mode: 0o600 });
  return 'run';
}

export async function removeGrant(dirs: GrantDirs, user: string): Promise<void> {
  for (const dir of [dirs.disk, dirs.run]) {
    await unlink(file(dir, user)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
  }
}
