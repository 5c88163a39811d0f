/*! bench/boot: how much the agent adds to getting a team's application up, on a new instance.
 *
 * The user data is one a team would write: the image from Pier One, a published port and an HTTP
 * health check, Mint credentials from S3 (`mint_bucket`), an `aws:kms:` environment value and a
 * CloudFormation signal (`notify_cfn`). Every boot also runs the logging step, which writes the
 * rsyslog drop-in and restarts the instance's rsyslogd (one of its own root, as on an instance:
 * test/harness/rsyslog.ts `instanceRsyslog`), whose socket the container's log driver writes to.
 *
 * Agent: `taupage boot` on a fresh instance (a scratch root), from spawning the process until it
 * exits with the application healthy: the user data from the local metadata service, the Pier One
 * trust check through our gate, the pull by digest from the real registry, KMS, Mint's two files
 * from s3rver, the logging step (rsyslog restarted), create, start, the health check, the
 * CloudFormation signal, status and metrics written.
 *
 * Baseline, in the same process: the same pull, create, start and health check straight through the
 * Docker API, with no process start and nothing else. Exactly: `POST /images/create` of the same
 * `registry/repo@digest` through the gate, logged in with the instance identity signature (read once
 * before the rounds, untimed), its progress stream read to the end; `POST /containers/create` with
 * the body the agent's adapter sends for this user data (containerBody(appSpec(plan)): the same
 * name, environment (the KMS value as its plaintext), ports, binds, user, labels, restart policy and
 * syslog log driver config), its log driver pointing at the application-log socket of an instance
 * whose rsyslogd already runs with the agent's drop-in (made by one agent boot before the rounds);
 * `POST /containers/{id}/start`; then `GET /health` on the published port every 50 ms until 200.
 *
 * Each round starts from no container and no image (both removed, untimed) and runs both, the order
 * alternating between rounds, so drift in the machine's load hits both alike; one warm-up of each is
 * not counted. Printed per image size: medians with the spread (quartiles, range), the ratio of the
 * medians, the per-round ratio's median and quartiles and the ratio of each half of the rounds (how
 * far it can move between two runs), `node -e 0`, and the time line of both: milestones in ms from
 * the start (the agent's from its log and status, the baseline's as it goes) and the agent's steps.
 *
 * The agent is the single executable the image installs (agent/dist/taupage, `npm run build:sea`)
 * when it is built, else `node agent/dist/taupage.mjs`.
 *
 * Run: `npx tsx bench/boot.ts [rounds] [sizes]` as root (starts dockerd and docker-registry if
 * needed); rounds default 16 (at least 15 count), sizes default `0,200`: MB added to the ~1 MB demo
 * image as an incompressible file, for a pull the size of a real application's. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import type Docker from 'dockerode';
import setupServices from '../test/harness/services.js';
import { DEMO_PORT } from '../test/fakes/demo-image.js';
import { kmsValue } from '../test/fakes/kms.js';
import { lockApp } from '../test/harness/app-lock.js';
import { MINT_BUCKET, startWorld, removeApp, type Instance } from '../test/harness/world.js';
import { LOCAL_RSYSLOG } from '../test/harness/rsyslog.js';
import { freePort } from '../test/harness/net.js';
import { userData } from '../test/harness/user-data.js';
import { jsonLines } from '../test/harness/log-lines.js';
import { AGENT_BUNDLE as AGENT, AGENT_SEA as SEA } from '../test/harness/repo.js';
import { median, spread, timedNode, timedOutput } from './measure.js';
import { planContainer } from '../agent/src/steps/container/plan.js';
import { appSpec } from '../agent/src/steps/container/apply.js';
import { containerBody } from '../agent/src/adapters/dockerode-runtime.js';
import { configFromText } from '../agent/src/config/load.js';
import { validateUserData } from '../agent/src/user-data/validate.js';
import { digestRef } from '../agent/src/values/image-ref.js';
import { isKmsEncrypted } from '../agent/src/values/kms.js';
import type { BootStatus } from '../agent/src/engine/status.js';

const [agentCommand, agentArgs, agentName] = existsSync(SEA)
  ? [SEA, ['boot'], 'agent/dist/taupage boot']
  : [process.execPath, [AGENT, 'boot'], 'node agent/dist/taupage.mjs boot'];

const rounds = Number(process.argv[2] ?? 16);
const sizes = (process.argv[3] ?? '0,200').split(',').map(Number);
if (!(rounds >= 1) || sizes.some((s) => !(s >= 0))) throw new Error('usage: npx tsx bench/boot.ts [rounds] [sizes, e.g. 0,200]');

const APP = 'bench-app';
const DB_PASSWORD = 'bench-db-password';
const MINT = {
  user: JSON.stringify({ application_username: `${APP}-user`, application_password: 'bench-mint-password' }),
  client: JSON.stringify({ client_id: `${APP}-client`, client_secret: 'bench-mint-secret' }),
};

/** The agent's milestones, from its JSON log (message → name), in the order they happen. */
const AGENT_MILESTONES: Array<[string, RegExp]> = [
  ['boot started (process up, config read)', /^boot \S+ started$/],
  ['trust check done (Pier One approved)', /^image approved by Pier One$/],
  ['image pulled', /^image pulled$/],
  ['container created and started', /^taupageapp started$/],
  ['healthy', /^application is healthy$/],
];
const BASELINE_MILESTONES = ['image pulled', 'container created', 'container created and started', 'healthy'] as const;

