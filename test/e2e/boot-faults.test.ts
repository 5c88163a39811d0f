/*! The built agent's boots that the fault campaign and the fuzzer broke (issue 16), as a child
 * process against the local cloud: SIGTERM and SIGKILL mid-boot, keys named like object
 * properties, a secret in a YAML syntax error, gzipped user data, output through a pipe that is
 * not read at once, an invalid agent config, CloudFormation throttling past its attempts. */
import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdir, writeFile, readFile, stat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { isolatedAwsEnv } from '../fakes/local-cloud.js';
import { ensureBuilt, runAgent, startAgent } from '../harness/agent.js';
import { AGENT_BUNDLE, REPO } from '../harness/repo.js';
import { useLocalCloud } from '../harness/lifecycle.js';
import { scratchRoot } from '../harness/scratch.js';
import { waitFor } from '../harness/wait.js';
import { instanceRsyslog } from '../harness/rsyslog.js';
import { VALID_USER_DATA } from '../harness/user-data.js';
import type { BootStatus } from '../../agent/src/engine/status.js';

const cloud = useLocalCloud({ cloudformation: { stacks: { 'my-stack': ['AppServerGroup'] } } });

const BASE_YAML = 'metadata:\n  timeout_ms: 1000\n  deadline_seconds: 2\n  retry_base_ms: 20\naws:\n  retry_base_ms: 5\n';
/**
 * A boot that stays in its container step until the deadline: Pier One and the Docker engine are
 * addresses where nothing answers (loopback only), retried until the boot deadline.
 */
const BUSY_YAML = `${BASE_YAML}boot:\n  deadline_seconds: 120\npierone:\n  registries: ["127.0.0.1:9"]\ndocker:\n  host: unix:///nonexistent/taupage-test/docker.sock\n`;
const BUSY_USER_DATA = VALID_USER_DATA.replace('source: pierone.stups.zalan.do/team/my-app:1.0', 'source: 127.0.0.1:9/team/my-app:1.0');

async function instance(agentYaml = BASE_YAML, bootId?: string) {
  const root = await scratchRoot(bootId ? { bootId } : {});
  await mkdir(join(root, 'etc/taupage'), { recursive: true });
  // The logging step restarts an rsyslogd of this root (the container step waits for it).
  const { restart_rsyslog } = instanceRsyslog(root);
  await writeFile(join(root, 'etc/taupage/agent.yaml'), `${agentYaml}logging:\n  restart_rsyslog: ${JSON.stringify(restart_rsyslog)}\n`);
  const env = isolatedAwsEnv({ ...cloud.env({ withKeys: false }), TAUPAGE_ROOT: root });
  return {
    root,
    env,
    taupage: (...args: string[]) => runAgent(args, { env }),
    status: async () => JSON.parse(await readFile(join(root, 'run/taupage/status.json'), 'utf8')) as BootStatus,
  };
}

/** Every file under `dir`, as text. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(await readFile(join(e.parentPath, e.name), 'utf8').catch(() => ''));
  }
  return out;
}

/**
 * Run the built agent with stdout and stderr into pipes (FIFOs, as the journal or `| jq` are) that
 * nobody reads for the first `holdMs`: a process that exits with output still queued for a full
 * pipe loses it. (Node's own child pipes are sockets with far larger buffers, so a shell pipeline.)
 */
async function runUnread(args: string[], env: NodeJS.ProcessEnv, holdMs = 1_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  ensureBuilt();
  const dir = await scratchRoot();
  const q = (a: string) => `'${a.replaceAll("'", "'\\''")}'`;
  const script = `{ ${[process.execPath, AGENT_BUNDLE, ...args].map(q).join(' ')} 2>&3 | { sleep ${holdMs / 1000}; cat > ${q(join(dir, 'out'))}; }; echo "\${PIPESTATUS[0]}" > ${q(join(dir, 'code'))}; } 3>&1 | { sleep ${holdMs / 1000}; cat > ${q(join(dir, 'err'))}; }`;
  await new Promise<void>((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, cwd: REPO, stdio: 'ignore' });
    child.once('error', reject);
    child.once('close', () => resolve());
  });
  const read = (f: string) => readFile(join(dir, f), 'utf8');
  return { code: Number((await read('code')).trim()), stdout: await read('out'), stderr: await read('err') };
}

