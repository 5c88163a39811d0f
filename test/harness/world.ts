/*! Whole instance boots of the built agent (`node agent/dist/taupage.mjs boot`) against
 * everything that runs here: the local cloud (fake IMDS, KMS, CloudFormation), the real Docker
 * engine and registry behind our Pier One gate, and a real S3 server (s3rver) holding Mint's
 * files. For the full-boot e2e tests and bench/boot.
 *
 * `startWorld()` starts the shared parts once per file; `world.instance()` makes a scratch
 * instance: a TAUPAGE_ROOT with a boot id and agent.yaml, and the environment the agent runs with
 * (no AWS keys: the SDK takes the instance role from the fake IMDS, and s3rver knows that role's
 * key). The engine and registry come from test/harness/services.ts (DOCKER_HOST, TAUPAGE_REGISTRY). */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { randomBytes } from 'node:crypto';
import YAML from 'yaml';
import type Docker from 'dockerode';
import { startLocalCloud, isolatedAwsEnv, type LocalCloud } from '../fakes/local-cloud.js';
import { startPierOneGate, type PierOneGate } from '../fakes/pierone.js';
import { buildDemoImage, dockerFromEnv, type DemoImage, type DemoImageOptions } from '../fakes/demo-image.js';
import { startS3, type LocalS3 } from './s3rver.js';
import { removeScratchRoots, scratchRoot, setBootId } from './scratch.js';
import { ensureBuilt, runAgent, type AgentRun } from './agent.js';
import { instanceRsyslog, stopInstanceRsyslogs } from './rsyslog.js';
import { udpSink } from './net.js';
import { registryFromEnv } from './services.js';
import type { BootStatus } from '../../agent/src/engine/status.js';
import { CONTAINER_NAME } from '../../agent/src/steps/container/plan.js';

export const MINT_BUCKET = 'exampleorg-stups-mint-123456789012-eu-central-1';

export interface World {
  cloud: LocalCloud;
  gate: PierOneGate;
  s3: LocalS3;
  docker: Docker;
  /** The real registry behind the gate (host:port); images are pushed here. */
  registry: string;
  /** A namespace of this run's own, so runs never share a repository. */
  org: string;
  /** A UDP syslog sink on loopback, for containers made outside the agent (benchmarks). */
  syslogLines: string[];
  syslogAddress: string;
  /** Build `org/<nameTag>` (e.g. "app:1.0"), push it and, unless told otherwise, approve it. */
  image(nameTag: string, options?: Partial<DemoImageOptions> & { approve?: boolean }): Promise<DemoImage>;
  /** `source` for user data: the image through the gate. */
  source(nameTag: string): string;
  /** Put Mint's user.json and client.json for an application into the bucket. */
  mint(applicationId: string, files: { user: string; client: string }): Promise<void>;
  /** A scratch instance with its own rsyslogd (started by the boot's logging step) writing its
   * var/log: application.log has the container's lines. */
  instance(options?: { agent?: Record<string, unknown> }): Promise<Instance>;
  close(): Promise<void>;
}

export interface Instance {
  root: string;
  env: NodeJS.ProcessEnv;
  taupage(...args: string[]): Promise<AgentRun>;
  /** A reboot: a new kernel boot id. /run is kept, so the lock of the previous boot is there. */
  reboot(bootId?: string): Promise<void>;
  status(): Promise<BootStatus>;
}

/** Agent settings for test instances: short timeouts and retries, the gate as Pier One. */
export function agentSettings(world: Pick<World, 'gate'>, over: Record<string, Record<string, unknown>> = {}): Record<string, unknown> {
  const base: Record<string, Record<string, unknown>> = {
    metadata: { timeout_ms: 1_000, deadline_seconds: 5, retry_base_ms: 20 },
    aws: { s3_force_path_style: true, retry_base_ms: 5, request_timeout_ms: 5_000 },
    boot: { deadline_seconds: 60 },
    pierone: { registries: [world.gate.address], attempts: 4, request_timeout_ms: 3_000 },
  };
  for (const [k, v] of Object.entries(over)) base[k] = { ...base[k], ...v };
  return base;
}

