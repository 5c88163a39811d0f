/*! What the image installs, checked without booting it: every unit in systemd/ (and the ssh.service
 * drop-in, against Debian's ssh.service) by `systemd-analyze verify`, which works without systemd
 * as PID 1 but wants ExecStart binaries on this host (/usr/bin/taupage is replaced by the built
 * agent); the Packer template by `packer validate` with no network and `packer fmt -check`. The
 * booted image is test/image/image.test.ts. */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { REPO } from '../harness/repo.js';
import { paths } from '../../agent/src/config/paths.js';
import { PROTECTIVE_MOUNT_OPTIONS } from '../../agent/src/steps/logging/plan.js';
import { defaultConfig } from '../../agent/src/config/load.js';

const UNITS = join(REPO, 'systemd');
const BUNDLE = join(REPO, 'agent/dist/taupage.mjs');

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, encoding: 'utf8', timeout: 60_000 }, (e, stdout, stderr) =>
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 124) : 0, stdout, stderr }),
    );
  });
}

const unitFiles = async () => (await readdir(UNITS)).filter((f) => /\.(service|socket|timer|mount)$/.test(f)).sort();
const unit = (name: string) => readFile(join(UNITS, name), 'utf8');

describe('the systemd units of the image (systemd/)', () => {
  it('are the boot, the refresher, SSH expiry, the SSH access service (all running /usr/bin/taupage) and the custom log reader', async () => {
    expect(await unitFiles()).toEqual([
      'taupage-boot.service',
      'taupage-credentials.service',
      'taupage-credentials.timer',
      'taupage-custom-logs.service',
      'taupage-ssh-expire.service',
      'taupage-ssh-expire.timer',
      'taupage-ssh-hook.service',
      'taupage-ssh-hook.socket',
      'var-log\\x2dcustom.mount',
    ]);
    for (const f of await unitFiles()) {
      const text = await unit(f);
      for (const exec of text.match(/^Exec\w+=\S*taupage(?:\s.*)?$/gm) ?? []) expect(exec, f).toMatch(/=\/usr\/bin\/taupage /);
      expect(text, f).not.toContain('/usr/local/bin');
    }
    // Enabled by the image: units that exist here or in Debian's packages.
    const enabled = (await readFile(join(UNITS, 'enable.txt'), 'utf8')).trim().split('\n');
    for (const u of enabled.filter((u) => u.startsWith('taupage-'))) expect(await unitFiles()).toContain(u);
    expect(enabled).toEqual(
      expect.arrayContaining(['taupage-boot.service', 'taupage-credentials.timer', 'taupage-ssh-expire.timer', 'taupage-ssh-hook.socket']),
    );
  });

  it('say what the issue asks of each', async () => {
    const boot = await unit('taupage-boot.service');
    for (const line of [
      'Type=oneshot',
      'RemainAfterExit=yes',
      'ExecStart=/usr/bin/taupage boot',
      'After=network-online.target docker.service rsyslog.service',
      'StandardError=journal+console',
      'TimeoutStartSec=infinity',
    ])
      expect(boot).toContain(`\n${line}\n`);
    const refresher = await unit('taupage-credentials.service');
    for (const line of ['After=taupage-boot.service', 'Restart=on-failure', 'ExecStart=/usr/bin/taupage credentials --once'])
      expect(refresher).toContain(`\n${line}\n`);
    expect(await unit('taupage-credentials.timer')).toMatch(/\nRandomizedDelaySec=\d+\n/);
    expect(await unit('taupage-ssh-expire.timer')).toContain('\nOnCalendar=*-*-* *:*:00\n');
    const socket = await unit('taupage-ssh-hook.socket');
    for (const line of ['ListenStream=/run/taupage/ssh-hook.sock', 'SocketMode=0660', 'SocketUser=root', 'SocketGroup=granting-service', 'Accept=no'])
      expect(socket).toContain(`\n${line}\n`);
    expect(await unit('taupage-ssh-hook.service')).toContain('\nExecStart=/usr/bin/taupage ssh-service\n');
    // sshd reads the boot's settings: it starts after the boot.
    expect(await readFile(join(UNITS, 'ssh.service.d/taupage.conf'), 'utf8')).toContain('\nAfter=taupage-boot.service\n');
    // Size-bound log rotation needs logrotate to look often; nothing follows a symlink the application puts into /var/log-custom.
    expect(await readFile(join(UNITS, 'logrotate.timer.d/taupage.conf'), 'utf8')).toContain('\nOnCalendar=\nOnCalendar=*:0/5\n');
    // /var/log-custom: with every option the boot demands of it (logging.require_custom_log_mount).
    const custom = await unit('var-log\\x2dcustom.mount');
    for (const line of [
      'What=/var/log-custom',
      'Where=/var/log-custom',
      `Options=bind,${PROTECTIVE_MOUNT_OPTIONS.join(',')}`,
      'Before=local-fs.target rsyslog.service docker.service taupage-boot.service',
    ])
      expect(custom).toContain(`\n${line}\n`);
    // Its reader is never root, and reads what the boot's logging step writes for it.
    const reader = await unit('taupage-custom-logs.service');
    for (const line of [
      'User=application',
      'Group=application',
      `ExecStart=/usr/sbin/rsyslogd -n -iNONE -f ${paths().customLogReaderConf}`,
      `ConditionPathExists=${paths().customLogReaderConf}`,
      `StateDirectory=${basename(paths().customLogReaderState)}`,
      'NoNewPrivileges=yes',
      'CapabilityBoundingSet=',
      // Stopped and started with rsyslog: a line sent while rsyslog's socket is gone is lost.
      'PartOf=rsyslog.service',
      'WantedBy=multi-user.target rsyslog.service',
    ])
      expect(reader).toContain(`\n${line}\n`);
    expect(defaultConfig().config.logging.restart_custom_log_reader).toEqual(['systemctl', 'restart', 'taupage-custom-logs.service']);
  });

  it('systemd-analyze verify finds nothing wrong, the ssh.service and logrotate.timer drop-ins included', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tpg-units-'));
    try {
      for (const f of await unitFiles()) await writeFile(join(dir, f), (await unit(f)).replaceAll('/usr/bin/taupage', BUNDLE));
      // Debian's units our drop-ins change (and what they need), with the drop-ins beside them.
      for (const [base, needs] of [
        ['ssh.service', []],
        ['logrotate.timer', ['logrotate.service']],
      ] as const) {
        for (const f of [base, ...needs]) await copyFile(`/lib/systemd/system/${f}`, join(dir, f));
        await mkdir(join(dir, `${base}.d`));
        await copyFile(join(UNITS, `${base}.d/taupage.conf`), join(dir, `${base}.d/taupage.conf`));
      }
      const files = ['ssh.service', 'logrotate.timer', ...(await unitFiles())].map((f) => join(dir, f));
      // The directory is on the unit path, so the drop-in beside ssh.service is read.
      const r = await run('systemd-analyze', ['verify', '--recursive-errors=no', ...files], { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` });
      expect(r).toMatchObject({ code: 0, stderr: '' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the Packer template (packer/)', () => {
  const vars = ['-var', 'version=0.0.0-test', '-var', `binary=${BUNDLE}`, '-var', `even_public_key_file=${join(REPO, 'packer/packages.txt')}`];
  const env = { ...process.env, CHECKPOINT_DISABLE: '1', PACKER_TMP_DIR: join(tmpdir(), 'tpg-packer-tmp') };

  it('validates with Packer 1.6.6 with no network (both sources), and is formatted', async () => {
    // unshare -n: a new network namespace with only a down loopback; validate must not need AWS.
    const v = await run('unshare', ['-n', 'packer', 'validate', ...vars, join(REPO, 'packer')], env);
    expect(v).toMatchObject({ code: 0, stderr: '' });
    expect(await run('packer', ['fmt', '-check', join(REPO, 'packer')], env)).toMatchObject({ code: 0, stdout: '' });
  });

  it('rejects what a release build cannot do without (a missing variable)', async () => {
    const v = await run('packer', ['validate', '-var', 'version=1', join(REPO, 'packer')], env);
    expect(v.code).not.toBe(0);
    expect(v.stdout + v.stderr).toMatch(/binary|even_public_key_file/);
  });

  it('provisions with plain shell scripts that parse', async () => {
    for (const f of await readdir(join(REPO, 'packer/scripts'))) expect(await run('sh', ['-n', join(REPO, 'packer/scripts', f)]), f).toMatchObject({ code: 0 });
  });
});