/** `taupage boot` started on BUSY_USER_DATA, once its container step runs (it would until the deadline). */
async function busyBoot(i: Awaited<ReturnType<typeof instance>>) {
  const boot = startAgent(['boot'], { env: i.env, timeoutMs: 120_000 });
  await waitFor(
    'the container step to run',
    async () => (await i.status().catch(() => undefined))?.steps.find((s) => s.id === 'container')?.outcome === 'running',
    60_000,
  );
  return boot;
}

describe('taupage boot under faults (built agent, local cloud)', () => {
  it('SIGTERM mid-boot: exit 143, TPG_BOOT_INTERRUPTED in the status, FAILURE signalled, lock released; the next boot runs again', async () => {
    cloud.imds.setUserData(BUSY_USER_DATA);
    const i = await instance(BUSY_YAML, 'sigterm-e2e-boot');
    const boot = await busyBoot(i);
    boot.child.kill('SIGTERM');
    expect(await boot.exit).toBe(143);
    const status = await i.status();
    expect(status).toMatchObject({
      state: 'ended',
      outcome: 'failed',
      errorCode: 'TPG_BOOT_INTERRUPTED',
      facts: { interrupted: true, signal: 'FAILURE', signalSent: true },
    });
    expect(status.message).toMatch(/interrupted by SIGTERM/);
    // Long before the boot deadline (120 s): the signal went out right after SIGTERM.
    expect(status.durationMs).toBeLessThan(60_000);
    expect(status.steps.find((s) => s.id === 'container')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_BOOT_INTERRUPTED' });
    expect(cloud.cloudformation.signals).toMatchObject([{ status: 'FAILURE', uniqueId: 'i-0123456789abcdef0' }]);
    expect(boot.output()).toMatch(/taupage boot: boot .* failed after .*TPG_BOOT_INTERRUPTED; CloudFormation signalled FAILURE/);
    await expect(stat(join(i.root, 'run/taupage/boot.lock'))).rejects.toThrow(/ENOENT/);
    expect((await i.taupage('status')).stdout).toMatch(/state: failed .*TPG_BOOT_INTERRUPTED/);

    // The same boot again (systemd starting the unit after the stop): it runs, not "already ran".
    cloud.imds.setUserData(VALID_USER_DATA.replace('runtime: Docker', 'runtime: Docker\nports: {99999: 80}'));
    const again = await i.taupage('boot');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/TPG_USERDATA_INVALID; CloudFormation signalled FAILURE/);
  });

  it('a boot process that died (SIGKILL) does not make the next boot claim it already ran', async () => {
    cloud.imds.setUserData(BUSY_USER_DATA);
    const i = await instance(BUSY_YAML, 'sigkill-e2e-boot');
    const boot = await busyBoot(i);
    boot.child.kill('SIGKILL');
    await boot.exit;
    expect((await i.taupage('status')).stdout).toMatch(/ended without finishing/);
    cloud.imds.setUserData(VALID_USER_DATA.replace('runtime: Docker', 'runtime: Docker\nports: {99999: 80}'));
    const again = await i.taupage('boot');
    expect(again.code).toBe(1);
    expect(again.stdout).toMatch(/ended without finishing \(killed\?\); running the boot again/);
    // And once that boot finished, a third one has nothing to do.
    const third = await i.taupage('boot');
    expect(third.code).toBe(0);
    expect(third.stderr).toMatch(/already ran in this boot/);
  });

  it('a key named constructor in notify_cfn: exit 1 with TPG_USERDATA_INVALID and FAILURE signalled (was exit 70, no signal)', async () => {
    cloud.imds.setUserData(`${VALID_USER_DATA}  constructor: x\nenvironment:\n  __proto__: v\n`);
    const i = await instance();
    const boot = await i.taupage('boot');
    expect(boot.code).toBe(1);
    expect(boot.stderr).toMatch(/notify_cfn\.constructor: unknown key.*TPG_USERDATA_INVALID; CloudFormation signalled FAILURE/);
    expect(cloud.cloudformation.signals).toMatchObject([{ status: 'FAILURE' }]);
  });

  it('a mis-indented password: a syntax error that prints no secret anywhere, and still signals FAILURE (the stack is readable)', async () => {
    cloud.imds.setUserData(`${VALID_USER_DATA}environment:\n  DB_PASSWORD: >-\n hunter2secret\n  OTHER: x\n`);
    const i = await instance();
    const boot = await i.taupage('boot');
    expect(boot.code).toBe(1);
    expect(boot.stderr).toMatch(/TPG_UD_YAML_SYNTAX.*TPG_USERDATA_INVALID; CloudFormation signalled FAILURE/);
    expect(cloud.cloudformation.signals).toMatchObject([{ status: 'FAILURE' }]);
    const status = await i.taupage('status', '--json');
    for (const text of [boot.stdout, boot.stderr, status.stdout, ...(await filesUnder(join(i.root, 'run')))]) expect(text).not.toContain('hunter2secret');
  });

  it('gzipped user data of 1 KiB that unpacks to more than 16 KiB is read (EC2 stores the gzip)', async () => {
    const big = `${VALID_USER_DATA}${'# a long comment line, as teams paste licence headers and certificates here\n'.repeat(300)}`;
    const zipped = gzipSync(big);
    expect(zipped.length).toBeLessThan(2_048);
    cloud.imds.setUserData(zipped);
    const i = await instance(BUSY_YAML.replace('deadline_seconds: 120', 'deadline_seconds: 4'));
    await i.taupage('boot');
    expect((await i.status()).steps.find((s) => s.id === 'user-data')).toMatchObject({ outcome: 'success' });
    expect(await readFile(join(i.root, 'meta/taupage.yaml'), 'utf8')).toBe(big);
  });

  it("the boot's last log lines reach a pipe nobody reads at once, whatever their size", async () => {
    // 100 errors and 100 warnings (the caps), each logged with its long key: well over the 64 KiB
    // a pipe holds (gzipped, the document is still under EC2's 16 KiB).
    const long = 'a_rather_long_key_name_'.repeat(20);
    const errors = Array.from({ length: 120 }, (_, n) => `  ${9000 + n}: not-a-port`).join('\n');
    const warnings = Array.from({ length: 120 }, (_, n) => `${long}${n}: x`).join('\n');
    cloud.imds.setUserData(gzipSync(`${VALID_USER_DATA}ports:\n${errors}\n${warnings}\n`));
    const i = await instance();
    const boot = await runUnread(['boot'], i.env);
    expect(boot.code).toBe(1);
    expect(boot.stdout.length).toBeGreaterThan(64 * 1024);
    const lines = boot.stdout.trimEnd().split('\n');
    for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ outcome: 'failed', errorCode: 'TPG_USERDATA_INVALID' });
    expect(boot.stderr).toMatch(/and \d+ more errors/);
  });

  it('validate --annotate of a document that unpacks to 180 KiB arrives whole through a pipe', async () => {
    const dir = await scratchRoot();
    const text = `${VALID_USER_DATA}${'# the same comment line of a very long annotated document\n'.repeat(3_000)}# the last comment line\nports: {1: x}\n`;
    const zipped = gzipSync(text);
    expect(zipped.length).toBeLessThan(16 * 1024);
    await writeFile(join(dir, 'big.yaml.gz'), zipped);
    const r = await runUnread(['validate', '--annotate', join(dir, 'big.yaml.gz')], {});
    expect(r.code).toBe(1);
    expect(r.stdout.length).toBeGreaterThan(text.length);
    expect(r.stdout).toContain('# the last comment line\nports: {1: x}\n');
    expect(r.stdout).toMatch(/# Errors: -+\n# E1: \(ports\[?/);
  });

  it('an invalid agent config: exit 4 and a status record that says so', async () => {
    const i = await instance('metadata:\n  timeout_ms: nope\n');
    const boot = await i.taupage('boot');
    expect(boot.code).toBe(4);
    expect(boot.stderr).toMatch(/TPG_CONFIG_INVALID/);
    expect(await i.status()).toMatchObject({ state: 'ended', outcome: 'failed', errorCode: 'TPG_CONFIG_INVALID' });
    const status = await i.taupage('status');
    expect(status.code).toBe(1);
    expect(status.stdout).toMatch(/state: failed .*TPG_CONFIG_INVALID/);
  });

  it('CloudFormation throttling eight times in a row (more than aws.max_attempts): the signal still goes out', async () => {
    cloud.imds.setUserData(VALID_USER_DATA.replace('runtime: Docker', 'runtime: Docker\nports: {99999: 80}'));
    cloud.cloudformation.faults.throttleNext(8);
    const i = await instance(`${BASE_YAML.replace('retry_base_ms: 5', 'retry_base_ms: 5\n  max_attempts: 3')}boot:\n  deadline_seconds: 60\n`);
    const boot = await i.taupage('boot');
    expect(boot.code).toBe(1);
    expect(boot.stderr).toMatch(/CloudFormation signalled FAILURE/);
    expect(cloud.cloudformation.signals).toMatchObject([{ status: 'FAILURE' }]);
  });
});
