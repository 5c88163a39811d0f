/*! The logging step against a real rsyslogd (Debian-like main configuration in a scratch root,
 * restarted by the step through its port as systemd does in the image), the real Docker engine's
 * syslog driver (the log configuration the container step plans) and log servers in this test:
 * plain TCP and TLS with a CA of this run. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, readdir, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type Docker from 'dockerode';
import { planLogging, type LoggingPlan } from '../../agent/src/steps/logging/plan.js';
import { applyLogging } from '../../agent/src/steps/logging/apply.js';
import { planContainer } from '../../agent/src/steps/container/plan.js';
import type { StepReport } from '../../agent/src/steps/step.js';
import { AgentError } from '../../agent/src/lib/errors.js';
import { paths as pathsFor } from '../../agent/src/config/paths.js';
import { buildDemoImage, dockerFromEnv } from '../fakes/demo-image.js';
import { testBoot, type TestBoot } from '../harness/boot-context.js';
import { scratchDir, scratchRoot } from '../harness/scratch.js';
import { registryFromEnv } from '../harness/services.js';
import { userData } from '../harness/user-data.js';
import { testRsyslog, type TestRsyslog } from '../harness/rsyslog.js';
import { waitFor } from '../harness/wait.js';
import { udpSink } from '../harness/net.js';
import { makeTestCa, syslogListener, type TestCa } from '../harness/syslog-server.js';

let docker: Docker;
let image: string;
let ca: TestCa;
const APP = 'log-app';
const TOKEN = '2bfbea1e-10c3-4419-bdad-7e6435882e1f';
/** nobody:nogroup. */
const NOBODY = { uid: 65534, gid: 65534 };

interface Booted {
  root: string;
  rs: TestRsyslog;
  boot: TestBoot;
  plan: LoggingPlan;
  report: StepReport;
}

/** A scratch instance whose rsyslogd runs (systemd started it before the boot, with no drop-in of
 * ours yet), with `files` (path under the root → content) in place first. */
async function instance(files: Record<string, string> = {}): Promise<{ root: string; rs: TestRsyslog }> {
  const root = await scratchRoot({ purpose: 'logging' });
  // As / is: the application's user rotates /var/log-custom and must reach it.
  await chmod(root, 0o755);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
  const rs = await testRsyslog(root);
  await rs.start();
  return { root, rs };
}

/** The logging step, planned and applied for this user data on a new instance (or `on` one). */
async function bootLogging(
  fields: Record<string, unknown>,
  options: {
    logging?: Record<string, unknown>;
    secrets?: Record<string, string>;
    files?: Record<string, string>;
    units?: string[];
    on?: { root: string; rs: TestRsyslog };
  } = {},
): Promise<Booted> {
  const { root, rs } = options.on ?? (await instance(options.files));
  for (const u of options.units ?? []) rs.logDaemons.installedUnits.add(u);
  const boot = testBoot({
    userData: userData({ application_id: APP, source: `${registryFromEnv()}/logs/app:1.0`, ...fields }),
    config: {
      root,
      // An account this machine has (the image's is 999): logrotate rotates /var/log-custom as it.
      application_user: NOBODY,
      logging: { retry_interval_seconds: 1, probe_timeout_ms: 2_000, ca_file: ca.caFile, ...options.logging },
    },
    ...(options.secrets ? { secrets: options.secrets } : {}),
    ports: { logDaemons: rs.logDaemons },
  });
  const plan = planLogging({ settings: boot.settings, config: boot.config, paths: boot.paths });
  const report = await applyLogging(plan, boot.ctx);
  return { root, rs, boot, plan, report };
}

