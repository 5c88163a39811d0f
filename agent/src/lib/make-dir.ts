/*! Directories root makes for other readers: every missing parent 0755 (sshd reads a person's key
 * as that person, so each directory above it must let them through), the directory itself with
 * its own mode, whatever the umask. `mkdir(..., { recursive: true, mode })` gives every directory
 * it makes that mode: a 0700 directory made first (a grant record's) would close its new parents
 * (/var/lib/taupage) to everyone, and the order two concurrent writes run in would decide it. */
import { chmod, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

/** `dir` and every missing directory above it, each made 0755 whatever the umask; directories
 * that exist are left as they are. */
export async function makeParents(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode: 0o755 });
  if (first !== undefined) for (let d = dir; d.length >= first.length; d = dirname(d)) await chmod(d, 0o755);
}

export async function makeDir(path: string, mode: number): Promise<void> {
  await makeParents(dirname(path));
  await mkdir(path, { mode }).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  await chmod(path, mode);
}