async function drain(stream: NodeJS.ReadableStream): Promise<void> {
  for await (const chunk of stream) if (String(chunk).includes('"error"')) throw new Error(String(chunk));
}

const ms = (x: number) => `${x.toFixed(0)} ms`;
const fmtSpread = (xs: number[]) => {
  const s = spread(xs);
  return `median ${ms(s.median)} (p25–p75 ${s.p25.toFixed(0)}–${s.p75.toFixed(0)}, min–max ${s.min.toFixed(0)}–${s.max.toFixed(0)})`;
};

async function main(): Promise<void> {
  const teardown = await setupServices();
  const unlock = await lockApp();
  const world = await startWorld();
  const rsyslogRoots = new Set<string>();
  const stopRsyslogs = () => {
    for (const root of rsyslogRoots) execFileSync(LOCAL_RSYSLOG, ['stop', root]);
    rsyslogRoots.clear();
  };
  try {
    const { docker, gate } = world;
    await world.mint(APP, MINT);
    for (const extraMb of sizes) {
      const tag = `app:size-${extraMb}`;
      const image = await world.image(tag, extraMb > 0 ? { files: { filler: randomBytes(extraMb * 786_432).toString('base64') } } : {});
      const port = await freePort();
      const text = userData({
        application_id: APP,
        source: world.source(tag),
        ports: { [port]: DEMO_PORT },
        health_check_path: '/health',
        mint_bucket: MINT_BUCKET,
        notify_cfn: { stack: 'bench-stack', resource: 'AppServerGroup' },
        environment: { DB_PASSWORD: kmsValue(DB_PASSWORD), STAGE: 'bench' },
      });
      world.cloud.imds.setUserData(text);

      const reset = async () => {
        await removeApp(docker);
        stopRsyslogs();
        const found = await docker.listImages({ digests: true });
        for (const i of found) if ((i.RepoDigests ?? []).some((d) => d.endsWith(`@${image.digest}`))) await docker.getImage(i.Id).remove({ force: true });
      };

      const agentMarks: Record<string, number[]> = {};
      const mark = (into: Record<string, number[]>, name: string, at: number) => {
        into[name] ??= [];
        into[name].push(at);
      };
      const bootAgent = async (i: Instance): Promise<{ ms: number; status: BootStatus; marks: Array<[string, number]> }> => {
        const run = await timedOutput(agentCommand, agentArgs, instanceEnv(i.env));
        rsyslogRoots.add(i.root);
        const status = JSON.parse(await readFile(join(i.root, 'run/taupage/result.json'), 'utf8')) as BootStatus;
        if (status.outcome !== 'success') throw new Error(`boot failed: ${JSON.stringify(status)}`);
        const lines = jsonLines(run.stdout);
        const marks: Array<[string, number]> = [];
        for (const [name, re] of AGENT_MILESTONES) {
          const line = lines.find((l) => re.test(String(l.msg)));
          if (line) marks.push([name, Date.parse(String(line.time)) - run.spawnedAt]);
        }
        for (const s of status.steps) {
          if (s.startedAt === undefined || s.durationMs === undefined || s.outcome === 'skipped') continue;
          const start = Date.parse(s.startedAt) - run.spawnedAt;
          marks.push([`step ${s.id}: start`, start], [`step ${s.id}: end`, start + s.durationMs]);
        }
        marks.push(['exit (signal sent, status written)', run.ms]);
        return { ms: run.ms, status, marks };
      };
      const agent = async (): Promise<number> => {
        const r = await bootAgent(await world.instance());
        for (const [name, at] of r.marks) mark(agentMarks, name, at);
        return r.ms;
      };

      // The baseline's instance: one agent boot configured its rsyslogd (the drop-in with the
      // application's input socket), which keeps running for every baseline round.
      const baseInstance = await world.instance();
      await reset();
      await bootAgent(baseInstance);
      const baseRoot = baseInstance.root;
      const { config, paths } = configFromText(await readFile(join(baseRoot, 'etc/taupage/agent.yaml'), 'utf8'), 'bench', { TAUPAGE_ROOT: baseRoot });
      const settings = validateUserData(text).settings!;
      const plan = planContainer({ settings, config, paths });
      const reference = digestRef(plan.image, image.digest);
      const env = plan.env.map((e) => ({ name: e.name, value: isKmsEncrypted(e.value) ? DB_PASSWORD : String(e.value) }));
      const { name, ...body } = containerBody(appSpec(plan, reference, env, image.digest, 'bench'));
      const pkcs7 = await fetchIdentity(world.cloud.imds.url);
      const baseMarks: Record<string, number[]> = {};
      const baseline = async (): Promise<number> => {
        const t0 = performance.now();
        const at = (m: (typeof BASELINE_MILESTONES)[number]) => mark(baseMarks, m, performance.now() - t0);
        await drain(await docker.pull(reference, { authconfig: { username: 'instance-identity-document', password: pkcs7, serveraddress: gate.address } }));
        at('image pulled');
        const c = await docker.createContainer({ name, ...body } as Docker.ContainerCreateOptions);
        at('container created');
        await c.start();
        at('container created and started');
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
        at('healthy');
        return performance.now() - t0;
      };
      // Its rsyslogd stays up through the rounds (reset stops only the agents' instances').
      rsyslogRoots.delete(baseRoot);

      const nodeStart: number[] = [];
      const a: number[] = [];
      const b: number[] = [];
      // One warm-up of each, not counted (page cache, the engine's first pull of this image).
      await reset();
      await agent();
      await reset();
      await baseline();
      for (const k of Object.keys(agentMarks)) delete agentMarks[k];
      for (const k of Object.keys(baseMarks)) delete baseMarks[k];
      for (let i = 0; i < rounds; i++) {
        nodeStart.push(await timedNode(['-e', '0'], instanceEnv(process.env)));
        const order = i % 2 === 0 ? [agent, baseline] : [baseline, agent];
        for (const f of order) {
          await reset();
          (f === agent ? a : b).push(await f());
        }
      }
      await reset();
      execFileSync(LOCAL_RSYSLOG, ['stop', baseRoot]);

      const ma = median(a);
      const mb = median(b);
      const ratios = a.map((x, i) => x / b[i]!);
      const half = Math.floor(rounds / 2);
      const halfRatio = (from: number, to: number) => (median(a.slice(from, to)) / median(b.slice(from, to))).toFixed(3);
      const rs = spread(ratios);
      console.log(
        `bench/boot: image ~${1 + extraMb} MB (${image.digest.slice(0, 19)}…, 1 layer), ${rounds} rounds interleaved (order alternating), through the Pier One gate`,
      );
      console.log(`  ${agentName} (spawn to exit, app healthy): ${fmtSpread(a)}`);
      console.log(`  baseline (pull + create + start + health, Docker API in-process): ${fmtSpread(b)}`);
      console.log(
        `  ratio of the medians: ${(ma / mb).toFixed(3)}; per round: median ${rs.median.toFixed(3)} (p25–p75 ${rs.p25.toFixed(3)}–${rs.p75.toFixed(3)}); ` +
          `first half ${halfRatio(0, half)}, second half ${halfRatio(half, rounds)}; the agent adds ${ms(ma - mb)}`,
      );
      console.log(`  node -e 0 (a process start alone): median ${ms(median(nodeStart))}`);
      console.log('  time line, median ms from the start:                agent  baseline');
      const names = [AGENT_MILESTONES[0]![0], AGENT_MILESTONES[1]![0], ...BASELINE_MILESTONES];
      const line = (label: string, x: number[] | undefined, y: number[] | undefined) =>
        console.log(`    ${label.padEnd(48)} ${(x ? median(x).toFixed(0) : '').padStart(6)} ${(y ? median(y).toFixed(0) : '').padStart(9)}`);
      for (const n of names) line(n, agentMarks[n], baseMarks[n]);
      line('exit (signal sent, status written)', agentMarks['exit (signal sent, status written)'], undefined);
      console.log("  the agent's steps, median start–end in ms from the start:");
      const steps = [...new Set(Object.keys(agentMarks).flatMap((k) => (/^step (\S+): start$/.exec(k) ?? []).slice(1)))];
      for (const s of steps)
        console.log(
          `    ${s.padEnd(14)} ${median(agentMarks[`step ${s}: start`]!).toFixed(0).padStart(6)} – ${median(agentMarks[`step ${s}: end`]!).toFixed(0).padStart(6)}`,
        );
    }
  } finally {
    stopRsyslogs();
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