/** Run a container with the log configuration the container step plans; it prints `script`'s output. */
async function runApp(b: Booted, script: string): Promise<void> {
  const { logConfig } = planContainer({ settings: b.boot.settings, config: b.boot.config, paths: b.boot.paths });
  const c = await docker.createContainer({
    name: `tpg-log-${randomBytes(4).toString('hex')}`,
    Image: image,
    Cmd: ['/bin/busybox', 'sh', '-c', script],
    HostConfig: { LogConfig: { Type: logConfig.type, Config: logConfig.config } },
  });
  try {
    await c.start();
    await c.wait();
  } finally {
    await c.remove({ force: true });
  }
}

beforeAll(async () => {
  docker = dockerFromEnv();
  image = `${registryFromEnv()}/logs${randomBytes(3).toString('hex')}/app:1.0`;
  await buildDemoImage(docker, { reference: image, keepLocal: true });
  ca = await makeTestCa(await scratchDir('log-ca'));
}, 120_000);

afterAll(async () => {
  await docker
    ?.getImage(image)
    .remove({ force: true })
    .catch(() => undefined);
});

const APP_LINES = `echo "started as $(/bin/busybox id -u)"; echo "  indented"; printf 'tab\\there\\n'; echo "to stderr" >&2`;

describe('application.log: the container through Docker syslog driver to rsyslog', () => {
  it('by default holds the lines exactly as the application wrote them, and syslog holds none of them', async () => {
    const b = await bootLogging({});
    expect(b.report).toEqual({ note: 'configured: application.log' });
    expect(b.rs.logDaemons.restarts).toBe(1);
    await runApp(b, APP_LINES);
    const lines = await waitFor('four application lines', async () => {
      const l = await b.rs.lines(b.rs.applicationLog);
      return l.length >= 4 && l;
    });
    // stdout in its order; stderr is another stream (its line may come anywhere).
    expect(lines.filter((l) => l !== 'to stderr')).toEqual(['started as 0', '  indented', 'tab\there']);
    expect(lines).toContain('to stderr');
    // A line through the system socket goes to syslog, and application lines do not.
    execFileSync('logger', ['-u', b.rs.systemSocket, '-t', 'probe', 'a system line']);
    await waitFor('the system line in syslog', async () => (await b.rs.lines(b.rs.syslog)).some((l) => l.includes('a system line')));
    expect((await b.rs.lines(b.rs.syslog)).join('\n')).not.toMatch(/indented|to stderr|started as/);
    // Only root may reach the container's input.
    expect((await stat(b.boot.paths.applicationLogSocketDir)).mode & 0o777).toBe(0o700);
  });

  it.each([
    ['legacy', { rsyslog_application_log_format: 'legacy' }, /^\d{4}-\d\d-\d\dT[\d:.]+[+-]\d\d:\d\d \S+ log-app\[\d+\]: to stderr$/],
    [
      'legacy with rsyslog_aws_metadata',
      { rsyslog_application_log_format: 'legacy', rsyslog_aws_metadata: true },
      /^\d{4}-\d\d-\d\dT[\d:.]+[+-]\d\d:\d\d 123456789012 eu-central-1 \S+ log-app\[\d+\]: to stderr$/,
    ],
    ['a custom template', { rsyslog_application_log_format: '%syslogseverity-text% [%programname%] %msg%' }, /^err \[log-app\] to stderr$/],
    ['rsyslog_program as the tag', { rsyslog_application_log_format: 'legacy', logging: { rsyslog_program: 'shop' } }, / shop\[\d+\]: to stderr$/],
  ])('in the %s format', async (_name, fields, stderrLine) => {
    const b = await bootLogging(fields);
    await runApp(b, APP_LINES);
    const lines = await waitFor('four application lines', async () => {
      const l = await b.rs.lines(b.rs.applicationLog);
      return l.length >= 4 && l;
    });
    expect(lines.find((l) => l.includes('to stderr'))).toMatch(stderrLine);
    expect(lines.find((l) => l.includes('indented'))).toMatch(/ {2}indented$/);
    expect((await b.rs.lines(b.rs.syslog)).join('\n')).not.toContain('to stderr');
  });

  it('rsyslog_aws_metadata puts the account and region into syslog and auth.log lines too', async () => {
    const b = await bootLogging({ rsyslog_aws_metadata: true });
    execFileSync('logger', ['-u', b.rs.systemSocket, '-p', 'authpriv.notice', '-t', 'taupage-ssh', 'granted']);
    const auth = await waitFor('the auth line', async () => (await b.rs.lines(b.rs.authLog)).find((l) => l.includes('granted')));
    expect(auth).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+[+-]\d\d:\d\d 123456789012 eu-central-1 \S+ taupage-ssh: granted$/);
  });

  it('rsyslog_max_message_size lets a long line through whole (rsyslog alone cuts it at 8k)', async () => {
    // 12,000 characters: above rsyslog's 8k, below the 16k at which Docker splits a line.
    const b = await bootLogging({ rsyslog_max_message_size: '64k' });
    await runApp(b, `/bin/busybox head -c 12000 /dev/zero | /bin/busybox tr '\\0' x; echo`);
    const line = await waitFor('the long line', async () => (await b.rs.lines(b.rs.applicationLog))[0]);
    expect({ length: line.length, onlyX: /^x+$/.test(line) }).toEqual({ length: 12_000, onlyX: true });
    const cut = await bootLogging({});
    await runApp(cut, `/bin/busybox head -c 12000 /dev/zero | /bin/busybox tr '\\0' x; echo`);
    const short = await waitFor('the cut line', async () => (await cut.rs.lines(cut.rs.applicationLog))[0]);
    expect(short.length).toBeLessThan(8192);
  });
});

