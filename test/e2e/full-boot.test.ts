/*! Whole boots of the built agent with the application container: `node agent/dist/taupage.mjs
 * boot` in a scratch root against the local cloud, the real engine and registry behind the Pier One
 * gate, and s3rver holding Mint's files. These prove the boot wires the steps together (exit code,
 * status, CloudFormation signal per outcome, credentials before the container, reboot and
 * replacement); the detailed container cases are at the step level
 * (test/integration/container-step.test.ts), the engine's own in test/integration/boot.test.ts. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { getPriority, tmpdir } from 'node:os';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kmsValue } from '../fakes/kms.js';
import { lockApp } from '../harness/app-lock.js';
import { DEMO_PORT, type DemoImage } from '../fakes/demo-image.js';
import { MINT_BUCKET, agentSettings, execInApp, gateCounts, inspectApp, removeApp, startWorld, type Instance, type World } from '../harness/world.js';
import { freePort, httpGet } from '../harness/net.js';
import { userData } from '../harness/user-data.js';
import { jsonLines } from '../harness/log-lines.js';
import { stepOf } from '../harness/boot.js';
import type { AgentRun } from '../harness/agent.js';
import type { GateRequest } from '../fakes/pierone.js';
import { LABELS } from '../../agent/src/steps/container/plan.js';

const SECRETS = { db: 'e2e-db-password-77', scalyr: 'e2e-scalyr-key-88' };
const MINT = {
  user: JSON.stringify({ application_username: 'my-app-user', application_password: 'mint-S3CR3T-user-1' }),
  client: JSON.stringify({ client_id: 'my-app-client', client_secret: 'mint-S3CR3T-client-1' }),
};
const NOTIFY = { stack: 'my-stack', resource: 'AppServerGroup' };

let world: World;
let unlock: () => Promise<void>;
const images: Record<string, DemoImage> = {};

beforeAll(async () => {
  unlock = await lockApp();
  world = await startWorld();
  await removeApp(world.docker);
  const [one, two] = await Promise.all([world.image('app:1.0'), world.image('app:2.0'), world.image('unapproved:1.0', { approve: false })]);
  images['app:1.0'] = one;
  images['app:2.0'] = two;
  world.gate.approve(`${world.org}/unapproved:1.0`, { trusted: true, productionReady: false, reason: 'no production-ready incident recorded' });
  await world.mint('my-app', MINT);
});

afterAll(async () => {
  await world?.close();
  await unlock?.();
});

/** Remove every local copy of an image, so the next pull downloads it. */
async function forgetImage(digest: string): Promise<void> {
  for (const i of await world.docker.listImages({ digests: true }))
    if ((i.RepoDigests ?? []).some((d) => d.endsWith(`@${digest}`))) await world.docker.getImage(i.Id).remove({ force: true });
}

async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await allFiles(p)));
    else if (e.isFile()) out.push(p); // not rsyslog's sockets
  }
  return out;
}

