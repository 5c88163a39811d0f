/*! The Docker adapter on its own, against the real engine: waiting for an exit (what the shutdown
 * step uses), cancelling, missing containers, and an engine that is not there. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { DockerodeRuntime } from '../../agent/src/adapters/dockerode-runtime.js';
import { AgentError } from '../../agent/src/lib/errors.js';
import { buildDemoImage, dockerFromEnv, type DemoImage } from '../fakes/demo-image.js';
import { registryFromEnv } from '../harness/services.js';
import { deadlineIn } from '../harness/deadline.js';

const name = `tpg-runtime-${randomBytes(3).toString('hex')}`;
let image: DemoImage;
let runtime: DockerodeRuntime;

beforeAll(async () => {
  image = await buildDemoImage(dockerFromEnv(), {
    reference: `${registryFromEnv()}/${name}/exit:1.0`,
    cmd: ['/bin/busybox', 'sh', '-c', 'read -t 1 x; exit 3'],
  });
  runtime = new DockerodeRuntime({ host: process.env.DOCKER_HOST!, requestTimeoutMs: 10_000, baseMs: 20, capMs: 100 });
});

afterAll(async () => {
  await runtime?.removeApp(name);
});

describe('DockerodeRuntime', () => {
  it("pulls by digest; waitForExit waits through restarts for the container's last exit code (also once it exited)", async () => {
    const ref = `${process.env.TAUPAGE_REGISTRY}/${name}/exit@${image.digest}`;
    const pulled = await runtime.pullImage(ref, { signal: deadlineIn(60_000).signal });
    expect(pulled.repoDigests).toContain(ref);
    await runtime.createApp({
      name,
      image: ref,
      env: [],
      binds: [],
      ports: [],
      capAdd: [],
      capDrop: [],
      networkMode: 'none',
      privileged: false,
      readOnlyRootfs: false,
      restartPolicy: { name: 'on-failure', maximumRetryCount: 1 },
      logConfig: { type: 'syslog', config: { 'syslog-address': 'udp://127.0.0.1:9' } },
      labels: {},
    });
    await runtime.startApp(name);
    await runtime.startApp(name); // starting a running container is fine
    expect(await runtime.waitForExit(name)).toBe(3);
    expect(await runtime.waitForExit(name)).toBe(3);
    expect(await runtime.inspectApp(name)).toMatchObject({ status: 'exited', restartCount: 1, exitCode: 3 });
  });

  it('waitForExit ends when its signal is aborted, and fails for a missing container', async () => {
    await runtime.startApp(name);
    const c = new AbortController();
    const waiting = runtime.waitForExit(name, c.signal);
    c.abort(new Error('boot over'));
    await expect(waiting).rejects.toThrow('boot over');
    await runtime.removeApp(name);
    await runtime.removeApp(name); // gone already: fine
    expect(await runtime.inspectApp(name)).toBeUndefined();
    await expect(runtime.waitForExit(name)).rejects.toMatchObject({ code: 'TPG_CONTAINER_FAILED' });
  });

  it('an engine that is not there is TPG_DOCKER_UNAVAILABLE after a few attempts', async () => {
    const none = new DockerodeRuntime({ host: 'unix:///nonexistent/docker.sock', requestTimeoutMs: 1_000, attempts: 3, baseMs: 10, capMs: 20 });
    const e = await none.inspectApp('x').catch((err: unknown) => err);
    expect(e).toBeInstanceOf(AgentError);
    expect((e as AgentError).code).toBe('TPG_DOCKER_UNAVAILABLE');
  });
});