describe('shipping to remote syslog and Logentries', () => {
  it('forwards application, auth and system lines over TCP, with the token first to Logentries over TLS', async () => {
    const remote = await syslogListener();
    const logentries = await syslogListener({ tls: ca.server });
    const b = await bootLogging(
      { logging: { rsyslog_host: '127.0.0.1', rsyslog_port: remote.port, rsyslog_protocol: 'tcp', logentries_token: TOKEN } },
      { logging: { logentries_host: 'localhost', logentries_port: logentries.port } },
    );
    try {
      expect(b.report.warnings).toBeUndefined();
      expect(b.report.note).toBe(`configured: application.log, remote syslog 127.0.0.1:${remote.port} (tcp), Logentries localhost:${logentries.port} (tls)`);
      await runApp(b, 'echo "an application line"');
      execFileSync('logger', ['-u', b.rs.systemSocket, '-p', 'authpriv.notice', '-t', 'taupage-ssh', 'audit record 1']);
      execFileSync('logger', ['-u', b.rs.systemSocket, '-p', 'daemon.info', '-t', 'taupage', 'the agent says hello']);
      for (const l of [remote, logentries]) {
        await waitFor('three lines', () => ['an application line', 'audit record 1', 'the agent says hello'].every((t) => l.lines.some((x) => x.includes(t))));
      }
      expect(remote.lines.find((l) => l.includes('an application line'))).toMatch(/^<30>\d{4}-\d\d-\d\dT\S+ \S+ log-app\[\d+\]: an application line$/);
      expect(remote.lines.find((l) => l.includes('audit record'))).toMatch(/^<85>\S+ \S+ taupage-ssh: audit record 1$/);
      expect(logentries.lines.find((l) => l.includes('an application line'))).toMatch(new RegExp(`^${TOKEN} \\S+ log-app\\[\\d+\\]: an application line$`));
      expect(logentries.lines.every((l) => l.startsWith(`${TOKEN} `))).toBe(true);
      // The token is only in the root-only drop-in.
      expect((await stat(b.plan.rsyslog.dropIn)).mode & 0o777).toBe(0o600);
      expect(b.boot.logText()).not.toContain(TOKEN);
    } finally {
      await Promise.all([remote.close(), logentries.close()]);
    }
  });

  it("over UDP with rsyslog_severity: the application's lines with that severity; custom logs shipped with mount_custom_log", async () => {
    const remote = await udpSink();
    try {
      const b = await bootLogging({
        mount_custom_log: true,
        logging: { rsyslog_host: '127.0.0.1', rsyslog_port: remote.port, rsyslog_protocol: 'udp', rsyslog_severity: 'warning' },
      });
      expect(b.report.warnings).toBeUndefined();
      await runApp(b, 'echo "out line"; echo "err line" >&2');
      execFileSync('logger', ['-u', b.rs.systemSocket, '-p', 'daemon.info', '-t', 'probe', 'system line']);
      await mkdir(b.boot.paths.varLogCustom, { recursive: true });
      await writeFile(join(b.boot.paths.varLogCustom, 'app.log'), 'a custom line\n');
      await waitFor('four lines', () => ['out line', 'err line', 'system line', 'a custom line'].every((t) => remote.lines.some((l) => l.includes(t))));
      const line = (t: string) => remote.lines.find((l) => l.includes(t))!;
      // daemon (3) * 8 + warning (4) for both of the application's streams; others keep theirs.
      expect(line('out line')).toMatch(/^<28>\S+ \S+ log-app\[\d+\]: out line$/);
      expect(line('err line')).toMatch(/^<28>/);
      expect(line('system line')).toMatch(/^<30>\S+ \S+ probe: system line$/);
      expect(line('a custom line')).toMatch(/ customlog: a custom line$/);
    } finally {
      remote.close();
    }
  });

  it('loses nothing while the TLS server is down: 1,000 lines sent then all arrive once it is back', async () => {
    const remote = await syslogListener({ tls: ca.server });
    const b = await bootLogging({ logging: { rsyslog_host: 'localhost', rsyslog_port: remote.port, rsyslog_protocol: 'tls', rsyslog_hostname: 'web-1' } });
    try {
      expect(b.report.warnings).toBeUndefined();
      execFileSync('logger', ['-u', b.rs.systemSocket, '-t', 'probe', 'before the outage']);
      await waitFor('the first line', () => remote.lines.some((l) => l.includes('before the outage')));
      expect(remote.lines[0]).toMatch(/^<\d+>\S+ web-1 /);
      await remote.stop();
      await runApp(b, 'i=1; while [ $i -le 1000 ]; do echo "line $i of 1000"; i=$((i+1)); done');
      await waitFor('1,000 lines in application.log', async () => (await b.rs.lines(b.rs.applicationLog)).length === 1000);
      await remote.start();
      const got = await waitFor(
        'all 1,000 lines at the server',
        () => {
          const n = new Set(remote.lines.filter((l) => / line \d+ of 1000$/.test(l)).map((l) => l.replace(/^.* line (\d+) of 1000$/, '$1')));
          return n.size === 1000 && n;
        },
        60_000,
      );
      expect(got.size).toBe(1000);
    } finally {
      await remote.close();
    }
  });

  it('a server that does not answer is a warning naming it; the step succeeds and the lines wait', async () => {
    const remote = await syslogListener();
    await remote.stop();
    const b = await bootLogging({ logging: { rsyslog_host: '127.0.0.1', rsyslog_port: remote.port } });
    expect(b.report.warnings).toEqual([
      expect.stringMatching(
        new RegExp(`^remote syslog 127\\.0\\.0\\.1:${remote.port} \\(tcp\\) does not answer \\(.*ECONNREFUSED.*\\); the application starts`),
      ),
    ]);
    await runApp(b, 'echo "while it was down"');
    await remote.start();
    try {
      await waitFor('the queued line', () => remote.lines.some((l) => l.includes('while it was down')), 30_000);
    } finally {
      await remote.close();
    }
  });

  it('a TLS server whose certificate the CA file does not vouch for is a warning; rsyslog refuses to send to it', async () => {
    const other = await makeTestCa(await scratchDir('log-other-ca'));
    const remote = await syslogListener({ tls: other.server });
    try {
      const b = await bootLogging({ logging: { rsyslog_host: 'localhost', rsyslog_port: remote.port, rsyslog_protocol: 'tls' } });
      expect(b.report.warnings?.[0]).toMatch(/^remote syslog localhost:\d+ \(tls\) does not answer \(.*certificate.*\)/i);
      execFileSync('logger', ['-u', b.rs.systemSocket, '-t', 'probe', 'must not leave']);
      await new Promise((r) => setTimeout(r, 1_500));
      expect(remote.lines.join('\n')).not.toContain('must not leave');
    } finally {
      await remote.close();
    }
  });

  it('a Logentries token from KMS is decrypted; one that cannot be is a warning and nothing is sent there', async () => {
    const logentries = await syslogListener({ tls: ca.server });
    const cipher = Buffer.from('logentries-token-ciphertext').toString('base64');
    try {
      const ok = await bootLogging(
        { logging: { logentries_token: `aws:kms:${cipher}` } },
        { logging: { logentries_host: 'localhost', logentries_port: logentries.port }, secrets: { [cipher]: TOKEN } },
      );
      expect(ok.report.warnings).toBeUndefined();
      execFileSync('logger', ['-u', ok.rs.systemSocket, '-t', 'probe', 'via kms']);
      await waitFor('the line with the token', () => logentries.lines.some((l) => l === `${TOKEN} ${l.split(' ')[1]} probe: via kms`));
      const bad = await bootLogging(
        { logging: { logentries_token: `aws:kms:${Buffer.from('unknown').toString('base64')}` } },
        { logging: { logentries_host: 'localhost', logentries_port: logentries.port } },
      );
      expect(bad.report.warnings).toEqual([
        expect.stringMatching(/^Logentries localhost:\d+ \(tls\) \(logging\.logentries_token\): its aws:kms: value could not be decrypted/),
      ]);
      expect(await readFile(bad.plan.rsyslog.dropIn, 'utf8')).not.toContain('logentries');
    } finally {
      await logentries.close();
    }
  });
});

