/*! The machine image, as a person launching it sees it: taupage/image:local (scripts/bake-local,
 * the same Packer template and provisioning as the AMI) booted with systemd as PID 1, against the
 * local cloud (metadata, KMS, CloudFormation), the Pier One gate before the real registry, s3rver
 * with Mint's files and the Even fake, all on this engine's bridge address. Inside, systemd runs
 * the units the image installs and the Docker engine inside pulls and runs the application.
 *
 * Two instances boot at once: one with good user data (then: the application through a
 * published port, a Mint rotation, Even's grant through sshd, a reboot) and one with invalid user
 * data (FAILURE, and why). The bake itself runs first; it is quick when nothing changed. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { startImds, type FakeImds } from '../fakes/imds.js';
import { startKms, kmsValue, type FakeKms } from '../fakes/kms.js';
import { startCloudFormation, type FakeCloudFormation } from '../fakes/cloudformation.js';
import { startPierOneGate, type PierOneGate } from '../fakes/pierone.js';
import { startFakeEven, type FakeEven } from '../fakes/even.js';
import { buildDemoImage, dockerFromEnv, DEMO_PORT } from '../fakes/demo-image.js';
import { startS3, type LocalS3 } from '../harness/s3rver.js';
import { REPO } from '../harness/repo.js';
import { bootImage, bridgeAddress, docker, IMAGE, run, type BootedImage } from './booted-image.js';
import { makeTestCa, syslogListener, type SyslogListener, type TestCa } from '../harness/syslog-server.js';

const WORK = process.env.TAUPAGE_WORK ?? join(REPO, '.tmp');
/** The key pair scripts/bake-local made for Even: granting-service accepts its public half. */
const EVEN_KEY = join(WORK, 'image/even_ed25519');
const BUCKET = 'imagetest-stups-mint-123456789012-eu-central-1';
const APP = 'image-app';
const NOTIFY = { stack: 'image-stack', resource: 'AppServerGroup' };
const SECRET = `kms-plaintext-${randomBytes(4).toString('hex')}`;
const mint = (n: number) => ({
  user: JSON.stringify({ application_username: `${APP}-user`, application_password: `mint-password-${n}` }),
  client: JSON.stringify({ client_id: `${APP}-client`, client_secret: `mint-secret-${n}` }),
});

let bridge: string;
let good: FakeImds;
let bad: FakeImds;
let kms: FakeKms;
let cfn: FakeCloudFormation;
let s3: LocalS3;
let gate: PierOneGate;
let even: FakeEven;
let a: BootedImage;
let b: BootedImage;
let scratch: string;
let ca: TestCa;
let shipped: SyslogListener;
/** The agent.yaml the image was baked with. */
let imageAgentConfig: Record<string, unknown>;
const person = `alice${randomBytes(2).toString('hex')}`;
let personKey: string;

/** What an instance's image must have before its first start (EC2 would have it from its launch). */
function instanceFiles(imds: FakeImds): Record<string, string> {
  const agent = {
    // The image's own settings (packer/scripts/20-taupage.sh), the local cloud's over them.
    ...imageAgentConfig,
    metadata: { endpoint: imds.url },
    aws: { endpoints: { kms: kms.url, cloudformation: cfn.url, s3: s3.endpoint }, s3_force_path_style: true },
    pierone: { registries: [gate.address] },
    ssh: { even_url: even.url },
    boot: { deadline_seconds: 120 },
  };
  return {
    '/etc/taupage/agent.yaml': `# the local cloud on ${bridge} (test/image/image.test.ts)\n${YAML.stringify(agent)}`,
    // Pier One speaks HTTPS with a certificate of this test's CA: the instance trusts that CA as
    // an operator would an internal one, in the system store (the agent's units use it) and
    // for the registry in Docker's certs.d (docs/image.md).
    [`/etc/ssl/certs/${ca.hash}.0`]: ca.cert,
    '/usr/local/share/ca-certificates/taupage-image-test-ca.crt': ca.cert,
    [`/etc/docker/certs.d/${gate.address}/ca.crt`]: ca.cert,
    // A refresher pass every 5 s instead of every 2 min, so a rotation shows within the test.
    '/etc/systemd/system/taupage-credentials.timer.d/test.conf': '[Timer]\nOnCalendar=\nOnCalendar=*-*-* *:*:00/5\nRandomizedDelaySec=0\n',
  };
}

