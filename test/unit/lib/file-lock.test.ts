import { describe, expect, it, beforeEach } from 'vitest';
import { writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { acquireLock } from '../../../agent/src/lib/file-lock.js';
import { scratchDir } from '../../harness/scratch.js';

let dir: string;
beforeEach(async () => {
  dir = await scratchDir('lock');
});

describe('acquireLock', () => {
  it('excludes a second holder until release', async () => {
    const path = join(dir, 'l');
    const a = await acquireLock(path, { timeoutMs: 1_000 });
    await expect(acquireLock(path, { timeoutMs: 100, pollMs: 10 })).rejects.toMatchObject({
      code: 'TPG_SSH_FAILED',
      message: expect.stringMatching(/another taupage process holds/),
    });
    await a.release();
    const b = await acquireLock(path, { timeoutMs: 100 });
    await b.release();
  });

  it('takes over a lock whose holder process is gone', async () => {
    const path = join(dir, 'l');
    const dead = spawnSync('true').pid!;
    await writeFile(path, `${dead} cafe\n`);
    const lock = await acquireLock(path, { timeoutMs: 1_000, pollMs: 5 });
    expect(await readFile(path, 'utf8')).toMatch(new RegExp(`^${process.pid} `));
    await lock.release();
  });

  it('release does not remove a lock someone else holds now', async () => {
    const path = join(dir, 'l');
    const a = await acquireLock(path, { timeoutMs: 1_000 });
    await writeFile(path, `${process.pid} other\n`);
    await a.release();
    expect(await readFile(path, 'utf8')).toBe(`${process.pid} other\n`);
  });
});
