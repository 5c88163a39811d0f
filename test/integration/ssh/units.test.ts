/*! The systemd units docs/ssh-access.md tells the image to install, checked by systemd itself
 * (`systemd-analyze verify` works without systemd as PID 1). ExecStart must exist on this host,
 * so /usr/bin/taupage is replaced by the built agent. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, BUNDLE, REPO } from './lab.js';

const doc = readFileSync(join(REPO, 'docs/ssh-access.md'), 'utf8');
const units = [...doc.matchAll(/```ini\n# \/etc\/systemd\/system\/(\S+)\n([\s\S]*?)```/g)].map((m) => ({ name: m[1]!, text: m[2]! }));

describe('the SSH access service units in docs/ssh-access.md', () => {
  it('are the socket and the service, and systemd-analyze verify finds nothing wrong', async () => {
    expect(units.map((u) => u.name)).toEqual(['taupage-ssh-hook.socket', 'taupage-ssh-hook.service']);
    const socket = units[0]!.text;
    for (const line of ['ListenStream=/run/taupage/ssh-hook.sock', 'SocketMode=0660', 'SocketUser=root', 'SocketGroup=granting-service', 'Accept=no'])
      expect(socket).toContain(line);
    expect(units[1]!.text).toContain('ExecStart=/usr/bin/taupage ssh-service\n');
    const dir = await mkdtemp(join(tmpdir(), 'tpg-units-'));
    try {
      for (const u of units) await writeFile(join(dir, u.name), u.text.replaceAll('/usr/bin/taupage', BUNDLE));
      const r = await run('systemd-analyze', ['verify', '--recursive-errors=no', ...units.map((u) => join(dir, u.name))]);
      expect(r).toMatchObject({ code: 0, stderr: '' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