describe.sequential('taupage boot with the application container', () => {
  let webPort: number;
  let instance: Instance;
  let firstId: string;
  const appUserData = (over: Record<string, unknown> = {}) =>
    userData({
      source: world.source('app:1.0'),
      ports: { [webPort]: DEMO_PORT },
      health_check_path: '/health',
      mint_bucket: MINT_BUCKET,
      notify_cfn: NOTIFY,
      environment: { DB_PASSWORD: kmsValue(SECRETS.db), PLAIN: 'visible' },
      logging: { scalyr_account_key: kmsValue(SECRETS.scalyr) },
      ...over,
    });

  it('approved image: pulled alongside the other steps, created once the credentials are there, runs healthy; status and signal SUCCESS; no plaintext anywhere; once per boot', async () => {
    webPort = await freePort();
    const text = appUserData();
    world.cloud.imds.setUserData(text);
    instance = await world.instance();
    const role = world.cloud.imds.state.role!.credentials.AccessKeyId;

    // taupage status: 3 before the boot and while it runs (the metadata service is slow), 0 once it ended.
    expect((await instance.taupage('status')).code).toBe(3);
    world.cloud.imds.faults.delay(2_500);
    const running = instance.taupage('boot');
    await expect
      .poll(
        () =>
          stat(join(instance.root, 'run/taupage/status.json')).then(
            () => true,
            () => false,
          ),
        { timeout: 10_000, interval: 25 },
      )
      .toBe(true);
    const during = await instance.taupage('status');
    expect(during.stdout).toMatch(/^state: running for /m);
    expect(during.code).toBe(3);
    world.cloud.imds.faults.delay(0); // the SDK's own metadata calls (role credentials) time out after 1 s
    const waited = await instance.taupage('status', '--wait', '--poll-ms', '50');
    expect(waited.code).toBe(0);
    const boot = await running;

    expect(boot.stderr).toMatch(/^taupage boot: boot \S+ succeeded in [0-9.]+ s\n$/);
    expect(boot.code).toBe(0);
    expect(jsonLines(boot.stdout).every((l) => typeof l.level === 'string' && typeof l.msg === 'string')).toBe(true);
    const digest = images['app:1.0']!.digest;

    // The status: every step, the digest, the signal.
    const status = await instance.status();
    expect(status).toMatchObject({
      state: 'ended',
      outcome: 'success',
      imageDigest: digest,
      instanceId: 'i-0123456789abcdef0',
      facts: { signal: 'SUCCESS', signalSent: true, container: 'created' },
    });
    expect(await readFile(join(instance.root, 'run/taupage/result.json'), 'utf8').then(JSON.parse)).toEqual(status);
    for (const id of ['user-data', 'credentials', 'logging', 'container', 'signal']) expect(stepOf(status, id)!.outcome).toBe('success');
    // Scalyr is asked for but this image has no Scalyr agent (and no network to Scalyr): warnings
    // that name it, not a failure.
    expect(stepOf(status, 'logging')).toMatchObject({
      note: 'configured: application.log',
      warnings: [
        expect.stringMatching(/^Scalyr: scalyr-agent-2\.service is not installed in this image; .* nothing is shipped to Scalyr$/),
        expect.stringMatching(/^Scalyr upload\.eu\.scalyr\.com does not answer \(/),
      ],
    });
    // The container step began with the others (its trust check and pull need none of them); the
    // container itself was created once the credentials and the logging were in place.
    const creds = stepOf(status, 'credentials')!;
    const logging = stepOf(status, 'logging')!;
    expect(Date.parse(stepOf(status, 'container')!.startedAt!)).toBeLessThanOrEqual(Date.parse(creds.startedAt!));
    const created = Date.parse((await inspectApp(world.docker))!.Created);
    for (const need of [creds, logging]) expect(Date.parse(need.startedAt!) + need.durationMs!).toBeLessThanOrEqual(created + 1);
    expect(world.cloud.cloudformation.signals).toMatchObject([
      { status: 'SUCCESS', stackName: 'my-stack', logicalResourceId: 'AppServerGroup', uniqueId: 'i-0123456789abcdef0', accessKeyId: role },
    ]);
    // KMS and S3 were asked with the instance role's credentials from IMDS.
    expect(world.cloud.kms.calls.filter((c) => c.outcome === 'ok').map((c) => c.accessKeyId)).toEqual([role, role]);

    // The container: the approved digest, running, answering.
    const info = (await inspectApp(world.docker))!;
    firstId = info.Id;
    expect(info.State.Running).toBe(true);
    expect(info.Config.Image).toBe(`${world.gate.address}/${world.org}/app@${digest}`);
    expect(info.Config.Labels![LABELS.imageDigest]).toBe(digest);
    expect(info.Config.Env).toEqual(expect.arrayContaining([`DB_PASSWORD=${SECRETS.db}`, 'PLAIN=visible', 'CREDENTIALS_DIR=/meta/credentials']));
    expect((await httpGet(webPort, '/')).body).toContain('Hello from Taupage');

    // Mint's files: on the host with the container user's owner and mode, there when the
    // application started (it lists them first thing), readable by it under CREDENTIALS_DIR.
    for (const [file, content] of [
      ['user.json', MINT.user],
      ['client.json', MINT.client],
    ] as const) {
      const path = join(instance.root, 'meta/credentials', file);
      const st = await stat(path);
      expect({ uid: st.uid, gid: st.gid, mode: st.mode & 0o777 }).toEqual({ uid: 999, gid: 999, mode: 0o400 });
      expect(await readFile(path, 'utf8')).toBe(content);
      const seen = await execInApp(world.docker, ['/bin/busybox', 'sh', '-c', `/bin/busybox id -u; /bin/busybox cat "$CREDENTIALS_DIR/${file}"`]);
      expect(seen).toMatchObject({ code: 0, stdout: `999\n${content}` });
    }
    // What it printed is in the instance's application.log (Docker's syslog driver → rsyslog), not in syslog.
    const appLog = () => readFile(join(instance.root, 'var/log/application.log'), 'utf8').catch(() => '');
    await expect.poll(appLog, { timeout: 5_000 }).toMatch(/^credentials at start: client\.json user\.json $/m);
    expect(await readFile(join(instance.root, 'var/log/syslog'), 'utf8').catch(() => '')).not.toContain('credentials at start');

    // Files of the boot: the user data as written (0444), metrics.
    const meta = join(instance.root, 'meta/taupage.yaml');
    expect(await readFile(meta, 'utf8')).toBe(text);
    expect((await stat(meta)).mode & 0o777).toBe(0o444);
    const prom = await readFile(join(instance.root, 'var/local/textfile_collector/taupage.prom'), 'utf8');
    expect(prom).toContain('taupage_boot_success 1');
    expect(prom).toContain('taupage_boot_step_outcome{step="container",outcome="success"} 1');
    expect(prom).toMatch(/^taupage_boot_time_to_healthy_seconds [0-9.]+$/m);

    // The Scalyr key (from KMS) is in its consumer's file only: agent.json, root's alone.
    const scalyrJson = join(instance.root, 'etc/scalyr-agent-2/agent.json');
    expect(JSON.parse(await readFile(scalyrJson, 'utf8')).api_key).toBe(SECRETS.scalyr);
    expect((await stat(scalyrJson)).mode & 0o777).toBe(0o600);
    // No plaintext in anything else the agent printed or wrote; Mint's secrets only in their files.
    const files = (await allFiles(instance.root)).filter((f) => f !== scalyrJson);
    const texts = [boot.stdout, boot.stderr, ...(await Promise.all(files.map((f) => readFile(f, 'utf8'))))];
    for (const s of Object.values(SECRETS)) for (const t of texts) expect(t).not.toContain(s);
    const outside = [boot.stdout, boot.stderr, ...(await Promise.all(files.filter((f) => !f.includes('/meta/credentials/')).map((f) => readFile(f, 'utf8'))))];
    for (const t of outside) expect(t).not.toContain('S3CR3T');

    // For people: the status table.
    const table = await instance.taupage('status');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^state: success in /m);
    expect(table.stdout).toContain(`image: ${digest}`);
    expect(table.stdout).toMatch(/^\s+\S+ container\s+success$/m);
    expect(table.stdout).toMatch(/^\s+\S+ signal\s+success\s+SUCCESS sent to my-stack\/AppServerGroup$/m);
    expect(table.stdout).toMatch(/^\s+\S+ logging\s+success\s+configured: application\.log\n\s+warning: Scalyr: scalyr-agent-2\.service is not installed/m);

    // Once per boot.
    const again = await instance.taupage('boot');
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/already ran in this boot/);
    expect(world.cloud.cloudformation.signals).toHaveLength(1);
  });

  it('reboot: the same container is started again, without a trust check or a pull', async () => {
    await world.docker.getContainer('taupageapp').stop({ t: 1 });
    await instance.reboot(); // /run kept: the lock names the previous boot and is taken over
    world.gate.requests.length = 0;
    world.cloud.cloudformation.signals.length = 0;
    const boot = await instance.taupage('boot');
    expect(boot.stderr).toMatch(/succeeded/);
    expect(boot.code).toBe(0);
    const info = (await inspectApp(world.docker))!;
    expect(info.Id).toBe(firstId);
    expect(info.State.Running).toBe(true);
    expect(gateCounts(world.gate)).toEqual({ pulls: 0, trustChecks: 0 });
    expect(await instance.status()).toMatchObject({
      outcome: 'success',
      imageDigest: images['app:1.0']!.digest,
      facts: { container: 'reused', signal: 'SUCCESS' },
    });
    expect(world.cloud.cloudformation.signals).toMatchObject([{ status: 'SUCCESS' }]);
    expect((await httpGet(webPort, '/health')).status).toBe(200);
  });

  it('changed user data: the container is replaced by one of the new image', async () => {
    world.cloud.imds.setUserData(appUserData({ source: world.source('app:2.0'), environment: { PLAIN: 'changed' } }));
    await instance.reboot();
    world.gate.requests.length = 0;
    const boot = await instance.taupage('boot');
    expect(boot.code).toBe(0);
    const info = (await inspectApp(world.docker))!;
    expect(info.Id).not.toBe(firstId);
    expect(info.Config.Labels![LABELS.imageDigest]).toBe(images['app:2.0']!.digest);
    expect(info.Config.Env).toContain('PLAIN=changed');
    expect(gateCounts(world.gate).trustChecks).toBe(1);
    expect(gateCounts(world.gate).pulls).toBeGreaterThan(0);
    expect(await instance.status()).toMatchObject({ outcome: 'success', imageDigest: images['app:2.0']!.digest, facts: { container: 'replaced' } });
  });

  it('health never 200: FAILURE with the last status seen, signalled; the container is left running, and the status says so', async () => {
    world.cloud.cloudformation.signals.length = 0;
    const port = await freePort();
    world.cloud.imds.setUserData(
      userData({
        source: world.source('app:1.0'),
        ports: { [port]: DEMO_PORT },
        health_check_path: '/missing',
        health_check_timeout_seconds: 2,
        notify_cfn: NOTIFY,
      }),
    );
    const i = await world.instance();
    const boot = await i.taupage('boot');
    expect(boot.code).toBe(1);
    expect(boot.stderr).toMatch(/TPG_HEALTH_TIMEOUT; CloudFormation signalled FAILURE/);
    const status = await i.status();
    expect(status).toMatchObject({ outcome: 'failed', errorCode: 'TPG_HEALTH_TIMEOUT' });
    expect(stepOf(status, 'container')!.message).toContain(`last: HTTP 404 from http://127.0.0.1:${port}/missing`);
    expect(world.cloud.cloudformation.signals).toMatchObject([{ status: 'FAILURE' }]);
    // Decided (docs/image.md): a failed boot leaves the application container as it is.
    expect(status.facts.applicationContainer).toMatch(/^left as it is/);
    expect(status.message).toMatch(/the application container was left as it is/);
    expect((await inspectApp(world.docker))?.State.Running).toBe(true);
  });

  it.each([
    ['an unapproved image', 'unapproved:1.0', 'TPG_IMAGE_UNTRUSTED', /no production-ready incident recorded/],
    ['a missing tag', 'app:3.0', 'TPG_IMAGE_NOT_FOUND', /3\.0/],
    ['a wrong pinned digest', () => `app:1.0@${images['app:2.0']!.digest}`, 'TPG_IMAGE_DIGEST_MISMATCH', /pins sha256:/],
  ] as const)('%s: refused, no container, exit 1, status and signal FAILURE', async (_what, image, code, message) => {
    await removeApp(world.docker);
    world.gate.requests.length = 0;
    world.cloud.cloudformation.signals.length = 0;
    world.cloud.imds.setUserData(
      userData({ source: world.source(typeof image === 'function' ? image() : image), ports: { [await freePort()]: DEMO_PORT }, notify_cfn: NOTIFY }),
    );
    const i = await world.instance();
    const boot = await i.taupage('boot');
    expect(boot.code).toBe(1);
    expect(boot.stderr).toContain(`(${code}; CloudFormation signalled FAILURE)`);
    const status = await i.status();
    expect(status).toMatchObject({ outcome: 'failed', errorCode: code, facts: { signal: 'FAILURE', signalSent: true } });
    expect(status.imageDigest).toBeUndefined();
    expect(stepOf(status, 'container')).toMatchObject({ outcome: 'failed', errorCode: code });
    expect(stepOf(status, 'container')!.message).toMatch(message);
    expect(world.cloud.cloudformation.signals).toMatchObject([{ status: 'FAILURE' }]);
    expect(gateCounts(world.gate).pulls).toBe(0);
    expect(await inspectApp(world.docker)).toBeUndefined();
  });

  it('registry down throughout: FAILURE signalled within the boot deadline, no container', async () => {
    world.cloud.cloudformation.signals.length = 0;
    world.cloud.imds.setUserData(userData({ source: world.source('app:1.0'), notify_cfn: NOTIFY }));
    const i = await world.instance({ agent: agentSettings(world, { boot: { deadline_seconds: 4, signal_reserve_seconds: 1 }, pierone: { attempts: 20 } }) });
    Object.assign(world.gate.faults, { down: true, failWith: 'reset' });
    try {
      const boot = await i.taupage('boot');
      expect(boot.code).toBe(5);
      expect(boot.stderr).toContain('(TPG_REGISTRY_UNAVAILABLE; CloudFormation signalled FAILURE)');
    } finally {
      Object.assign(world.gate.faults, { down: false, failWith: 503 });
    }
    const status = await i.status();
    expect(status).toMatchObject({ outcome: 'failed', errorCode: 'TPG_REGISTRY_UNAVAILABLE' });
    const signal = world.cloud.cloudformation.signals[0]!;
    expect(signal.status).toBe('FAILURE');
    expect(signal.at).toBeLessThanOrEqual(Date.parse(status.deadline));
    expect(await inspectApp(world.docker)).toBeUndefined();
  });

  it('rsyslog fails to restart while the image downloads: the pull begun alongside is abandoned, no container, FAILURE signalled without waiting for the download', async () => {
    world.cloud.cloudformation.signals.length = 0;
    await removeApp(world.docker);
    const slow = await world.image('slow:1.0');
    await forgetImage(slow.digest); // the engine must download it
    world.cloud.imds.setUserData(appUserData({ source: world.source('slow:1.0'), ports: { [await freePort()]: DEMO_PORT } }));
    // rsyslog refuses to start a second into the boot, once the pull is under way; the gate holds
    // the image's layers far longer.
    const restart = ['sh', '-c', 'sleep 1; echo rsyslogd: could not open the input socket >&2; exit 1'];
    const i = await world.instance({ agent: { ...agentSettings(world), logging: { restart_rsyslog: restart } } });
    world.gate.requests.length = 0;
    Object.assign(world.gate.faults, { delayMs: 60_000, when: (r: GateRequest) => r.kind === 'blob' });
    const started = Date.now();
    let boot: AgentRun;
    try {
      boot = await i.taupage('boot');
    } finally {
      Object.assign(world.gate.faults, { delayMs: 0, when: undefined });
    }
    // Ended long before the layers could have arrived.
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(boot.stderr).toContain('(TPG_LOGGING_FAILED; CloudFormation signalled FAILURE)');
    expect(boot.code).toBe(1);
    const status = await i.status();
    expect(status).toMatchObject({ outcome: 'failed', errorCode: 'TPG_LOGGING_FAILED' });
    expect(stepOf(status, 'container')).toMatchObject({
      outcome: 'failed',
      errorCode: 'TPG_DEPENDENCY_FAILED',
      message: 'not run: it needs logging, which failed (what it had begun without them was stopped)',
    });
    // The pull had begun (the manifest by digest, a layer asked for) before the logging step failed.
    expect(world.gate.seen('manifest', (r) => r.reference === slow.digest)).not.toHaveLength(0);
    expect(world.gate.seen('blob')).not.toHaveLength(0);
    expect(await inspectApp(world.docker)).toBeUndefined();
    expect(world.cloud.cloudformation.signals).toMatchObject([{ status: 'FAILURE' }]);
  });

  it('shutdown: on-exit waits for the real application to exit, then powers off', async () => {
    const batch = await world.image('batch:1.0', { cmd: ['/bin/busybox', 'sh', '-c', 'echo batch done'] });
    world.cloud.imds.setUserData(userData({ source: world.source('batch:1.0'), shutdown: 'on-exit', notify_cfn: NOTIFY }));
    world.cloud.cloudformation.signals.length = 0;
    // The shutdown command the agent config names (on an instance it powers off).
    const i = await world.instance({
      agent: { ...agentSettings(world), shutdown: { command: ['sh', '-c', 'echo "exit $TAUPAGE_APP_EXIT_CODE" > "$TAUPAGE_ROOT/powered-off"'] } },
    });
    const boot = await i.taupage('boot');
    expect(boot.code).toBe(0);
    expect(await readFile(join(i.root, 'powered-off'), 'utf8')).toBe('exit 0\n');
    const result = JSON.parse(await readFile(join(i.root, 'run/taupage/result.json'), 'utf8')) as {
      outcome: string;
      imageDigest: string;
      facts: Record<string, unknown>;
    };
    expect(result).toMatchObject({ outcome: 'success', imageDigest: batch.digest, facts: { applicationExitCode: 0 } });
    expect(world.cloud.cloudformation.signals).toMatchObject([{ status: 'SUCCESS' }]);
  });
  it("while the image downloads the agent's own work runs at nice 10 (boot.nice_during_pull); afterwards at its own priority again", async () => {
    const image = await world.image('nice:1.0', { cmd: ['/bin/busybox', 'true'] });
    await forgetImage(image.digest); // the engine must download it
    world.cloud.imds.setUserData(userData({ source: world.source('nice:1.0'), shutdown: 'on-exit' }));
    // Two tools of the agent's record the nice value of the agent's main thread (/proc/PPID/stat):
    // the logging step's check (rsyslogd -N1) once the engine has asked for the layer (the pull is
    // under way; the gate holds the layer back), and the shutdown command after the boot.
    const dir = await mkdtemp(join(tmpdir(), 'tpg-nice-'));
    const agentNice = (name: string) => `cut -d' ' -f19 /proc/$PPID/stat > ${dir}/${name}`;
    const waitForLayer = `i=0; while [ ! -e ${dir}/layer-asked ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done`;
    await writeFile(join(dir, 'rsyslogd'), `#!/bin/sh\n${waitForLayer}\n${agentNice('during-pull')}\nexec rsyslogd "$@"\n`, { mode: 0o755 });
    const i = await world.instance({
      agent: { ...agentSettings(world), logging: { rsyslogd: join(dir, 'rsyslogd') }, shutdown: { command: ['sh', '-c', agentNice('after')] } },
    });
    const layer = (r: GateRequest) => {
      if (r.kind === 'blob') writeFileSync(join(dir, 'layer-asked'), '');
      return r.kind === 'blob';
    };
    Object.assign(world.gate.faults, { delayMs: 1_500, when: layer });
    try {
      expect((await i.taupage('boot')).code).toBe(0);
      // Raised to 10, never lowered (a suite run at nice 12 stays at 12).
      expect(await readFile(join(dir, 'during-pull'), 'utf8')).toBe(`${Math.max(10, getPriority())}\n`);
      expect(await readFile(join(dir, 'after'), 'utf8')).toBe(`${getPriority()}\n`);
    } finally {
      Object.assign(world.gate.faults, { delayMs: 0, when: undefined });
      await rm(dir, { recursive: true, force: true });
    }
  });
});
