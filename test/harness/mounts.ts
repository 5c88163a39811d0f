/*! Mounts tests make under their scratch roots (volumes, tmpfs): listed from the kernel's mount
 * table and unmounted, deepest first, before a scratch root is removed, so removing it never
 * reaches into a mounted file system. */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Mount points at or under `dir`, deepest (and latest) first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const points = text
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
  return points.reverse().sort((a, b) => b.split('/').length - a.split('/').length);
}

/** Unmount everything at or under `dir` (lazily when busy, e.g. held by a container). */
export async function unmountUnder(dir: string): Promise<void> {
  for (const p of await mountsUnder(dir)) {
    await run('umount', [p]).catch(() => run('umount', ['-l', p]).catch(() => undefined));
  }
}