const userData = (fields: Record<string, unknown>) =>
  `#taupage-ami-config\n${YAML.stringify({ application_id: APP, application_version: '1.0', runtime: 'Docker', ...fields })}`;

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const ssh = (port: number, key: string, user: string, command: string) =>
  run(
    'ssh',
    [
      '-F',
      '/dev/null',
      '-i',
      key,
      '-p',
      String(port),
      '-o',
      'BatchMode=yes',
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'LogLevel=ERROR',
      '-o',
      'ConnectTimeout=10',
      `${user}@127.0.0.1`,
      command,
    ],
    { timeoutMs: 30_000 },
  );

const signalsOf = (uniqueId: string) => cfn.signals.filter((s) => s.uniqueId === uniqueId).map((s) => s.status);

beforeAll(async () => {
  const registry = process.env.TAUPAGE_REGISTRY;
  if (!registry || !process.env.DOCKER_HOST) throw new Error('needs DOCKER_HOST and TAUPAGE_REGISTRY (test/setup/services.ts)');
  // The image of this checkout (a no-op when it is current; the first bake builds the base too).
  const bake = spawnSync(join(REPO, 'scripts/bake-local'), { cwd: REPO, env: process.env, encoding: 'utf8', timeout: 9 * 60_000 });
  if (bake.status !== 0) throw new Error(`scripts/bake-local failed (${bake.status}):\n${bake.stderr.slice(-3000)}`);

  imageAgentConfig = YAML.parse(await docker('run', '--rm', '--entrypoint', '/bin/cat', IMAGE, '/etc/taupage/agent.yaml')) ?? {};
  expect(imageAgentConfig.logging).toEqual({ require_custom_log_mount: true });
  bridge = await bridgeAddress();
  scratch = await mkdtemp(join(tmpdir(), 'tpg-image-test-'));
  personKey = join(scratch, 'person');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', person, '-f', personKey]);

  [good, bad, kms, cfn] = await Promise.all([
    startImds({ host: bridge, identity: { instanceId: 'i-0image0good00000a' } }),
    startImds({ host: bridge, identity: { instanceId: 'i-0image0bad000000b' } }),
    startKms({ host: bridge }),
    startCloudFormation({ host: bridge }),
  ]);
  s3 = await startS3([BUCKET], { address: bridge, accessKeyIds: [good.state.role!.credentials.AccessKeyId] });
  await s3.put(BUCKET, `${APP}/user.json`, mint(1).user);
  await s3.put(BUCKET, `${APP}/client.json`, mint(1).client);
  // Pier One asks for the instance identity; both instances' signatures are the same fake one.
  const token = await fetch(`${good.url}/latest/api/token`, { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' } }).then((r) => r.text());
  const pkcs7 = await fetch(`${good.url}/latest/dynamic/instance-identity/pkcs7`, { headers: { 'x-aws-ec2-metadata-token': token } }).then((r) => r.text());
  ca = makeTestCa(scratch, [bridge]);
  // The instance forwards its logs here (logging.rsyslog_host): application, auth and system lines.
  shipped = await syslogListener({ host: bridge });
  gate = await startPierOneGate({ registry, identity: pkcs7.trim(), listen: { host: bridge }, tls: ca.server });
  even = await startFakeEven({ [person]: (await readFile(`${personKey}.pub`, 'utf8')).trim() }, { host: bridge, tls: ca.server });

  const org = `image${randomBytes(3).toString('hex')}`;
  await buildDemoImage(dockerFromEnv(), { reference: `${registry}/${org}/app:1.0` });
  gate.approve(`${org}/app:1.0`);

  good.setUserData(
    userData({
      source: `${gate.address}/${org}/app:1.0`,
      ports: { [DEMO_PORT]: DEMO_PORT },
      health_check_path: '/health',
      health_check_timeout_seconds: 60,
      mint_bucket: BUCKET,
      environment: { GREETING: 'hello from the image test', API_KEY: kmsValue(SECRET) },
      notify_cfn: NOTIFY,
      mount_custom_log: true,
      logging: { rsyslog_host: bridge, rsyslog_port: shipped.port, rsyslog_protocol: 'tcp' },
    }),
  );
  // Invalid: a latest tag (not reproducible) and a port that is no port.
  bad.setUserData(userData({ source: `${gate.address}/${org}/app:latest`, ports: { 70000: DEMO_PORT }, notify_cfn: NOTIFY }));

  [a, b] = await Promise.all([bootImage({ files: instanceFiles(good), publish: [DEMO_PORT, 22] }), bootImage({ files: instanceFiles(bad) })]);
}, 600_000);

afterAll(async () => {
  // TAUPAGE_KEEP_IMAGES=1 leaves the booted images to look into (docker exec NAME journalctl ...).
  if (process.env.TAUPAGE_KEEP_IMAGES === '1') console.error(`kept: ${a?.name} ${b?.name}`);
  else await Promise.all([a?.remove(), b?.remove()]);
  await Promise.all([shipped?.close(), gate?.close(), even?.close(), s3?.dispose(), good?.close(), bad?.close(), kms?.close(), cfn?.close()]);
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('taupage/image:local booted under systemd', () => {
  it('reaches running with no failed unit; taupage-boot.service ran the whole boot and signalled SUCCESS', async () => {
    const state = await a.systemState();
    expect({ state, failed: await a.failedUnits() }).toEqual({ state: 'running', failed: [] });

    const boot = await a.exec('systemctl', 'show', 'taupage-boot.service', '-p', 'Result', '-p', 'ActiveState', '-p', 'ExecMainStatus');
    expect(boot.stdout).toBe('Result=success\nExecMainStatus=0\nActiveState=active\n');
    const journal = await a.journal('taupage-boot.service');
    expect(journal).toMatch(/taupage boot: boot \S+ succeeded in/);
    // The secret reached the application only: never the journal.
    expect(journal).not.toContain(SECRET);

    // User data from the metadata service, the trust check and the pull through Pier One.
    expect(good.requests.some((r) => r.path === '/latest/user-data' && r.status === 200)).toBe(true);
    expect(gate.seen('manifest', (r) => !r.reference!.startsWith('sha256:') && r.authorized).length).toBeGreaterThan(0);
    expect(gate.seen('blob').length).toBeGreaterThan(0);
    expect(signalsOf('i-0image0good00000a')).toEqual(['SUCCESS']);

    // `taupage status` inside: success, every step.
    const status = await a.exec('taupage', 'status');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/success/i);

    // The application container, run by the engine inside, with its credentials.
    const ps = await a.exec('docker', 'ps', '--format', '{{.Names}} {{.Image}} {{.Status}}');
    expect(ps.stdout).toMatch(new RegExp(`^taupageapp ${gate.address.replace(/\./g, '\\.')}/\\S+ Up `, 'm'));
    const creds = await a.exec('docker', 'exec', 'taupageapp', '/bin/busybox', 'cat', '/meta/credentials/user.json');
    expect(JSON.parse(creds.stdout)).toEqual(JSON.parse(mint(1).user));
    expect((await a.exec('docker', 'exec', 'taupageapp', '/bin/busybox', 'sh', '-c', 'echo $API_KEY')).stdout.trim()).toBe(SECRET);
  });

  it("logs: the application's lines in /var/log/application.log and not in syslog; application, audit and agent lines shipped", async () => {
    // Docker's syslog driver → rsyslog's input for the container → application.log (the message only).
    const log = await until('the application line in application.log', async () => {
      const r = await a.exec('cat', '/var/log/application.log');
      return /^demo app starting as uid 999$/m.test(r.stdout) ? r.stdout : undefined;
    });
    expect(log).toMatch(/^credentials at start: client\.json user\.json $/m);
    expect((await a.exec('grep', '-c', 'demo app starting', '/var/log/syslog')).stdout.trim()).toBe('0');
    // The boot's files: the drop-in (root's alone), rotation logrotate accepts, checked every 5 minutes.
    expect((await a.exec('stat', '-c', '%a %U', '/etc/rsyslog.d/30-taupage.conf')).stdout.trim()).toBe('600 root');
    expect((await a.exec('logrotate', '--debug', '/etc/logrotate.d/taupage-application', '/etc/logrotate.d/taupage-custom')).code).toBe(0);
    expect((await a.exec('systemctl', 'show', 'logrotate.timer', '-p', 'TimersCalendar')).stdout).toContain('OnCalendar=*-*-* *:00/5:00');
    // Shipped to the remote syslog server: the application's line, the agent's own (journal → rsyslog).
    await until('the application and agent lines at the server', async () =>
      shipped.lines.some((l) => / image-app\[\d+\]: demo app starting as uid 999$/.test(l)) && shipped.lines.some((l) => / taupage\[\d+\]: \{/.test(l))
        ? true
        : undefined,
    );
    // /var/log-custom: the application (999) plants a link to /etc/shadow, then writes a line. The
    // reader runs as the application and ships the line; /etc/shadow never leaves (imfile would
    // open it as root, nosymfollow or not). The mount is the image's, which the boot checked.
    expect((await a.exec('findmnt', '-n', '-o', 'VFS-OPTIONS', '/var/log-custom')).stdout).toMatch(/^(?=.*nosymfollow)(?=.*nodev)(?=.*nosuid)(?=.*noexec)/);
    const reader = await a.exec('systemctl', 'show', 'taupage-custom-logs.service', '-p', 'ActiveState', '-p', 'User');
    expect(reader.stdout).toBe('User=application\nActiveState=active\n');
    const plant = 'ln -s /etc/shadow /var/log-custom/leak.log && echo image custom line >> /var/log-custom/app.log';
    expect(await a.exec('setpriv', '--reuid=999', '--regid=999', '--clear-groups', 'sh', '-c', plant)).toMatchObject({ code: 0 });
    expect((await a.exec('cat', '/var/log-custom/leak.log')).stderr).toMatch(/Too many levels of symbolic links/);
    await until('the custom line at the server', async () => (shipped.lines.some((l) => / customlog: image custom line$/.test(l)) ? true : undefined));
    await until("the reader's refusal of /etc/shadow", async () =>
      /'\/etc\/shadow': Permission denied/.test(await a.journal('taupage-custom-logs.service')) ? true : undefined,
    );
    expect(shipped.lines.join('\n')).not.toMatch(/ customlog: root:/);
  });

  it("the --remote-host hop's known hosts are the ones the build was given, and nothing else", async () => {
    const bastion = (await readFile(join(WORK, 'image/bastion_host_ed25519.pub'), 'utf8')).split(' ').slice(0, 2).join(' ');
    const known = await a.exec('cat', '/etc/taupage/ssh_known_hosts');
    expect(known).toMatchObject({ code: 0, stdout: `bastion.local.test ${bastion}\n` });
    expect((await a.exec('stat', '-c', '%U %a', '/etc/taupage/ssh_known_hosts')).stdout).toBe('root 644\n');
  });

  it('the application answers through a published port', async () => {
    const res = await fetch(`http://127.0.0.1:${await a.port(DEMO_PORT)}/health`);
    expect(res.status).toBe(200);
  });

  it('the credentials unit picks up a rotation in S3', async () => {
    await s3.put(BUCKET, `${APP}/user.json`, mint(2).user);
    const seen = await until('the rotated user.json inside the application', async () => {
      const r = await a.exec('docker', 'exec', 'taupageapp', '/bin/busybox', 'cat', '/meta/credentials/user.json');
      return r.stdout.includes('mint-password-2') ? r.stdout : undefined;
    });
    expect(JSON.parse(seen)).toEqual(JSON.parse(mint(2).user));
    const unit = await a.exec('systemctl', 'show', 'taupage-credentials.service', '-p', 'Result');
    expect(unit.stdout).toBe('Result=success\n');
    expect(await a.failedUnits()).toEqual([]);
  });

  it("Even's grant through sshd lets the person log in; revoke ends it", async () => {
    const port = await a.port(22);
    // Root may not log in, and nobody with a password.
    expect((await ssh(port, personKey, 'root', 'true')).code).not.toBe(0);

    const grant = await ssh(port, EVEN_KEY, 'granting-service', `grant-ssh-access --remote-host= ${person}`);
    expect(grant).toMatchObject({ code: 0, stdout: expect.stringMatching(new RegExp(`^Access for ${person} granted until `)) });
    const login = await ssh(port, personKey, person, 'id -un');
    expect(login).toMatchObject({ code: 0, stdout: `${person}\n` });

    const revoke = await ssh(port, EVEN_KEY, 'granting-service', `revoke-ssh-access --remote-host= ${person}`);
    expect(revoke.code).toBe(0);
    // The key now runs only the revoked message.
    const after = await ssh(port, personKey, person, 'id -un');
    expect(after.stdout).toMatch(/^Your SSH access was revoked by even .* UTC\n$/);
    // Both requests are in the audit trail, and its chain holds.
    expect((await a.exec('taupage', 'audit', 'verify')).code).toBe(0);
    // Their syslog copies (authpriv, taupage-ssh) left the instance with the other logs.
    await until('the audit lines at the log server', async () =>
      shipped.lines.filter((l) => /^<8[0-7]>.* taupage-ssh(\[\d+\])?: /.test(l) && l.includes(person)).length >= 2 ? true : undefined,
    );
  });

  it('a reboot reuses the application container and signals SUCCESS again', async () => {
    const before = (await a.exec('docker', 'inspect', '-f', '{{.Id}}', 'taupageapp')).stdout.trim();
    expect(before).toMatch(/^[0-9a-f]{64}$/);
    await a.restart();
    expect(await a.systemState()).toBe('running');
    expect(await a.failedUnits()).toEqual([]);
    expect((await a.exec('docker', 'inspect', '-f', '{{.Id}} {{.State.Running}}', 'taupageapp')).stdout.trim()).toBe(`${before} true`);
    expect(signalsOf('i-0image0good00000a')).toEqual(['SUCCESS', 'SUCCESS']);
    const status = await a.exec('taupage', 'status');
    expect(status.code).toBe(0);
    // rsyslog came up with the drop-in of the first boot and its input (systemd made its directory): not restarted.
    expect(status.stdout).toMatch(
      / logging\s+success\s+configured: application\.log \(rsyslog configuration unchanged\), custom logs \(read as the application's user\), remote syslog /,
    );
    expect((await fetch(`http://127.0.0.1:${await a.port(DEMO_PORT)}/health`)).status).toBe(200);
  });

  it("custom logs: rsyslog stopped while the application writes; the line is shipped once it is back (last: it stops the host's logging)", async () => {
    // rsyslog stopped while the application writes: the reader (PartOf=rsyslog.service) stops with
    // it and keeps its place, so the line written meanwhile is shipped once rsyslog is back, not
    // sent into a missing socket and lost. (Its socket unit too: journald would start it again.)
    expect(await a.exec('systemctl', 'stop', 'syslog.socket', 'rsyslog.service')).toMatchObject({ code: 0 });
    expect((await a.exec('systemctl', 'is-active', 'taupage-custom-logs.service')).stdout.trim()).toBe('inactive');
    const write = 'echo line written while rsyslog was down >> /var/log-custom/app.log';
    expect(await a.exec('setpriv', '--reuid=999', '--regid=999', '--clear-groups', 'sh', '-c', write)).toMatchObject({ code: 0 });
    expect(await a.exec('systemctl', 'start', 'rsyslog.service')).toMatchObject({ code: 0 });
    await until('the line written while rsyslog was down, at the server', async () =>
      shipped.lines.some((l) => / customlog: line written while rsyslog was down$/.test(l)) ? true : undefined,
    );
    expect((await a.exec('systemctl', 'is-active', 'taupage-custom-logs.service')).stdout.trim()).toBe('active');
    expect(await a.failedUnits()).toEqual([]);
  });

  it('an instance with invalid user data signals FAILURE, and taupage status says why', async () => {
    expect(await b.systemState()).toBe('degraded');
    expect(await b.failedUnits()).toEqual(['taupage-boot.service']);
    expect(signalsOf('i-0image0bad000000b')).toEqual(['FAILURE']);
    const status = await b.exec('taupage', 'status');
    expect(status.code).toBe(1);
    expect(status.stdout).toMatch(/TPG_USERDATA_INVALID/);
    expect(status.stdout).toMatch(/latest/);
    // Nothing was pulled or run.
    expect((await b.exec('docker', 'ps', '-aq')).stdout.trim()).toBe('');
  });
});