export async function startWorld(): Promise<World> {
  const registry = registryFromEnv();
  ensureBuilt();
  const docker = dockerFromEnv();
  const cloud = await startLocalCloud();
  const s3 = await startS3([MINT_BUCKET], { accessKeyIds: [cloud.imds.state.role!.credentials.AccessKeyId] });
  const gate = await startPierOneGate({ registry });
  const syslog = await udpSink();
  const org = `boot${randomBytes(3).toString('hex')}`;
  const world: World = {
    cloud,
    gate,
    s3,
    docker,
    registry,
    org,
    syslogLines: syslog.lines,
    syslogAddress: syslog.address,
    async image(nameTag, { approve = true, ...options } = {}) {
      const img = await buildDemoImage(docker, { reference: `${registry}/${org}/${nameTag}`, ...options });
      if (approve) gate.approve(`${org}/${nameTag}`);
      return img;
    },
    source: (nameTag) => `${gate.address}/${org}/${nameTag}`,
    async mint(applicationId, files) {
      await s3.put(MINT_BUCKET, `${applicationId}/user.json`, files.user);
      await s3.put(MINT_BUCKET, `${applicationId}/client.json`, files.client);
    },
    async instance(options = {}) {
      const root = await scratchRoot({ purpose: 'instance' });
      await mkdir(join(root, 'etc/taupage'), { recursive: true });
      // rsyslog as the image has it (a Debian main configuration), restarted by the logging step
      // through scripts/lib/local-rsyslog instead of systemctl.
      const agent = options.agent ?? agentSettings(world);
      const logging = { ...instanceRsyslog(root), ...(agent.logging as object | undefined) };
      await writeFile(join(root, 'etc/taupage/agent.yaml'), YAML.stringify({ ...agent, logging }));
      const env = isolatedAwsEnv({ ...cloud.env({ withKeys: false }), AWS_ENDPOINT_URL_S3: s3.endpoint, TAUPAGE_ROOT: root });
      const run = (args: string[]) => runAgent(args, { env, timeoutMs: 120_000 });
      return {
        root,
        env,
        taupage: (...args) => run(args),
        reboot: (bootId = `reboot-${randomBytes(4).toString('hex')}`) => setBootId(root, bootId),
        status: async () => JSON.parse(await readFile(join(root, 'run/taupage/status.json'), 'utf8')) as BootStatus,
      };
    },
    async close() {
      await removeApp(docker);
      stopInstanceRsyslogs();
      syslog.close();
      await gate.close();
      await s3.dispose();
      await cloud.close();
      await removeScratchRoots();
    },
  };
  return world;
}

export async function inspectApp(docker: Docker): Promise<Docker.ContainerInspectInfo | undefined> {
  return docker
    .getContainer(CONTAINER_NAME)
    .inspect()
    .catch((e: { statusCode?: number }) => {
      if (e.statusCode === 404) return undefined;
      throw e;
    });
}

export async function removeApp(docker: Docker): Promise<void> {
  await docker
    .getContainer(CONTAINER_NAME)
    .remove({ force: true })
    .catch(() => undefined);
}

/** Run a command in the application container as its own user; output demultiplexed. */
export async function execInApp(docker: Docker, cmd: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const exec = await docker.getContainer(CONTAINER_NAME).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (b: Buffer) => (stdout += b));
  err.on('data', (b: Buffer) => (stderr += b));
  docker.modem.demuxStream(stream, out, err);
  await new Promise<void>((resolve, reject) => {
    stream.on('end', () => resolve());
    stream.on('close', () => resolve());
    stream.on('error', reject);
  });
  const { ExitCode } = await exec.inspect();
  return { code: ExitCode, stdout, stderr };
}

/** Requests the gate saw that only a pull makes (manifests by digest, blobs) and trust checks (manifests by tag). */
export function gateCounts(gate: PierOneGate): { pulls: number; trustChecks: number } {
  return {
    pulls: gate.seen('manifest', (r) => r.reference!.startsWith('sha256:')).length + gate.seen('blob').length,
    trustChecks: gate.seen('manifest', (r) => !r.reference!.startsWith('sha256:')).length,
  };
}
