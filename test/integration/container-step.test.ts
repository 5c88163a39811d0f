/*! The container step against the real engine, the real registry and our Pier One gate: trust,
 * pin, run, reuse, replace, refuse, retry, health. Each test drives `prepareContainer` and
 * `applyContainer` (as the boot does, without the wait for the step's needs) with a
 * BootContext built here; the full-boot tests come with `taupage boot`. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import type Docker from 'dockerode';
import { applyContainer, prepareContainer } from '../../agent/src/steps/container/apply.js';
import { planContainer, LABELS, type ContainerPlan } from '../../agent/src/steps/container/plan.js';
import { AgentError } from '../../agent/src/lib/errors.js';
import { DockerodeRuntime } from '../../agent/src/adapters/dockerode-runtime.js';
import type { ContainerRuntime } from '../../agent/src/ports/container-runtime.js';
import { digestRef } from '../../agent/src/values/image-ref.js';
import { validateUserData } from '../../agent/src/user-data/validate.js';
import { startPierOneGate, type PierOneGate, type GateRequest } from '../fakes/pierone.js';
import { buildDemoImage, dockerFromEnv, DEMO_PORT, type DemoImage } from '../fakes/demo-image.js';
import { testBoot, type TestBoot, type TestBootOptions } from '../harness/boot-context.js';
import { lockApp } from '../harness/app-lock.js';
import { freePort, httpGet, udpSink, type UdpSink } from '../harness/net.js';
import { scratchRoot } from '../harness/scratch.js';
import { registryFromEnv } from '../harness/services.js';
import { userData as userDataOf } from '../harness/user-data.js';
import { inspectApp as inspect, removeApp as remove } from '../harness/world.js';

let registry: string;
const org = `step${randomBytes(3).toString('hex')}`;
const IDENTITY = 'MIAGCSqGSIb3DQEHAqCAMIACAQExCzAJBgUrDgMCGgUAMIAGCSqGSIb3DQEHAaCAJIAEggHbewog';
const KMS_CIPHERTEXT = Buffer.from('ciphertext-of-the-api-token').toString('base64');
const KMS_PLAINTEXT = 'kms-plaintext-4711';
const DB_PASSWORD = 'db-password-by-name-0815';

let docker: Docker;
let gate: PierOneGate;
let unlock: () => Promise<void>;
let root: string;
let syslog: UdpSink;
const images: Record<string, DemoImage> = {};

const userData = (fields: Record<string, unknown>) => userDataOf({ application_id: 'demo-app', ...fields });

function agentConfig(over: { docker?: object; pierone?: object } = {}): Record<string, unknown> {
  return {
    root,
    docker: { host: process.env.DOCKER_HOST, syslog_address: syslog.address, ...over.docker },
    pierone: { registries: [gate.address], attempts: 4, request_timeout_ms: 3_000, ...over.pierone },
  };
}

interface Run {
  boot: TestBoot;
  plan: ContainerPlan;
  error?: AgentError;
}

/** Plan and apply the container step for this user data; a failure is returned, not thrown. */
async function run(
  text: string,
  options: Partial<TestBootOptions> & {
    agent?: Parameters<typeof agentConfig>[0];
    tune?: (p: ContainerPlan) => void;
    /** What happens while the boot waits for the step's needs (between prepare and apply). */
    meanwhile?: () => Promise<void>;
  } = {},
): Promise<Run> {
  const boot = testBoot({ userData: text, config: agentConfig(options.agent), identity: IDENTITY, secrets: { [KMS_CIPHERTEXT]: KMS_PLAINTEXT }, ...options });
  const plan = planContainer({ settings: boot.settings, config: boot.ctx.config, paths: boot.ctx.paths });
  options.tune?.(plan);
  try {
    const prepared = await prepareContainer(plan, boot.ctx, undefined, { progressIntervalMs: 0 });
    await options.meanwhile?.();
    await applyContainer(plan, boot.ctx, prepared);
    return { boot, plan };
  } catch (e) {
    if (!(e instanceof AgentError)) throw e;
    return { boot, plan, error: e };
  }
}

