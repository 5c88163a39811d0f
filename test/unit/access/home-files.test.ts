import { describe, expect, it, beforeEach, afterEach } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chown, link, lstat, mkdtemp, readFile, rm, symlink, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeWelcome } from '../../../agent/src/access/home-files.js';

/** A person (nobody's ids) and their home; the test runs as root, like the service. */
const person = { uid: 65534, gid: 65534 };
let dir: string;
let home: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tpg-home-'));
  home = join(dir, 'home');
  await mkdir(home);
  await chown(home, person.uid, person.gid);
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const welcome = (line = "echo 'hi' # taupage-even-welcome") => writeWelcome({ home, ...person }, line);

describe.skipIf(process.getuid?.() !== 0)('the welcome line in ~/.profile, written by root in a home the person owns', () => {
  it("keeps the person's lines, mode and ownership", async () => {
    await writeFile(join(home, '.profile'), 'PATH=$PATH:~/bin\n', { mode: 0o640 });
    await chown(join(home, '.profile'), person.uid, person.gid);
    expect(await welcome()).toBe('written');
    expect(await readFile(join(home, '.profile'), 'utf8')).toBe("PATH=$PATH:~/bin\necho 'hi' # taupage-even-welcome\n");
    const st = await lstat(join(home, '.profile'));
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([person.uid, person.gid, 0o640]);
  });

  it('a link to a root-only file is neither read nor written through', async () => {
    const secret = join(dir, 'shadow');
    await writeFile(secret, 'root:SECRET\n', { mode: 0o600 });
    await symlink(secret, join(home, '.profile'));
    expect(await welcome()).toBe('skipped');
    expect(await readFile(secret, 'utf8')).toBe('root:SECRET\n');
  });

  it('a hard link to a file of root, a FIFO, a directory: left alone, and nothing blocks', async () => {
    const secret = join(dir, 'root-file');
    await writeFile(secret, 'root only\n', { mode: 0o600 });
    await link(secret, join(home, '.profile'));
    expect(await welcome()).toBe('skipped');
    await rm(join(home, '.profile'));
    execFileSync('mkfifo', [join(home, '.profile')]);
    expect(await welcome()).toBe('skipped');
    await rm(join(home, '.profile'));
    await mkdir(join(home, '.profile'));
    expect(await welcome()).toBe('skipped');
  });

  it("a home that is a link, or not the person's, is left alone", async () => {
    const other = join(dir, 'other');
    await mkdir(other);
    await rm(home, { recursive: true });
    await symlink(other, home);
    expect(await welcome()).toBe('skipped');
    await rm(home);
    await mkdir(home);
    expect(await welcome()).toBe('skipped');
    await expect(lstat(join(home, '.profile'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
