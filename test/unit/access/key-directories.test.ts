import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeGrant, type GrantRecord } from '../../../agent/src/access/grants.js';
import { makeDir } from '../../../agent/src/lib/make-dir.js';
import { writeFileAtomic } from '../../../agent/src/lib/atomic-write.js';

// sshd reads a granted person's key (/var/lib/taupage/ssh-keys/NAME) as that person, so every
// directory above it must let them through. A grant writes its record (0700 directory) and its key
// at the same time, on a fresh instance into a /var/lib/taupage that does not exist yet: whichever
// write made the parent first used to decide its mode, and the person's login failed now and then.
const mode = async (p: string) => (await stat(p)).mode & 0o777;
const GRANT: GrantRecord = {
  user: 'alice',
  grantedAt: '2026-11-29T10:00:00.000Z',
  expiresAt: '2026-11-29T11:00:00.000Z',
  keyType: 'ssh-ed25519',
  keyBase64: 'AAAAC3NzaC1lZDI1NTE5AAAAIJ',
  keyFingerprint: 'SHA256:x',
};

describe('directories root makes above a person key', () => {
  let root: string;
  let umask: number;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'tpg-dirs-'));
    // The strictest umask a service may run with: modes must not depend on it.
    umask = process.umask(0o077);
  });
  afterEach(async () => {
    process.umask(umask);
    await rm(root, { recursive: true, force: true });
  });

  it('a grant record written first leaves the new /var/lib/taupage and /run/taupage open to pass (0755), its own directory 0700', async () => {
    const dirs = { disk: join(root, 'var/lib/taupage/ssh-grants'), run: join(root, 'run/taupage/ssh-grants') };
    expect(await writeGrant(dirs, GRANT, false)).toBe('disk');
    expect(await writeGrant(dirs, GRANT, true)).toBe('run');
    for (const d of ['var', 'var/lib', 'var/lib/taupage', 'run', 'run/taupage']) expect(await mode(join(root, d)), d).toBe(0o755);
    expect(await mode(dirs.disk)).toBe(0o700);
    expect(await mode(dirs.run)).toBe(0o700);
  });

  it('makeDir gives the directory its mode whatever the umask, also when it exists, and leaves existing parents alone', async () => {
    await makeDir(join(root, 'a'), 0o750);
    await makeDir(join(root, 'a/b/c'), 0o700);
    expect(await mode(join(root, 'a'))).toBe(0o750);
    expect(await mode(join(root, 'a/b'))).toBe(0o755);
    expect(await mode(join(root, 'a/b/c'))).toBe(0o700);
    await makeDir(join(root, 'a/b/c'), 0o755);
    expect(await mode(join(root, 'a/b/c'))).toBe(0o755);
  });

  it('a file written with mkdirParents makes every missing directory above it 0755, whatever the umask, and leaves existing ones alone', async () => {
    await makeDir(join(root, 'etc'), 0o700);
    await writeFileAtomic(join(root, 'etc/rsyslog.d/deep/60-taupage.conf'), 'x', { mode: 0o600, mkdirParents: true });
    expect(await mode(join(root, 'etc'))).toBe(0o700);
    expect(await mode(join(root, 'etc/rsyslog.d'))).toBe(0o755);
    expect(await mode(join(root, 'etc/rsyslog.d/deep'))).toBe(0o755);
    expect(await mode(join(root, 'etc/rsyslog.d/deep/60-taupage.conf'))).toBe(0o600);
  });
});