/** The port's methods of a runtime, bound (to wrap one of them). */
function pick(r: ContainerRuntime): ContainerRuntime {
  return {
    inspectApp: r.inspectApp.bind(r),
    pullImage: r.pullImage.bind(r),
    createApp: r.createApp.bind(r),
    startApp: r.startApp.bind(r),
    restartApp: r.restartApp.bind(r),
    removeApp: r.removeApp.bind(r),
    waitForExit: r.waitForExit.bind(r),
  };
}

const tool = promisify(execFile);
const inspectApp = () => inspect(docker);
const removeApp = () => remove(docker);

/** Remove every local copy of an image, so the next pull really pulls. */
async function forgetImage(digest: string): Promise<void> {
  const found = await docker.listImages({ digests: true });
  for (const i of found) if ((i.RepoDigests ?? []).some((d) => d.endsWith(`@${digest}`))) await docker.getImage(i.Id).remove({ force: true });
}

/** What the registry's tag names right now (straight from the registry, not through the gate). */
async function registryDigest(repository: string, tag: string): Promise<string | undefined> {
  const res = await request(`http://${registry}/v2/${repository}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
  });
  await res.body.dump();
  return res.headers['docker-content-digest'] as string | undefined;
}

const pulls = () => gate.seen('manifest', (r) => r.reference!.startsWith('sha256:')).length + gate.seen('blob').length;
const trustChecks = () => gate.seen('manifest', (r) => !r.reference!.startsWith('sha256:')).length;

/** Every field of the created container, as the plan says. */
function expectMatchesPlan(info: Docker.ContainerInspectInfo, plan: ContainerPlan, digest: string, bootId: string, env: string[]): void {
  const hc = info.HostConfig as Docker.HostConfig & { ShmSize?: number };
  expect(info.Name).toBe('/taupageapp');
  expect(info.Config.Image).toBe(digestRef(plan.image, digest));
  expect(info.Config.Env.filter((e) => !e.startsWith('PATH='))).toEqual(env);
  expect(info.Config.User).toBe(plan.user ?? '');
  if (plan.hostname) expect(info.Config.Hostname).toBe(plan.hostname);
  expect(info.Config.Labels).toEqual({ ...plan.labels, [LABELS.imageDigest]: digest, [LABELS.bootId]: bootId });
  expect(hc.Binds).toEqual(plan.binds.map((b) => `${b.host}:${b.container}${b.readOnly ? ':ro' : ''}`));
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const p of plan.ports)
    bindings[`${p.containerPort}/${p.protocol}`] = [...(bindings[`${p.containerPort}/${p.protocol}`] ?? []), { HostIp: '', HostPort: String(p.hostPort) }];
  expect(hc.PortBindings).toEqual(bindings);
  expect(hc.RestartPolicy).toEqual({ Name: 'on-failure', MaximumRetryCount: plan.restartPolicy.maximumRetryCount });
  expect(hc.CapAdd ?? []).toEqual(plan.capAdd);
  expect(hc.CapDrop ?? []).toEqual(plan.capDrop);
  expect(hc.NetworkMode).toBe(plan.networkMode);
  expect(hc.Privileged).toBe(plan.privileged);
  expect(hc.ReadonlyRootfs).toBe(plan.readOnlyRootfs);
  if (plan.shmSizeBytes !== undefined) expect(hc.ShmSize).toBe(plan.shmSizeBytes);
  expect(hc.LogConfig).toEqual({ Type: 'syslog', Config: plan.logConfig.config });
}

beforeAll(async () => {
  registry = registryFromEnv();
  unlock = await lockApp();
  docker = dockerFromEnv();
  await removeApp();
  root = await scratchRoot({ purpose: 'container' });
  for (const d of ['meta/credentials', 'mounts/data', 'var/log', 'var/log-custom', 'etc/ssl/certs']) await mkdir(join(root, d), { recursive: true });
  // What the disks step does for mounts: /data is a tmpfs (unmounted with the scratch root).
  await tool('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', join(root, 'mounts/data')]);
  syslog = await udpSink();
  gate = await startPierOneGate({ registry });
  const build = async (name: string, opts: Partial<Parameters<typeof buildDemoImage>[1]> = {}) => {
    images[name] = await buildDemoImage(docker, { reference: `${registry}/${org}/${name}`, ...opts });
  };
  await Promise.all([
    build('app:1.0'),
    build('app:2.0'),
    build('unapproved:1.0'),
    build('healthy:1.0', { healthcheck: ['/bin/busybox', 'wget', '-q', '-O', '/dev/null', `http://127.0.0.1:${DEMO_PORT}/health`] }),
    build('sick:1.0', { healthcheck: ['/bin/busybox', 'test', '-f', '/www/ready'] }),
  ]);
  for (const a of ['app:1.0', 'app:2.0', 'healthy:1.0', 'sick:1.0']) gate.approve(`${org}/${a}`);
  gate.approve(`${org}/unapproved:1.0`, { trusted: true, productionReady: false, reason: 'no production-ready incident recorded' });
});

