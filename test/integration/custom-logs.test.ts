/*! /var/log-custom (mount_custom_log): the application writes it, and nothing it plants there is
 * read with root's rights. Attacked for real: the logging step's drop-in in a real rsyslogd, its
 * custom log reader (a second rsyslogd as the application's user, as taupage-custom-logs.service
 * runs it), a scratch /var/log-custom bound onto itself with the image's own mount options
 * (systemd/var-log\x2dcustom.mount), a root-only secret outside it, and a log server in this test
 * that must never see the secret.
 *
 * What each part stops: root's rsyslog reading the directory with imfile ships the secret through
 * a link even with nosymfollow (imfile resolves the link itself with realpath(3) and opens the
 * target), so no root process reads it; the reader's own rights stop the link; the mount stops
 * root's opens by path (the Scalyr agent's), device nodes and set-user-id programs. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, chown, copyFile, mkdir, open, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { planLogging, PROTECTIVE_MOUNT_OPTIONS } from '../../agent/src/steps/logging/plan.js';
import { applyLogging } from '../../agent/src/steps/logging/apply.js';
import type { AgentError } from '../../agent/src/lib/errors.js';
import type { StepReport } from '../../agent/src/steps/step.js';
import { planDisks } from '../../agent/src/steps/disks/plan.js';
import { planContainer } from '../../agent/src/steps/container/plan.js';
import { defaultConfig } from '../../agent/src/config/load.js';
import { paths } from '../../agent/src/config/paths.js';
import { settingsFrom, testBoot, type TestBoot } from '../harness/boot-context.js';
import { REPO } from '../harness/repo.js';
import { testRsyslog, type TestRsyslog } from '../harness/rsyslog.js';
import { scratchRoot } from '../harness/scratch.js';
import { registryFromEnv } from '../harness/services.js';
import { syslogListener, type SyslogListener } from '../harness/syslog-server.js';
import { userData } from '../harness/user-data.js';
import { waitFor } from '../harness/wait.js';

const run = promisify(execFile);
/** The application's user here (the image's is application, 999:999). */
const APP = { uid: 65534, gid: 65534 };
/** What the image mounts /var/log-custom with, read from the unit it installs. */
const IMAGE_OPTIONS = /^Options=(.+)$/m.exec(readFileSync(join(REPO, 'systemd/var-log\\x2dcustom.mount'), 'utf8'))![1]!;

/** Mount points made by this file, unmounted (topmost first) after each test and after the file. */
const mounted: string[] = [];
async function unmountAll(): Promise<void> {
  for (const m of mounted.splice(0).reverse()) await run('umount', [m]).catch(() => run('umount', ['-l', m]));
}

/** `dir` bound onto itself with `options` (the image's by default), as var-log\x2dcustom.mount does. */
async function bindOntoItself(dir: string, options = IMAGE_OPTIONS): Promise<void> {
  await run('mount', ['--bind', dir, dir]);
  mounted.push(dir);
  await run('mount', ['-o', `remount,${options}`, dir]);
}

