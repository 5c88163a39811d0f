/*! bench/boot: how much the agent adds to getting the application up.
 *
 * Agent: from the container step's start to a healthy app (trust check, pull by digest, create,
 * start, health poll), through Pier One (our gate) and the real registry and engine.
 * Baseline, in the same run: the same pull + create + start + health poll done directly through
 * the Docker API, no trust check, a fixed 50 ms poll. Each round starts from a removed container
 * and a removed image; agent and baseline alternate which goes first. Prints both medians and the
 * ratio (target: agent <= 1.10 x baseline).
 *
 * Run: `npx tsx bench/boot.ts [rounds]` as root (starts dockerd and docker-registry if needed).
 * For now it drives the step's apply; once `taupage boot` exists it will drive that instead. */
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import YAML from 'yaml';
import type Docker from 'dockerode';
import setupServices from '../test/setup/services.js';
import { startPierOneGate } from '../test/fakes/pierone.js';
import { buildDemoImage, dockerFromEnv, DEMO_PORT } from '../test/fakes/demo-image.js';
import { testBoot } from '../test/helpers/boot-context.js';
import { lockApp } from '../test/helpers/app-lock.js';
import { applyContainer } from '../agent/src/steps/container/apply.js';
import { planContainer } from '../agent/src/steps/container/plan.js';
import { containerBody } from '../agent/src/adapters/dockerode-runtime.js';
import { appSpec } from '../agent/src/steps/container/apply.js';
import { digestRef } from '../agent/src/user-data/image-ref.js';

const rounds = Number(process.argv[2] ?? 7);

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function drain(stream: NodeJS.ReadableStream): Promise<void> {
  for await (const chunk of stream) if (String(chunk).includes('"error"')) throw new Error(String(chunk));
}

async function main(): Promise<void> {
  const teardown = await setupServices();
  const unlock = await lockApp();
  const docker = dockerFromEnv();
  const registry = process.env.TAUPAGE_REGISTRY!;
  const root = await mkdtemp(join(tmpdir(), 'taupage-bench-'));
  await mkdir(join(root, 'meta'), { recursive: true });
  const gate = await startPierOneGate({ registry });
  try {
    const org = `bench${randomBytes(3).toString('hex')}`;
    const image = await buildDemoImage(docker, { reference: `${registry}/${org}/app:1.0` });
    gate.approve(`${org}/app:1.0`);
    const port = await freePort();
    const text =
      '#taupage-ami-config\n' +
      YAML.stringify({ application_id: 'bench-app', application_version: '1.0', runtime: 'Docker', source: `${gate.address}/${org}/app:1.0`, ports: { [port]: DEMO_PORT }, health_check_path: '/health', environment: { A: 'b' } });
    const config = { root, docker: { host: process.env.DOCKER_HOST, syslog_address: 'udp://127.0.0.1:9' }, pierone: { registries: [gate.address] } };
    const reference = `${gate.address}/${org}/app@${image.digest}`;

    const reset = async () => {
      await docker.getContainer('taupageapp').remove({ force: true }).catch(() => undefined);
      const found = await docker.listImages({ digests: true });
      for (const i of found) if ((i.RepoDigests ?? []).some((d) => d.endsWith(`@${image.digest}`))) await docker.getImage(i.Id).remove({ force: true });
    };

    const agent = async (): Promise<number> => {
      const boot = testBoot({ userData: text, config, identity: 'bench-identity' });
      const plan = planContainer({ settings: boot.settings, config: boot.ctx.config, paths: boot.ctx.paths });
      const t0 = performance.now();
      await applyContainer(plan, boot.ctx);
      return performance.now() - t0;
    };

    const baseline = async (): Promise<number> => {
      const boot = testBoot({ userData: text, config, identity: 'bench-identity' });
      const plan = planContainer({ settings: boot.settings, config: boot.ctx.config, paths: boot.ctx.paths });
      const { name, ...body } = containerBody(appSpec(plan, digestRef(plan.image, image.digest), plan.env.map((e) => ({ name: e.name, value: String(e.value) })), image.digest, 'bench'));
      const t0 = performance.now();
      await drain(await docker.pull(reference, { authconfig: { username: 'instance-identity-document', password: 'bench-identity', serveraddress: gate.address } }));
      const c = await docker.createContainer({ name, ...body } as Docker.ContainerCreateOptions);
      await c.start();
      for (;;) {
        const ok = await request(`http://127.0.0.1:${port}/health`)
          .then(async (r) => {
            await r.body.dump();
            return r.statusCode === 200;
          })
          .catch(() => false);
        if (ok) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      return performance.now() - t0;
    };

    const a: number[] = [];
    const b: number[] = [];
    // one warm-up of each, not counted
    await reset();
    await agent();
    await reset();
    await baseline();
    for (let i = 0; i < rounds; i++) {
      const order = i % 2 === 0 ? [agent, baseline] : [baseline, agent];
      for (const f of order) {
        await reset();
        (f === agent ? a : b).push(await f());
      }
    }
    await reset();
    const ma = median(a);
    const mb = median(b);
    const fmt = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(' ');
    console.log(`bench/boot: ${rounds} rounds, image ${image.digest.slice(0, 19)}…`);
    console.log(`  agent    (trust + pull + create + start + health): median ${ma.toFixed(0)} ms  [${fmt(a)}]`);
    console.log(`  baseline (pull + create + start + health, Docker API): median ${mb.toFixed(0)} ms  [${fmt(b)}]`);
    console.log(`  ratio agent/baseline: ${(ma / mb).toFixed(3)} (target <= 1.10)`);
  } finally {
    await gate.close();
    await rm(root, { recursive: true, force: true });
    await unlock();
    await teardown?.();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