afterAll(async () => {
  if (docker) await removeApp();
  await gate?.close();
  syslog?.close();
  await unlock?.();
});

describe.sequential('container step', () => {
  let webPort: number;
  let udpPort: number;
  let first: { id: string; bootId: string; startedAt: string };
  const full = () =>
    userData({
      source: `${gate.address}/${org}/app:1.0`,
      ports: { [webPort]: DEMO_PORT, [`${udpPort}/udp`]: 5353 },
      health_check_path: '/health',
      health_check_timeout_seconds: 30,
      tokeninfo_url: 'https://tokeninfo.example.org/oauth2/tokeninfo',
      environment: { PLAIN: 'hello', DB_PASSWORD, API_TOKEN: `aws:kms:${KMS_CIPHERTEXT}`, APPLICATION_ID: 'ignored' },
      mounts: { '/data': { filesystem: 'tmpfs' } },
      mount_var_log: true,
      mount_custom_log: true,
      mount_certs: true,
      capabilities_add: ['NET_BIND_SERVICE'],
      capabilities_drop: ['MKNOD'],
      hostname: 'demo-host',
      read_only: true,
      shm_size: '32m',
    });

  it('runs the approved image by digest: every container field as planned, healthy, logging to syslog, secrets only in the container', async () => {
    webPort = await freePort();
    udpPort = await freePort();
    gate.requests.length = 0;
    const { boot, plan, error } = await run(full());
    expect(error).toBeUndefined();
    const digest = images['app:1.0']!.digest;
    expect(boot.records).toEqual({ imageDigest: digest, container: 'created' });

    const info = (await inspectApp())!;
    expect(info.State.Running).toBe(true);
    expectMatchesPlan(info, plan, digest, boot.ctx.facts.bootId, [
      'TOKENINFO_URL=https://tokeninfo.example.org/oauth2/tokeninfo',
      'PLAIN=hello',
      `DB_PASSWORD=${DB_PASSWORD}`,
      `API_TOKEN=${KMS_PLAINTEXT}`,
      'APPLICATION_ID=demo-app',
      'APPLICATION_VERSION=1.0',
      'CREDENTIALS_DIR=/meta/credentials',
    ]);
    // The original's docker run, independently of the plan:
    expect(info.HostConfig.Binds).toEqual([
      `${root}/mounts/data:/data`,
      `${root}/meta:/meta:ro`,
      `${root}/var/log:/var/log-host:ro`,
      `${root}/var/log-custom:/var/log`,
      `${root}/etc/ssl/certs:/etc/ssl/certs:ro`,
    ]);
    expect(info.Config.User).toBe('999:999');
    expect(info.HostConfig.PortBindings).toEqual({
      [`${DEMO_PORT}/tcp`]: [{ HostIp: '', HostPort: String(webPort) }],
      '5353/udp': [{ HostIp: '', HostPort: String(udpPort) }],
    });
    expect(info.HostConfig.LogConfig).toEqual({ Type: 'syslog', Config: { tag: 'demo-app', 'syslog-address': syslog.address } });
    expect(info.Config.Labels![LABELS.imageDigest]).toBe(digest);
    expect(info.Config.Labels![LABELS.applicationId]).toBe('demo-app');
    expect((info.HostConfig as { ShmSize?: number }).ShmSize).toBe(32 * 1024 * 1024);

    // It answers, as uid 999, and its output reaches syslog under the application id.
    const page = await httpGet(webPort, '/');
    expect(page.status).toBe(200);
    expect(page.body).toContain('Hello from Taupage');
    await expect.poll(() => syslog.lines.find((l) => l.includes('demo app starting as uid 999')), { timeout: 5_000 }).toMatch(/demo-app/);

    // Pulled by digest through Pier One, with progress in the log.
    expect(gate.seen('manifest', (r) => r.reference === digest).length).toBeGreaterThan(0);
    expect(gate.seen('manifest', (r) => r.reference === '1.0')).toHaveLength(1);
    const progress = boot.logs().filter((l) => String(l.msg).startsWith('pulling:'));
    expect(progress.length).toBeGreaterThan(0);
    expect(progress[progress.length - 1]).toMatchObject({ layers: 1, layersDone: 1 });
    expect(boot.logs().find((l) => l.msg === 'image pulled')).toMatchObject({ layers: 1 });

    // Plaintext secrets reach Docker and nothing else.
    for (const s of [KMS_PLAINTEXT, DB_PASSWORD, IDENTITY]) {
      expect(boot.logText()).not.toContain(s);
      expect(JSON.stringify(boot.records)).not.toContain(s);
      expect(JSON.stringify(plan)).not.toContain(s);
    }
    first = { id: info.Id, bootId: boot.ctx.facts.bootId, startedAt: info.State.StartedAt };
  });

  it('reboot: starts the same stopped container without a trust check, a pull or KMS', async () => {
    await docker.getContainer('taupageapp').stop({ t: 1 });
    gate.requests.length = 0;
    const { boot, error } = await run(full());
    expect(error).toBeUndefined();
    const info = (await inspectApp())!;
    expect(info.Id).toBe(first.id);
    expect(info.State.Running).toBe(true);
    expect(info.Config.Labels![LABELS.bootId]).toBe(first.bootId);
    expect(trustChecks()).toBe(0);
    expect(pulls()).toBe(0);
    expect(boot.decrypts).toBe(0);
    expect(boot.records).toEqual({ imageDigest: images['app:1.0']!.digest, container: 'reused' });
    expect((await httpGet(webPort, '/health')).status).toBe(200);
    first.startedAt = info.State.StartedAt;
  });

  it('reboot: restarts a container Docker started before the volumes were ready', async () => {
    const { error } = await run(full());
    expect(error).toBeUndefined();
    const info = (await inspectApp())!;
    expect(info.Id).toBe(first.id);
    expect(info.State.Running).toBe(true);
    expect(info.State.StartedAt).not.toBe(first.startedAt);
  });

  it('reboot: a reused container removed or replaced while the boot waits for its needs fails the step; nothing else is started', async () => {
    const NEVER = '0001-01-01T00:00:00Z';
    await docker.getContainer('taupageapp').stop({ t: 1 });
    const original = (await inspectApp())!;
    const lookAlike = async (labels: Record<string, string>) => {
      await removeApp();
      // The same name, image and labels as ours (or other labels): another container all the same.
      const c = await docker.createContainer({
        name: 'taupageapp',
        Image: original.Config.Image,
        Labels: labels,
        Cmd: ['/bin/busybox', 'sleep', '3600'],
        HostConfig: { NetworkMode: 'none' },
      });
      return c.id;
    };

    // Removed: no container is created in its place.
    const removed = await run(full(), { meanwhile: removeApp });
    expect(removed.error).toMatchObject({
      code: 'TPG_CONTAINER_FAILED',
      message: expect.stringMatching(/^taupageapp changed while the boot waited .*: it was removed; nothing was started$/),
    });
    expect(await inspectApp()).toBeUndefined();
    expect(removed.boot.records).toEqual({});

    // Replaced by a look-alike (another id, every label ours): not started, not adopted.
    await removeApp();
    expect((await run(full())).error).toBeUndefined();
    await docker.getContainer('taupageapp').stop({ t: 1 });
    const ours = (await inspectApp())!;
    let impostor = '';
    const replaced = await run(full(), {
      meanwhile: async () => {
        impostor = await lookAlike(ours.Config.Labels!);
      },
    });
    expect(replaced.error).toMatchObject({
      code: 'TPG_CONTAINER_FAILED',
      message: expect.stringMatching(
        new RegExp(`^taupageapp changed while the boot waited .*: it was replaced \\(${impostor.slice(0, 12)}, not ${ours.Id.slice(0, 12)}\\)`),
      ),
    });
    const after = (await inspectApp())!;
    expect(after.Id).toBe(impostor);
    expect(after.State).toMatchObject({ Running: false, StartedAt: NEVER });
    expect(replaced.boot.records).toEqual({});

    // Replaced by one with other labels (another plan): refused the same way.
    await removeApp();
    expect((await run(full())).error).toBeUndefined();
    await docker.getContainer('taupageapp').stop({ t: 1 });
    const ours2 = (await inspectApp())!;
    const other = await run(full(), { meanwhile: async () => void (await lookAlike({ ...ours2.Config.Labels, [LABELS.configHash]: 'another-plan' })) });
    expect(other.error).toMatchObject({ code: 'TPG_CONTAINER_FAILED', message: expect.stringMatching(/^taupageapp changed while the boot waited/) });
    expect((await inspectApp())!.State).toMatchObject({ Running: false, StartedAt: NEVER });

    // Replaced right after the step's last look, before its start: the start is by id, so it fails and the look-alike stays stopped.
    await removeApp();
    expect((await run(full())).error).toBeUndefined();
    await docker.getContainer('taupageapp').stop({ t: 1 });
    const ours3 = (await inspectApp())!;
    const engine = new DockerodeRuntime({ host: process.env.DOCKER_HOST!, requestTimeoutMs: 10_000 });
    let looks = 0;
    const racing: ContainerRuntime = {
      ...pick(engine),
      inspectApp: async (name, signal) => {
        const found = await engine.inspectApp(name, signal);
        if (++looks === 2) await lookAlike(ours3.Config.Labels!);
        return found;
      },
    };
    const late = await run(full(), { ports: { containerRuntime: racing } });
    expect(looks).toBe(2);
    expect(late.error).toMatchObject({ code: 'TPG_CONTAINER_FAILED', message: expect.stringContaining(`start ${ours3.Id}`) });
    expect((await inspectApp())!.State).toMatchObject({ Running: false, StartedAt: NEVER });

    // Left alone, the next boot makes it right again.
    await removeApp();
    expect((await run(full())).error).toBeUndefined();
    first.id = (await inspectApp())!.Id;
  });

  it('a new container is started by the id it was created with: a look-alike put under its name right after is never started', async () => {
    await removeApp();
    const engine = new DockerodeRuntime({ host: process.env.DOCKER_HOST!, requestTimeoutMs: 10_000 });
    let impostor = '';
    const racing: ContainerRuntime = {
      ...pick(engine),
      createApp: async (spec, signal) => {
        const id = await engine.createApp(spec, signal);
        // Ours moves aside; another container takes the name before the start.
        await docker.getContainer(id).rename({ name: 'taupageapp-ours' });
        const c = await docker.createContainer({
          name: 'taupageapp',
          Image: spec.image,
          Labels: spec.labels,
          Cmd: ['/bin/busybox', 'sleep', '3600'],
          HostConfig: { NetworkMode: 'none' },
        });
        impostor = c.id;
        return id;
      },
    };
    try {
      const r = await run(full(), { ports: { containerRuntime: racing } });
      expect(r.error).toBeUndefined();
      expect((await docker.getContainer('taupageapp-ours').inspect()).State.Running).toBe(true);
      expect((await docker.getContainer(impostor).inspect()).State).toMatchObject({ Running: false, StartedAt: '0001-01-01T00:00:00Z' });
    } finally {
      await docker
        .getContainer('taupageapp-ours')
        .remove({ force: true })
        .catch(() => undefined);
      await removeApp();
    }
    expect((await run(full())).error).toBeUndefined();
    first.id = (await inspectApp())!.Id;
  });

  it('changed user data: replaces the container after checking and pulling the new image', async () => {
    gate.requests.length = 0;
    const text = full().replace(`${org}/app:1.0`, `${org}/app:2.0`).replace('PLAIN: hello', 'PLAIN: changed');
    const { boot, plan, error } = await run(text);
    expect(error).toBeUndefined();
    const info = (await inspectApp())!;
    expect(info.Id).not.toBe(first.id);
    expect(info.Config.Image).toBe(digestRef(plan.image, images['app:2.0']!.digest));
    expect(info.Config.Env).toContain('PLAIN=changed');
    expect(boot.records).toEqual({ imageDigest: images['app:2.0']!.digest, container: 'replaced' });
    expect(trustChecks()).toBe(1);
    expect(pulls()).toBeGreaterThan(0);
    first.id = info.Id;
  });

  it('an unapproved image is refused with the reason, and the running container is left alone', async () => {
    gate.requests.length = 0;
    const { error } = await run(full().replace(`${org}/app:1.0`, `${org}/unapproved:1.0`));
    expect(error?.code).toBe('TPG_IMAGE_UNTRUSTED');
    expect(error?.message).toContain('no production-ready incident recorded');
    expect(pulls()).toBe(0);
    const info = (await inspectApp())!;
    expect(info.Id).toBe(first.id);
    expect(info.State.Running).toBe(true);
  });

  it('refuses unapproved, missing and wrongly pinned images, and undecryptable values, without creating a container', async () => {
    await removeApp();
    gate.requests.length = 0;
    const port = await freePort();
    const base = { ports: { [port]: DEMO_PORT } };
    const unapproved = await run(userData({ ...base, source: `${gate.address}/${org}/unapproved:1.0` }));
    expect(unapproved.error?.code).toBe('TPG_IMAGE_UNTRUSTED');
    // The approved image, but the agent config does not list this registry as Pier One: refused, never asked.
    const asked = gate.requests.length;
    const notPierOne = await run(userData({ ...base, source: `${gate.address}/${org}/app:1.0` }), {
      agent: { pierone: { registries: ['pierone.example.org'] } },
    });
    expect(notPierOne.error?.code).toBe('TPG_IMAGE_UNTRUSTED');
    expect(notPierOne.error?.message).toContain('is not Pier One: only registries in pierone.registries (pierone.example.org) may approve');
    expect(gate.requests.length).toBe(asked);
    const missing = await run(userData({ ...base, source: `${gate.address}/${org}/app:3.0` }));
    expect(missing.error?.code).toBe('TPG_IMAGE_NOT_FOUND');
    const wrongPin = await run(userData({ ...base, source: `${gate.address}/${org}/app:1.0@${images['app:2.0']!.digest}` }));
    expect(wrongPin.error?.code).toBe('TPG_IMAGE_DIGEST_MISMATCH');
    expect(wrongPin.error?.message).toContain(images['app:1.0']!.digest);
    expect(pulls()).toBe(0);
    const undecryptable = await run(
      userData({ ...base, source: `${gate.address}/${org}/app:1.0`, environment: { TOKEN: `aws:kms:${Buffer.from('unknown').toString('base64')}` } }),
    );
    expect(undecryptable.error?.code).toBe('TPG_KMS_DECRYPT_FAILED');
    expect(await inspectApp()).toBeUndefined();
  });

  it('`latest` never gets as far as the registry: the user data is invalid', async () => {
    gate.requests.length = 0;
    const v = validateUserData(userData({ source: `${gate.address}/${org}/app:latest` }));
    expect(v.valid).toBe(false);
    expect(v.errors.map((e) => e.code)).toContain('TPG_UD_IMAGE_REF');
    expect(gate.requests).toHaveLength(0);
    expect(await inspectApp()).toBeUndefined();
  });

  it('runs an image whose pinned digest matches the approved one', async () => {
    const port = await freePort();
    const { error, boot } = await run(
      userData({ source: `${gate.address}/${org}/app:1.0@${images['app:1.0']!.digest}`, ports: { [port]: DEMO_PORT }, health_check_path: '/health' }),
    );
    expect(error).toBeUndefined();
    expect(boot.records.imageDigest).toBe(images['app:1.0']!.digest);
    expect((await inspectApp())?.State.Running).toBe(true);
  });

  it('a tag re-pointed between the trust check and the pull: the approved digest runs, never the new one', async () => {
    await removeApp();
    const racer = await buildDemoImage(docker, { reference: `${registry}/${org}/race:1.0` });
    gate.approve(`${org}/race@${racer.digest}`); // only this digest is approved
    let moved: DemoImage | undefined;
    gate.beforeTagAnswer = async (repository) => {
      if (repository !== `${org}/race` || moved) return;
      moved = await buildDemoImage(docker, { reference: `${registry}/${org}/race:1.0`, files: { 'index.html': 'NOT APPROVED\n' } });
    };
    gate.requests.length = 0;
    const port = await freePort();
    try {
      const { error, plan } = await run(userData({ source: `${gate.address}/${org}/race:1.0`, ports: { [port]: DEMO_PORT }, health_check_path: '/health' }));
      expect(error).toBeUndefined();
      expect(moved).toBeDefined();
      expect(await registryDigest(`${org}/race`, '1.0')).toBe(moved!.digest); // the tag really moved
      expect(moved!.digest).not.toBe(racer.digest);
      const info = (await inspectApp())!;
      expect(info.Config.Image).toBe(digestRef(plan.image, racer.digest));
      expect((await httpGet(port, '/')).body).not.toContain('NOT APPROVED');
      expect(gate.seen('manifest', (r) => r.reference === moved!.digest)).toHaveLength(0);
    } finally {
      gate.beforeTagAnswer = undefined;
    }
  });

  it('retries a registry that is down for more than its attempts (trust check and pull) until the deadline, then runs', async () => {
    await removeApp();
    const port = await freePort();
    // pierone.attempts and the engine's pull attempts are 5: within a boot's deadline they do not bound the retries.
    const fails = 6;
    try {
      Object.assign(gate.faults, { failFirst: fails, failWith: 503, when: (r: GateRequest) => r.kind === 'manifest' && r.reference === '1.0' });
      gate.requests.length = 0;
      const first = await run(userData({ source: `${gate.address}/${org}/app:1.0`, ports: { [port]: DEMO_PORT } }), { agent: { pierone: { attempts: 2 } } });
      expect(first.error).toBeUndefined();
      expect(gate.requests.filter((r) => r.outcome === 'failed')).toHaveLength(fails);
      const retried = first.boot
        .logs()
        .filter((l) => l.service === 'pierone' && /^registry \S+ failed \(.*HTTP 503.*\); retrying in \d+ ms$/.test(String(l.msg)));
      expect(retried).toHaveLength(fails);

      // A fresh image: the engine keeps manifests it has pulled before and would not ask again.
      await removeApp();
      const fresh = await buildDemoImage(docker, { reference: `${registry}/${org}/fresh:1.0` });
      gate.approve(`${org}/fresh:1.0`);
      Object.assign(gate.faults, { failFirst: fails, when: (r: GateRequest) => r.kind === 'manifest' && r.reference === fresh.digest });
      gate.requests.length = 0;
      const second = await run(userData({ source: `${gate.address}/${org}/fresh:1.0`, ports: { [port]: DEMO_PORT } }));
      expect(second.error).toBeUndefined();
      expect(gate.requests.filter((r) => r.outcome === 'failed')).toHaveLength(fails);
      expect(second.boot.records.imageDigest).toBe(fresh.digest);
      expect((await inspectApp())?.State.Running).toBe(true);
    } finally {
      Object.assign(gate.faults, { failFirst: 0, when: undefined });
    }
  });

  it('a registry down throughout fails the step by the boot deadline, with no container', async () => {
    await removeApp();
    Object.assign(gate.faults, { down: true, failWith: 'reset' });
    const started = Date.now();
    try {
      const { error } = await run(userData({ source: `${gate.address}/${org}/app:1.0` }), { deadlineMs: 3_000, agent: { pierone: { attempts: 20 } } });
      expect(error?.code).toBe('TPG_REGISTRY_UNAVAILABLE');
      expect(Date.now() - started).toBeLessThan(3_000 + 2_000);
      expect(await inspectApp()).toBeUndefined();
    } finally {
      Object.assign(gate.faults, { down: false, failWith: 503 });
    }
  });

  it('a pull that does not finish by docker.pull_timeout_seconds fails with TPG_PULL_TIMEOUT, with no container', async () => {
    await removeApp();
    const digest = images['app:2.0']!.digest;
    await forgetImage(digest);
    Object.assign(gate.faults, { delayMs: 30_000, when: (r: GateRequest) => r.kind === 'ping' });
    try {
      const { error } = await run(userData({ source: `${gate.address}/${org}/app:2.0` }), { agent: { docker: { pull_timeout_seconds: 1 } } });
      expect(error?.code).toBe('TPG_PULL_TIMEOUT');
      expect(await inspectApp()).toBeUndefined();
    } finally {
      Object.assign(gate.faults, { delayMs: 0, when: undefined });
    }
  });

  it('logs in to Pier One with the instance identity for the trust check and the pull; a wrong one is refused', async () => {
    await removeApp();
    await forgetImage(images['app:2.0']!.digest);
    gate.identity = IDENTITY;
    try {
      const wrong = await run(userData({ source: `${gate.address}/${org}/app:2.0` }), { identity: 'FORGED' });
      expect(wrong.error?.code).toBe('TPG_REGISTRY_AUTH');
      expect(await inspectApp()).toBeUndefined();
      gate.requests.length = 0;
      const ok = await run(userData({ source: `${gate.address}/${org}/app:2.0` }));
      expect(ok.error).toBeUndefined();
      const blobs = gate.seen('blob');
      expect(blobs.length).toBeGreaterThan(0);
      expect(blobs.every((b) => b.authorized)).toBe(true);
      expect(ok.boot.logText()).not.toContain(IDENTITY);
    } finally {
      gate.identity = undefined;
    }
  });

  it('a volume bind that is not mounted: refused before the container is created (the application would write to the root disk)', async () => {
    await removeApp();
    const r = await run(
      userDataOf({ source: `${gate.address}/${org}/app:1.0`, mounts: { '/data': { filesystem: 'tmpfs' }, '/orders': { partition: '/dev/xvdf' } } }),
    );
    expect(r.error).toMatchObject({
      code: 'TPG_CONTAINER_FAILED',
      message: `${root}/mounts/orders (/orders in the container) is not mounted; the container was not started`,
    });
    expect(await inspectApp()).toBeUndefined();
  });

  it('a syslog address the driver cannot reach fails the start clearly and leaves no container', async () => {
    await removeApp();
    const closed = await freePort();
    const { error } = await run(userData({ source: `${gate.address}/${org}/app:1.0` }), { agent: { docker: { syslog_address: `tcp://127.0.0.1:${closed}` } } });
    expect(error?.code).toBe('TPG_CONTAINER_FAILED');
    expect(error?.hint).toMatch(/syslog_address/);
    expect(await inspectApp()).toBeUndefined();
  });

  it('health never 200: TPG_HEALTH_TIMEOUT after the timeout, with the last status', async () => {
    await removeApp();
    const port = await freePort();
    const { error } = await run(
      userData({ source: `${gate.address}/${org}/app:1.0`, ports: { [port]: DEMO_PORT }, health_check_path: '/missing', health_check_timeout_seconds: 2 }),
      {
        tune: (p) => (p.health.intervalMs = 200),
      },
    );
    expect(error?.code).toBe('TPG_HEALTH_TIMEOUT');
    expect(error?.message).toContain(`HTTP 404 from http://127.0.0.1:${port}/missing`);
  });

  it("honours the image's Docker HEALTHCHECK: waits for healthy, fails on one that never passes", async () => {
    await removeApp();
    const port = await freePort();
    const ok = await run(userData({ source: `${gate.address}/${org}/healthy:1.0`, ports: { [port]: DEMO_PORT } }));
    expect(ok.error).toBeUndefined();
    expect((await inspectApp())?.State.Health?.Status).toBe('healthy');
    await removeApp();

    const sick = await run(
      userData({ source: `${gate.address}/${org}/sick:1.0`, ports: { [port]: DEMO_PORT }, health_check_path: '/health', health_check_timeout_seconds: 2 }),
      {
        tune: (p) => (p.health.intervalMs = 200),
      },
    );
    expect(sick.error?.code).toBe('TPG_HEALTH_TIMEOUT');
    expect(sick.error?.message).toMatch(/Docker HEALTHCHECK (starting|unhealthy)/);
  });
});
