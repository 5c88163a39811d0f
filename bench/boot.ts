/*! bench/boot: how much the agent adds to getting the application up.
 *
 * Agent: `taupage boot` from process start until it exits with the app
 * healthy (user data from the local IMDS, Pier One trust check through our gate, pull by digest
 * from the real registry, create, start, health poll, status and metrics written).
 * Baseline, in the same run: the same pull + create + start + health poll done directly through
 * the Docker API from this process (no process start, no trust check, a fixed 50 ms poll).
 * Each round starts from a removed container and a removed image; agent and baseline alternate
 * which goes first. Prints both medians and the ratio (target: agent <= 1.10 x baseline), plus
 * `node -e 0` (what any Node process costs here) and the agent's own in-process boot time.
 *
 * The agent is the single executable the image installs (agent/dist/taupage, `npm run build:sea`:
 * V8 code cache, no compile at start) when it is built, else `node agent/dist/taupage.mjs`.
 *
 * Run: `npx tsx bench/boot.ts [rounds] [sizes, e.g. 0,200]` as root (starts dockerd and docker-registry if
 * needed). The demo image is ~1 MB; a size adds an incompressible file so the image weighs that
 * much more, for a pull closer to a real application's. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import type Docker from 'dockerode';
import setupServices from '../test/harness/services.js';
import { DEMO_PORT } from '../test/fakes/demo-image.js';
import { lockApp } from '../test/harness/app-lock.js';
import { startWorld, removeApp } from '../test/harness/world.js';
import { freePort } from '../test/harness/net.js';
import { userData } from '../test/harness/user-data.js';
import { AGENT_BUNDLE as AGENT, AGENT_SEA as SEA } from '../test/harness/repo.js';

const [agentCommand, agentArgs, agentName] = existsSync(SEA)
  ? [SEA, ['boot'], 'agent/dist/taupage boot']
  : [process.execPath, [AGENT, 'boot'], 'node agent/dist/taupage.mjs boot'];
import { existsSync } from 'node:fs';
import { median, timedNode, timedCommand } from './measure.js';
import { planContainer } from '../agent/src/steps/container/plan.js';
import { appSpec } from '../agent/src/steps/container/apply.js';
import { containerBody } from '../agent/src/adapters/dockerode-runtime.js';
import { configFromText } from '../agent/src/config/load.js';
import { validateUserData } from '../agent/src/user-data/validate.js';
import { digestRef } from '../agent/src/values/image-ref.js';

const rounds = Number(process.argv[2] ?? 7);
// Image sizes (MB added to the ~1 MB demo image): the demo image, where fixed costs (starting a
// process, IMDS, the trust check) dominate, and one the size of a typical application image,
// which the target is about.
const sizes = (process.argv[3] ?? '0,200').split(',').map(Number);

async function drain(stream: NodeJS.ReadableStream): Promise<void> {
  for await (const chunk of stream) if (String(chunk).includes('"error"')) throw new Error(String(chunk));
}

async function main(): Promise<void> {
  const teardown = await setupServices();
  const unlock = await lockApp();
  const world = await startWorld();
  try {
    const { docker, gate } = world;
    for (const extraMb of sizes) {
      const tag = `app:size-${extraMb}`;
      const image = await world.image(tag, extraMb > 0 ? { files: { filler: randomBytes(extraMb * 786_432).toString('base64') } } : {});
      const port = await freePort();
      const text = userData({
        application_id: 'bench-app',
        source: world.source(tag),
        ports: { [port]: DEMO_PORT },
        health_check_path: '/health',
        environment: { A: 'b' },
      });
      world.cloud.imds.setUserData(text);

      const reset = async () => {
        await removeApp(docker);
        const found = await docker.listImages({ digests: true });
        for (const i of found) if ((i.RepoDigests ?? []).some((d) => d.endsWith(`@${image.digest}`))) await docker.getImage(i.Id).remove({ force: true });
      };

      const inAgent: number[] = [];
      const agent = async (): Promise<number> => {
        const i = await world.instance();
        const ms = await timedCommand(agentCommand, agentArgs, instanceEnv(i.env));
        const result = JSON.parse(await readFile(join(i.root, 'run/taupage/result.json'), 'utf8')) as { outcome: string; durationMs: number };
        if (result.outcome !== 'success') throw new Error(`boot failed: ${JSON.stringify(result)}`);
        inAgent.push(result.durationMs);
        return ms;
      };

      // The container the agent creates, created here straight through the Docker API.
      const settings = validateUserData(text).settings!;
      const { config, paths } = configFromText('{}', 'bench', { TAUPAGE_ROOT: (await world.instance()).root });
      const plan = planContainer({ settings, config: { ...config, docker: { ...config.docker, syslog_address: world.syslogAddress } }, paths });
      const reference = digestRef(plan.image, image.digest);
      const { name, ...body } = containerBody(
        appSpec(
          plan,
          reference,
          plan.env.map((e) => ({ name: e.name, value: String(e.value) })),
          image.digest,
          'bench',
        ),
      );
      const pkcs7 = await fetchIdentity(world.cloud.imds.url);
      const baseline = async (): Promise<number> => {
        const t0 = performance.now();
        await drain(await docker.pull(reference, { authconfig: { username: 'instance-identity-document', password: pkcs7, serveraddress: gate.address } }));
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

      const nodeStart: number[] = [];
      const a: number[] = [];
      const b: number[] = [];
      // One warm-up of each, not counted (page cache, first JIT of the bundle).
      await reset();
      await agent();
      await reset();
      await baseline();
      inAgent.length = 0;
      for (let i = 0; i < rounds; i++) {
        nodeStart.push(await timedNode(['-e', '0'], instanceEnv(process.env)));
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
      console.log(`bench/boot: ${rounds} rounds, image ${image.digest.slice(0, 19)}… (1 layer, ~${1 + extraMb} MB), through the Pier One gate`);
      console.log(`  ${agentName} (process start to exit, app healthy): median ${ma.toFixed(0)} ms  [${fmt(a)}]`);
      console.log(`  baseline (pull + create + start + health, Docker API in-process): median ${mb.toFixed(0)} ms  [${fmt(b)}]`);
      console.log(`  ratio taupage/baseline: ${(ma / mb).toFixed(3)} (target <= 1.10); the agent adds ${(ma - mb).toFixed(0)} ms`);
      console.log(
        `  of which node -e 0 (process start alone): median ${median(nodeStart).toFixed(0)} ms; the boot in-process (lock to result): median ${median(inAgent).toFixed(0)} ms`,
      );
    }
  } finally {
    await world.close();
    await unlock();
    await teardown?.();
  }
}

/** The environment the agent has on an instance (systemd's): this machine sets NODE_EXTRA_CA_CERTS
 * for every process, which costs each Node start ~40 ms of certificate parsing that an instance
 * never pays. */
function instanceEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_EXTRA_CA_CERTS: _ca, ...rest } = env;
  return rest;
}

/** The instance identity signature, as the agent reads it, for the baseline's Pier One login. */
async function fetchIdentity(imds: string): Promise<string> {
  const token = await (await fetch(`${imds}/latest/api/token`, { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' } })).text();
  return (await fetch(`${imds}/latest/dynamic/instance-identity/pkcs7`, { headers: { 'x-aws-ec2-metadata-token': token } })).text();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