describe('what rsyslog refuses fails the step, and changes nothing', () => {
  it('a template rsyslog does not know: TPG_LOGGING_FAILED with its words; the previous drop-in and rsyslog stay', async () => {
    const b = await bootLogging({});
    const before = await readFile(b.plan.rsyslog.dropIn, 'utf8');
    const err = await bootLogging({ rsyslog_application_log_format: '%nosuchproperty%' }, { on: b }).catch((e: AgentError) => e);
    expect(err).toMatchObject({ code: 'TPG_LOGGING_FAILED', message: expect.stringMatching(/rsyslog refuses .*invalid property 'nosuchproperty'/) });
    expect(await readFile(b.plan.rsyslog.dropIn, 'utf8')).toBe(before);
    expect(b.rs.logDaemons.restarts).toBe(1);
    expect(b.rs.running()).toBe(true);
  });

  it('rsyslog that does not come up with the new drop-in: the previous one goes back and rsyslog runs with it', async () => {
    const b = await bootLogging({});
    const before = await readFile(b.plan.rsyslog.dropIn, 'utf8');
    const daemons = b.rs.logDaemons;
    const restart = daemons.restartRsyslog;
    daemons.restartRsyslog = async () => {
      daemons.restartRsyslog = restart; // once: the restart with the previous drop-in works
      throw new AgentError('TPG_LOGGING_FAILED', 'systemctl restart rsyslog exited 1: it did not start');
    };
    const err = await bootLogging({ rsyslog_application_log_format: 'legacy' }, { on: b }).catch((e: AgentError) => e);
    expect(err).toMatchObject({
      code: 'TPG_LOGGING_FAILED',
      message:
        'systemctl restart rsyslog exited 1: it did not start (the logging drop-in was put back as it was; rsyslog runs again with the previous configuration)',
    });
    expect(await readFile(b.plan.rsyslog.dropIn, 'utf8')).toBe(before);
    expect(b.rs.running()).toBe(true);
    expect(daemons.restarts).toBe(2);
  });

  it('a drop-in the whole configuration refuses is put back as it was', async () => {
    // Something else in the system configuration that clashes with ours: the same ruleset name.
    const on = await instance({ 'etc/rsyslog.d/10-other.conf': 'ruleset(name="taupage_application") { stop }\n' });
    await expect(bootLogging({}, { on })).rejects.toMatchObject({ code: 'TPG_LOGGING_FAILED', message: expect.stringMatching(/put back as it was/) });
    await expect(stat(pathsFor(on.root).rsyslogDropIn)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(on.rs.logDaemons.restarts).toBe(0);
  });
});

describe('a second boot (reboot) with the same user data', () => {
  it('leaves rsyslog running as it is', async () => {
    const b = await bootLogging({});
    const again = await applyLogging(b.plan, b.boot.context());
    expect(again.note).toBe('configured: application.log (rsyslog configuration unchanged)');
    expect(b.rs.logDaemons.restarts).toBe(1);
  });
});

describe('rotation', () => {
  it('application_logrotate_rotate 0 removes the old log; logrotate rotates by size', async () => {
    const b = await bootLogging({ application_logrotate_size: '1k', application_logrotate_rotate: 0 });
    await runApp(b, 'i=0; while [ $i -lt 100 ]; do echo "some line that fills the log $i"; i=$((i+1)); done');
    await waitFor('100 lines', async () => (await b.rs.lines(b.rs.applicationLog)).length === 100);
    const conf = join(b.plan.rotation.dir, 'taupage-application');
    expect(await readFile(conf, 'utf8')).toMatch(/maxsize 1k\n {2}rotate 0\n/);
    const state = join(await scratchDir('logrotate'), 'state');
    const r = spawnSync('logrotate', ['--state', state, conf], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect((await stat(b.rs.applicationLog)).size).toBe(0); // copytruncate
    const left = spawnSync('sh', ['-c', `ls ${b.rs.applicationLog}*`], { encoding: 'utf8' })
      .stdout.trim()
      .split('\n');
    expect(left).toEqual([b.rs.applicationLog]);
  });
});

describe('rotation of /var/log-custom: as its owner, never as root', () => {
  it("rotates the application's logs; a root file there is neither read nor truncated (it is, as root)", async () => {
    const b = await bootLogging({ mount_custom_log: true, customlog_logrotate_size: '1k' });
    const conf = join(b.plan.rotation.dir, 'taupage-custom');
    const application = join(b.plan.rotation.dir, 'taupage-application');
    expect(await readFile(conf, 'utf8')).toMatch(/^\/\S+\/var\/log-custom\/\*\.log \{\n {2}su 65534 65534\n/m);
    expect(await readFile(application, 'utf8')).not.toMatch(/^\s*su /m);
    const dir = b.boot.paths.varLogCustom;
    const ROOT_FILE = 'root:secret\n'.repeat(200); // larger than customlog_logrotate_size
    // The directory as the disks step leaves it; the application's log, and a file of root's.
    const plant = async () => {
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      await chown(dir, NOBODY.uid, NOBODY.gid);
      await writeFile(join(dir, 'app.log'), `${'x'.repeat(2_000)}\n`);
      await chown(join(dir, 'app.log'), NOBODY.uid, NOBODY.gid);
      await writeFile(join(dir, 'root.log'), ROOT_FILE, { mode: 0o600 });
    };
    const rotate = async (file: string) =>
      spawnSync('logrotate', ['--state', join(await scratchDir('logrotate'), 'state'), file], { encoding: 'utf8', timeout: 30_000 });
    await plant();
    const r = await rotate(conf);
    expect(r.stderr).toMatch(/error opening .*root\.log: Permission denied/);
    expect((await readdir(dir)).sort()).toEqual(['app.log', 'app.log.1', 'root.log']);
    expect(await readFile(join(dir, 'root.log'), 'utf8')).toBe(ROOT_FILE);
    expect((await stat(join(dir, 'app.log'))).size).toBe(0); // copytruncate, as the application's user
    expect((await stat(join(dir, 'app.log.1'))).uid).toBe(NOBODY.uid);
    // The same block without su, as before: root truncates its own file because it lies there.
    await plant();
    const asRoot = join(await scratchDir('logrotate'), 'taupage-custom');
    await writeFile(asRoot, (await readFile(conf, 'utf8')).replace(/^ {2}su .*\n/m, ''));
    expect((await rotate(asRoot)).status).toBe(0);
    expect(await readFile(join(dir, 'root.log'), 'utf8')).toBe('');
  });

  it('an application_user without an account here fails the step, naming application_user', async () => {
    const { root, rs } = await instance();
    const boot = testBoot({
      userData: userData({ application_id: APP, source: `${registryFromEnv()}/logs/app:1.0`, mount_custom_log: true }),
      config: { root, application_user: { uid: 2_000_000_001, gid: 2_000_000_001 }, logging: { probe_timeout_ms: 2_000, ca_file: ca.caFile } },
      ports: { logDaemons: rs.logDaemons },
    });
    const plan = planLogging({ settings: boot.settings, config: boot.config, paths: boot.paths });
    const e = (await applyLogging(plan, boot.ctx).catch((x) => x)) as AgentError;
    expect(e.code).toBe('TPG_LOGGING_FAILED');
    expect(e.message).toMatch(/taupage-custom: .*unknown user '2000000001'/);
    expect(e.hint).toMatch(/su 2000000001 2000000001.*application_user/);
  });
});

describe('Scalyr', () => {
  it('writes agent.json (0600) and restarts the agent when its unit is installed', async () => {
    const b = await bootLogging(
      { logging: { scalyr_account_key: 'scalyr-key-0123' } },
      {
        units: ['scalyr-agent-2.service'],
        logging: { scalyr_servers: { eu: 'https://127.0.0.1:9' }, probe_timeout_ms: 500 },
      },
    );
    expect(b.rs.logDaemons.unitRestarts).toEqual(['scalyr-agent-2.service']);
    expect(b.report.warnings).toEqual([expect.stringMatching(/^Scalyr 127\.0\.0\.1:9 does not answer/)]);
    const file = join(b.root, 'etc/scalyr-agent-2/agent.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(file, 'utf8')).api_key).toBe('scalyr-key-0123');
    expect(b.boot.logText()).not.toContain('scalyr-key-0123');
  });

  it('without the agent installed: agent.json written, a warning says nothing is shipped to Scalyr', async () => {
    const b = await bootLogging(
      { scalyr_account_key: 'scalyr-key-0123' },
      { logging: { scalyr_servers: { eu: 'https://127.0.0.1:9' }, probe_timeout_ms: 500 } },
    );
    expect(b.report.warnings).toContainEqual(
      expect.stringMatching(/^Scalyr: scalyr-agent-2\.service is not installed in this image; .*agent\.json is written but nothing is shipped to Scalyr$/),
    );
    expect(b.rs.logDaemons.unitRestarts).toEqual([]);
  });

  it("scalyr_account_key: '' skips Scalyr with a note, and removes an earlier boot's agent.json", async () => {
    const b = await bootLogging({ scalyr_account_key: '' }, { files: { 'etc/scalyr-agent-2/agent.json': '{"api_key":"old"}' } });
    expect(b.plan.notes).toContainEqual({ level: 'info', message: 'scalyr_account_key is empty: Scalyr is skipped' });
    expect(b.plan.scalyr).toBeUndefined();
    await expect(stat(join(b.root, 'etc/scalyr-agent-2/agent.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
