/*! open(2) flags root uses on directories others may write or replace, and names resolved from
 * a directory's descriptor instead of its path. */
import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

/** A directory, never through a symbolic link (ELOOP), never blocking on something else planted
 * under the name (a FIFO fails with ENOTDIR instead of hanging the open). */
export const DIRECTORY_NO_FOLLOW = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** `name` in the directory `dir` is open on, as a path the kernel resolves from that directory
 * wherever it was moved (the magic link /proc/self/fd/N): openat(2) and mkdirat(2) for Node, which
 * has neither. Only a plain name: never a path, `.` or `..`. */
export function inDirectory(dir: FileHandle, name: string): string {
  if (name.includes('/') || name === '.' || name === '..' || name === '') throw new Error(`not a plain name: ${name}`);
  return `/proc/self/fd/${dir.fd}/${name}`;
}