/** A shell script run as the application's user. */
function asApp(script: string): string {
  const r = spawnSync('sh', ['-c', script], { uid: APP.uid, gid: APP.gid, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`as the application (${r.status}): ${r.stderr}`);
  return r.stdout;
}

interface Instance {
  root: string;
  dir: string;
  /** A root-only file outside /var/log-custom, and what it holds. */
  secretFile: string;
  secret: string;
  rs: TestRsyslog;
  server: SyslogListener;
}

/** A scratch instance: /var/log-custom as the disks step leaves it (the application's, 0755),
 * optionally bound with `mount` options, root's secret beside it, rsyslogd running, a log server. */
async function instance(mount?: string): Promise<Instance> {
  const root = await scratchRoot({ purpose: 'customlog' });
  await chmod(root, 0o755); // as / is: the reader goes through it
  const dir = join(root, 'var/log-custom');
  await mkdir(dir, { recursive: true });
  await chown(dir, APP.uid, APP.gid);
  if (mount) await bindOntoItself(dir, mount);
  await mkdir(join(root, 'etc'), { recursive: true });
  const secret = `SECRET-${randomBytes(6).toString('hex')}`;
  const secretFile = join(root, 'etc/shadow');
  await writeFile(secretFile, `root:${secret}:20000::::::\n`, { mode: 0o600 });
  const rs = await testRsyslog(root, { readerUser: APP });
  await rs.start();
  const server = await syslogListener();
  return { root, dir, secretFile, secret, rs, server };
}

/** The logging step for mount_custom_log shipping to the instance's log server. */
async function bootLogging(i: Instance, agent: Record<string, unknown> = {}): Promise<{ boot: TestBoot; report: StepReport }> {
  const boot = testBoot({
    userData: userData({
      application_id: 'custom-app',
      source: `${registryFromEnv()}/logs/app:1.0`,
      mount_custom_log: true,
      logging: { rsyslog_host: '127.0.0.1', rsyslog_port: i.server.port, rsyslog_protocol: 'tcp' },
    }),
    config: { root: i.root, application_user: APP, ...agent, logging: { retry_interval_seconds: 1, probe_timeout_ms: 2_000, ...(agent.logging as object) } },
    ports: { logDaemons: i.rs.logDaemons },
  });
  const plan = planLogging({ settings: boot.settings, config: boot.config, paths: boot.paths });
  return { boot, report: await applyLogging(plan, boot.ctx) };
}

const shipped = (i: Instance, text: string) => waitFor(`"${text}" at the log server`, () => i.server.lines.some((l) => l.endsWith(text)));

const servers: SyslogListener[] = [];
afterAll(async () => {
  await unmountAll();
  await Promise.all(servers.map((s) => s.close()));
});

describe('the attack: a link the application plants in /var/log-custom', () => {
  it("root's rsyslog reading the directory (imfile) ships the file a link names, nosymfollow or not: root must not read it", async () => {
    const i = await instance(IMAGE_OPTIONS);
    servers.push(i.server);
    try {
      // The route the image had: imfile in root's rsyslogd, every line forwarded.
      await writeFile(
        join(i.root, 'etc/rsyslog.d/30-root-imfile.conf'),
        [
          'module(load="imfile" mode="inotify")',
          `ruleset(name="old") { action(type="omfwd" target="127.0.0.1" port="${i.server.port}" protocol="tcp") }`,
          `input(type="imfile" File="${i.dir}/*.log" Tag="customlog:" ruleset="old")`,
          '',
        ].join('\n'),
      );
      await i.rs.restart();
      asApp(`ln -s ${i.secretFile} ${i.dir}/evil.log && echo good line > ${i.dir}/good.log`);
      // The mount does what it says for an open by path, root's included ...
      await expect(readFile(join(i.dir, 'evil.log'))).rejects.toMatchObject({ code: 'ELOOP' });
      await shipped(i, 'good line');
      // ... but imfile resolved the link itself and opened the target: the secret left the machine.
      await waitFor('the secret at the log server (imfile follows the link)', () => i.server.lines.some((l) => l.includes(i.secret)));
    } finally {
      await i.rs.stop();
      await unmountAll();
    }
  });

  it.each([
    ['on the image mount', IMAGE_OPTIONS],
    ['without any mount', undefined],
  ])("the logging step's route (%s): the reader, as the application's user, ships the good lines and never the secret", async (_, mount) => {
    const i = await instance(mount);
    servers.push(i.server);
    try {
      // Planted before the boot: the reader's first pass finds the link first (sorted), then the line.
      asApp(`ln -s ${i.secretFile} ${i.dir}/a-evil.log && echo first good line > ${i.dir}/good.log`);
      const { report } = await bootLogging(i, mount ? { logging: { require_custom_log_mount: true } } : {});
      expect(report.note).toContain("custom logs (read as the application's user)");
      // Root's rsyslog does not read the directory; the reader does, as the application.
      const dropIn = await readFile(join(i.root, 'etc/rsyslog.d/30-taupage.conf'), 'utf8');
      expect(dropIn).not.toContain('imfile');
      expect(dropIn).not.toContain(i.dir);
      expect(i.rs.reader.running()).toBe(true);
      await shipped(i, 'first good line');
      // Planted while it runs: a new link (inotify), then a line after it.
      asApp(`ln -s ${i.secretFile} ${i.dir}/b-evil.log && echo second good line >> ${i.dir}/good.log`);
      await shipped(i, 'second good line');
      expect(i.server.lines.filter((l) => l.includes('good line'))).toEqual([
        expect.stringMatching(/ customlog: first good line$/),
        expect.stringMatching(/ customlog: second good line$/),
      ]);
      expect(i.server.lines.join('\n')).not.toContain(i.secret);
      // The reader did go for the file the link names, and its rights refused it.
      await waitFor('the reader refused the secret', () => i.rs.reader.output().includes(`'${i.secretFile}': Permission denied`));
    } finally {
      await i.rs.stop();
      await unmountAll();
    }
  });
});

describe("the image's mount of /var/log-custom", () => {
  it('stops root following a link, device nodes opening and set-user-id programs running as root; without it all three work', async () => {
    for (const protectedDir of [true, false]) {
      const root = await scratchRoot({ purpose: 'customlog-mount' });
      await chmod(root, 0o755);
      const dir = join(root, 'var/log-custom');
      await mkdir(dir, { recursive: true });
      const secretFile = join(root, 'secret');
      await writeFile(secretFile, 'root only\n', { mode: 0o600 });
      try {
        if (protectedDir) await bindOntoItself(dir);
        // What a container running as root (root: true, Docker's default capabilities) can put there.
        await symlink(secretFile, join(dir, 'evil.log'));
        await run('mknod', ['-m', '0666', join(dir, 'null.log'), 'c', '1', '3']);
        await copyFile('/usr/bin/id', join(dir, 'id'));
        await chmod(join(dir, 'id'), 0o4755);
        const read = () => readFile(join(dir, 'evil.log'), 'utf8');
        const device = () => open(join(dir, 'null.log'), 'r').then((f) => f.close());
        const euid = spawnSync(join(dir, 'id'), ['-u'], { uid: APP.uid, gid: APP.gid, encoding: 'utf8' });
        if (protectedDir) {
          await expect(read()).rejects.toMatchObject({ code: 'ELOOP' });
          await expect(device()).rejects.toMatchObject({ code: 'EACCES' });
          // noexec: it does not run at all (and nosuid would keep it the caller's).
          expect(euid.error).toMatchObject({ code: 'EACCES' });
        } else {
          expect(await read()).toBe('root only\n');
          await device();
          expect(euid.stdout.trim()).toBe('0');
        }
      } finally {
        await unmountAll();
      }
    }
  });
});

describe('the boot checks the mount (agent config logging.require_custom_log_mount, set by the image)', () => {
  let i: Instance;
  beforeAll(async () => {
    i = await instance();
    servers.push(i.server);
  });

  const fails = async () => {
    const e = (await bootLogging(i, { logging: { require_custom_log_mount: true } }).catch((x) => x)) as AgentError;
    expect(e.code).toBe('TPG_CUSTOM_LOG_UNPROTECTED');
    expect(e.hint).toMatch(/var-log\\x2dcustom\.mount/);
    // Nothing was configured: no drop-in, no reader, rsyslog as it was.
    expect(existsSync(join(i.root, 'etc/rsyslog.d/30-taupage.conf'))).toBe(false);
    expect(existsSync(join(i.root, 'etc/taupage/custom-logs.rsyslog.conf'))).toBe(false);
    expect(i.rs.logDaemons.restarts + i.rs.logDaemons.readerRestarts).toBe(0);
    return e.message;
  };

  it('a directory that is no mount fails the boot before anything, naming what is missing', async () => {
    const [target, options] = await mountOf(i.dir);
    expect(await fails()).toBe(
      `mount_custom_log: ${i.dir} lies on the mount at ${target} (${options}) without ${PROTECTIVE_MOUNT_OPTIONS.join(', ')}: a link, device node or set-user-id program the application puts there would work for root or other users; nothing was configured and the application does not start`,
    );
  });

  it('nosymfollow alone is not enough; a mount over the protected one (or a parent) is what a reader reaches, and fails', async () => {
    try {
      await bindOntoItself(i.dir, 'bind,nosymfollow');
      expect(await fails()).toMatch(new RegExp(`lies on the mount at ${i.dir} \\(\\S*nosymfollow\\S*\\) without nodev, nosuid, noexec:`));
      await run('umount', [i.dir]);
      mounted.pop();
      await bindOntoItself(i.dir);
      await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', join(i.root, 'var')]);
      mounted.push(join(i.root, 'var'));
      await mkdir(i.dir, { recursive: true });
      expect(await fails()).toMatch(new RegExp(`lies on the mount at ${join(i.root, 'var')} \\(\\S+\\) without nosymfollow, nodev, nosuid, noexec:`));
    } finally {
      await unmountAll();
    }
  });

  it('a missing directory or a link in its place fails the boot', async () => {
    const other = await scratchRoot({ purpose: 'customlog-missing' });
    const j = { ...i, root: other, dir: join(other, 'var/log-custom') };
    const e = (await bootLogging(j, { logging: { require_custom_log_mount: true } }).catch((x) => x)) as AgentError;
    expect(e.message).toBe(
      `mount_custom_log: ${j.dir} does not exist, so it is not the protective mount; nothing was configured and the application does not start`,
    );
    await mkdir(join(other, 'var'), { recursive: true });
    await symlink(i.dir, j.dir);
    expect(((await bootLogging(j, { logging: { require_custom_log_mount: true } }).catch((x) => x)) as AgentError).message).toMatch(
      /var\/log-custom is a symbolic link, so it is not the protective mount/,
    );
  });

  it('on the mount the image makes, the boot goes on; a later boot without shipping stops the reader', async () => {
    try {
      await bindOntoItself(i.dir);
      const { report } = await bootLogging(i, { logging: { require_custom_log_mount: true } });
      expect(report.note).toContain("custom logs (read as the application's user)");
      asApp(`echo checked >> ${i.dir}/app.log`);
      await shipped(i, 'checked');
      // Shipping turned off: the reader's configuration goes, and the reader with it.
      const off = testBoot({
        userData: userData({ application_id: 'custom-app', source: `${registryFromEnv()}/logs/app:1.0`, mount_custom_log: true }),
        config: { root: i.root, application_user: APP, logging: { require_custom_log_mount: true } },
        ports: { logDaemons: i.rs.logDaemons },
      });
      await applyLogging(planLogging({ settings: off.settings, config: off.config, paths: off.paths }), off.ctx);
      expect(existsSync(join(i.root, 'etc/taupage/custom-logs.rsyslog.conf'))).toBe(false);
      expect(i.rs.reader.running()).toBe(false);
    } finally {
      await i.rs.stop();
      await unmountAll();
    }
  });
});

describe('user data cannot mount over /var/log-custom', () => {
  it('mounts at /var/log-custom, /var/log or /var are made under /mounts on the host; the container alone sees them there', () => {
    const settings = settingsFrom(
      userData({
        source: 'pierone.stups.zalan.do/team/app:1.0',
        mount_custom_log: true,
        mounts: { '/var/log-custom': { filesystem: 'tmpfs' }, '/var': { filesystem: 'tmpfs' }, '/var/log/app': { filesystem: 'tmpfs' } },
      }),
    );
    const input = { settings, config: defaultConfig().config, paths: paths('/') };
    const hostPaths = planDisks(input)!.mounts.map((m) => m.hostPath);
    expect(hostPaths).toEqual(['/mounts/var', '/mounts/var/log-custom', '/mounts/var/log/app']);
    expect(planContainer(input).binds).toContainEqual({ host: '/var/log-custom', container: '/var/log', readOnly: false });
  });
});

/** The mount point and per-mount options of the mount `dir` lies on, as findmnt reports them. */
async function mountOf(dir: string): Promise<[string, string]> {
  const { stdout } = await run('findmnt', ['-n', '-o', 'TARGET,VFS-OPTIONS', '-T', dir]);
  return stdout.trim().split(/\s+/) as [string, string];
}
