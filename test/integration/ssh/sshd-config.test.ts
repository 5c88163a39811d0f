/*! The sshd drop-in the ssh boot step writes, checked by the real sshd's extended test mode
 * (`sshd -T` prints the effective configuration), and the removal of default users' keys. */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, writeFile, stat, rm, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { paths as pathsFor } from '../../../agent/src/config/paths.js';
import { defaultConfig } from '../../../agent/src/config/load.js';
import { validateUserData } from '../../../agent/src/user-data/validate.js';
import { planSsh } from '../../../agent/src/steps/ssh/plan.js';
import { applySsh } from '../../../agent/src/steps/ssh/apply.js';
import { silentLogger } from '../../../agent/src/lib/log.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tpg-sshd-config-'));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function boot(userData: string) {
  const root = join(dir, `root-${Math.random().toString(36).slice(2)}`);
  const paths = pathsFor(root);
  const ud = validateUserData(
    `#taupage-ami-config\napplication_id: my-app\napplication_version: "1"\nruntime: Docker\nsource: pierone.example.org/t/a:1\n${userData}`,
  );
  expect(ud.errors).toEqual([]);
  const plan = planSsh({ settings: ud.settings!, config: defaultConfig().config, paths });
  return { root, paths, plan };
}

function effective(paths: ReturnType<typeof pathsFor>): Record<string, string[]> {
  const main = join(dir, 'sshd_config');
  execFileSync('sh', ['-c', `printf 'Include %s/*.conf\\nHostKey %s\\nUsePAM no\\n' "$1" "$2" > "$3"`, 'sh', paths.sshdConfigDir, join(dir, 'host_key'), main]);
  const out = execFileSync('/usr/sbin/sshd', ['-T', '-f', main, '-C', 'user=someone,host=h,addr=127.0.0.1'], { encoding: 'utf8' });
  const conf: Record<string, string[]> = {};
  for (const line of out.split('\n')) {
    const [k, ...v] = line.split(' ');
    if (k) conf[k] = [...(conf[k] ?? []), v.join(' ')];
  }
  return conf;
}

describe('the ssh boot step', () => {
  it('writes a drop-in sshd accepts, with the user-data ports, gateway ports and the hardening baseline', async () => {
    const { paths, plan } = await boot('ssh_ports: [22, 2222]\nssh_gateway_ports: clientspecified\n');
    await applySsh(plan, { log: silentLogger() });
    expect(((await stat(paths.sshdConfig)).mode & 0o777).toString(8)).toBe('644');
    const c = effective(paths);
    expect(c.port).toEqual(['22', '2222']);
    expect(c.gatewayports).toEqual(['clientspecified']);
    expect(c.passwordauthentication).toEqual(['no']);
    expect(c.kbdinteractiveauthentication).toEqual(['no']);
    expect(c.permitrootlogin).toEqual(['no']);
    expect(c.x11forwarding).toEqual(['no']);
    expect(c.permituserenvironment).toEqual(['no']);
    // Someone outside the granted group keeps ~/.ssh/authorized_keys; members get only root's key
    // files (what that means for a login is shown in access.test.ts).
    expect(c.authorizedkeysfile).toEqual([`${paths.sshKeysRun}/%u ${paths.sshKeys}/%u .ssh/authorized_keys`]);
    expect(await readFile(paths.sshdConfig, 'utf8')).toMatch(
      new RegExp(`\\nMatch Group even-ssh\\n\\tAuthorizedKeysFile ${paths.sshKeysRun}/%u ${paths.sshKeys}/%u\\n$`),
    );
  });

  it("removes the default users' key files unless keep_instance_users", async () => {
    const { paths, plan } = await boot('');
    const keys = join(paths.home, 'admin', '.ssh', 'authorized_keys');
    await mkdir(join(paths.home, 'admin', '.ssh'), { recursive: true });
    await writeFile(keys, 'ssh-ed25519 AAAA ec2-keypair\n');
    await applySsh(plan, { log: silentLogger() });
    await expect(stat(keys)).rejects.toMatchObject({ code: 'ENOENT' });

    const kept = await boot('keep_instance_users: true\n');
    const keptKeys = join(kept.paths.home, 'admin', '.ssh', 'authorized_keys');
    await mkdir(join(kept.paths.home, 'admin', '.ssh'), { recursive: true });
    await writeFile(keptKeys, 'ssh-ed25519 AAAA ec2-keypair\n');
    await applySsh(kept.plan, { log: silentLogger() });
    expect(await readFile(keptKeys, 'utf8')).toContain('ec2-keypair');
    expect(effective(kept.paths).port).toEqual(['22']);
  });
});
