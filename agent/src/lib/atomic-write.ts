/*! Atomic file writes for files other processes read: temp file in the same directory, fsync,
 * chmod/chown before the rename, rename, fsync the directory. A reader sees the old file or the new
 * one, never a partial or empty one, and a crash leaves at worst a stray temp file. */
import { open, rename, unlink, readFile } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { makeParents } from './make-dir.js';

export interface AtomicWriteOptions {
  mode: number;
  uid?: number;
  gid?: number;
  /** Create the parent directory and those above it when missing (each 0755, whatever the umask). */
  mkdirParents?: boolean;
  /** false: skip both fsyncs. Still atomic for readers, not crash-durable: only for files on tmpfs
   * or that are rewritten often and cheap to lose (status files). Default true. */
  fsync?: boolean;
}

export async function writeFileAtomic(path: string, data: string | Uint8Array, options: AtomicWriteOptions): Promise<void> {
  const dir = dirname(path);
  if (options.mkdirParents) await makeParents(dir);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', options.mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(options.mode); // the umask must not weaken or strengthen what the caller asked for
    if (options.uid !== undefined || options.gid !== undefined) await fh.chown(options.uid ?? -1, options.gid ?? -1);
    if (options.fsync !== false) await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  if (options.fsync !== false) await fsyncDir(dir);
}

export async function fsyncDir(dir: string): Promise<void> {
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/** The file's content, or undefined when it does not exist. */
export async function readIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Remove the file; false when there was none. */
export async function removeIfExists(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}
