/*! The one thing the root service still writes in a person's home: the welcome line in
 * ~/.profile. The home belongs to the person, who can swap any name in it for a link, a FIFO or a
 * directory at any moment, so nothing here works by path:
 *
 * - the home is opened once (O_DIRECTORY | O_NOFOLLOW) and must be a directory the person owns;
 *   every later name is looked up relative to that descriptor (through /proc/self/fd/N, Node's
 *   openat), with O_NOFOLLOW | O_NONBLOCK, so a link is never followed and a FIFO never blocks;
 * - ~/.profile is read only when the descriptor is a regular file the person owns with one link
 *   (not root's /etc/shadow hard-linked or swapped in), and at most 64 KiB of it;
 * - the new content goes to a fresh file made with O_CREAT | O_EXCL (never an existing one),
 *   fchown/fchmod on its descriptor, then renamed over ~/.profile (rename follows no link).
 *
 * Whatever the person put there instead, the worst outcome is no welcome line. */
import { constants } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import type { Account } from '../ports/accounts.js';
import { DIRECTORY_NO_FOLLOW, inDirectory } from '../lib/open-flags.js';
import { withWelcome } from './authorized-keys.js';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = constants;
const MAX_PROFILE_BYTES = 64 * 1024;

export type WelcomeResult = 'written' | 'skipped';

/** Put the welcome line into the person's ~/.profile (replacing an earlier one). Never throws for
 * what the person did to their home; 'skipped' says it left things alone. */
export async function writeWelcome(account: Pick<Account, 'home' | 'uid' | 'gid'>, line: string): Promise<WelcomeResult> {
  let home: FileHandle;
  try {
    home = await open(account.home, DIRECTORY_NO_FOLLOW);
  } catch {
    return 'skipped';
  }
  try {
    const st = await home.stat();
    if (!st.isDirectory() || st.uid !== account.uid) return 'skipped';
    const old = await readOwnFile(home, '.profile', account.uid);
    if (old === null) return 'skipped';
    const tmp = `.profile.taupage-${randomBytes(6).toString('hex')}`;
    const fh = await open(inDirectory(home, tmp), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK, 0o600);
    try {
      await fh.chown(account.uid, account.gid);
      await fh.chmod(old?.mode ?? 0o644);
      await fh.writeFile(withWelcome(old?.text ?? '', line));
      await fh.sync();
    } catch (e) {
      await unlink(inDirectory(home, tmp)).catch(() => undefined);
      throw e;
    } finally {
      await fh.close().catch(() => undefined);
    }
    await rename(inDirectory(home, tmp), inDirectory(home, '.profile')).catch(async (e) => {
      await unlink(inDirectory(home, tmp)).catch(() => undefined);
      throw e;
    });
    return 'written';
  } catch {
    return 'skipped';
  } finally {
    await home.close();
  }
}

/** The file's text and mode; undefined when it does not exist; null when it is not a plain file
 * of the person's own (a link, FIFO, device, directory, someone else's or hard-linked file). */
async function readOwnFile(dir: FileHandle, name: string, uid: number): Promise<{ text: string; mode: number } | undefined | null> {
  let fh: FileHandle;
  try {
    fh = await open(inDirectory(dir, name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : null;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.uid !== uid || st.nlink !== 1 || st.size > MAX_PROFILE_BYTES) return null;
    const buf = Buffer.alloc(st.size);
    const { bytesRead } = await fh.read(buf, 0, st.size, 0);
    return { text: buf.subarray(0, bytesRead).toString('utf8'), mode: st.mode & 0o777 };
  } finally {
    await fh.close();
  }
}
