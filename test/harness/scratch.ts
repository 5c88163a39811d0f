/*! Scratch directories, and scratch roots: a fresh directory standing in for an instance's `/`
 * (TAUPAGE_ROOT, agent config `root`), with a kernel boot id of its own. Every root a test file makes is removed after the
 * file (test/harness/cleanup.ts); benchmarks call removeScratchRoots themselves. */
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterFile } from './cleanup.js';
import { unmountUnder } from './mounts.js';

const roots: string[] = [];

/** A fresh empty directory under the system's temp dir, named for its `purpose`. */
export async function scratchDir(purpose = 'dir'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `tpg-${purpose}-`));
  roots.push(dir);
  afterFile(removeScratchRoots);
  return dir;
}

/** A scratch directory standing in for an instance's root: it has a kernel boot id. */
export async function scratchRoot(options: { bootId?: string; purpose?: string } = {}): Promise<string> {
  const root = await scratchDir(options.purpose ?? 'root');
  await setBootId(root, options.bootId ?? randomUUID());
  return root;
}

/** Remove every scratch root this process made, unmounting what was mounted under it first. */
export async function removeScratchRoots(): Promise<void> {
  await Promise.all(
    roots.splice(0).map(async (r) => {
      await unmountUnder(r);
      await rm(r, { recursive: true, force: true });
    }),
  );
}

/** The kernel boot id as the agent reads it under a scratch root; a new one is a reboot. */
export async function setBootId(root: string, bootId: string): Promise<void> {
  await mkdir(join(root, 'proc/sys/kernel/random'), { recursive: true });
  await writeFile(join(root, 'proc/sys/kernel/random/boot_id'), `${bootId}\n`);
}

/** What a reboot does to /run: tmpfs, gone. */
export async function clearRun(root: string): Promise<void> {
  await rm(join(root, 'run'), { recursive: true, force: true });
}
