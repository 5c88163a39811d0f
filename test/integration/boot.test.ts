import { describe, it, expect, afterEach } from 'vitest';
import { readFile, stat, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { kmsValue } from '../fakes/kms.js';
import { bootOnce, stepOf, FAST_CONFIG, ENGINE_STEPS as bootGraph, CONTAINER_LEFT_OUT, containerStep } from '../harness/boot.js';
import { scratchRoot, setBootId, clearRun } from '../harness/scratch.js';
import { useLocalCloud } from '../harness/lifecycle.js';
import { VALID_USER_DATA } from '../harness/user-data.js';
import type { AnyStep } from '../../agent/src/steps/step.js';
import type { EndContext } from '../../agent/src/steps/context.js';
import type { ContainerRuntime } from '../../agent/src/ports/container-runtime.js';
import { AgentError } from '../../agent/src/lib/errors.js';
import { isKmsEncrypted } from '../../agent/src/values/kms.js';
import { runValidate } from '../../agent/src/cli/validate.js';

const cloud = useLocalCloud();
afterEach(() => cloud.imds.setUserData(VALID_USER_DATA));

const withStep = (extra: AnyStep, replace?: string): AnyStep[] => [...bootGraph.filter((s) => s.id !== replace), extra];
const failing = (id: string, code: AgentError['code'], message: string): AnyStep => ({
  ...bootGraph.find((s) => s.id === id)!,
  plan: () => ({}),
  apply: async () => Promise.reject(new AgentError(code, message)),
});

// The engine's boots: the container is planned, its effects left out (see test/harness/boot.ts);
// whole boots with the real container are in test/e2e/full-boot.test.ts.
describe('taupage boot against the local cloud', () => {
  it('completes the steps, writes status, result, metrics and /meta/taupage.yaml, and signals SUCCESS', async () => {
    cloud.imds.setUserData(VALID_USER_DATA);
    const b = await bootOnce(cloud);
    expect(b.run).toMatchObject({ exitCode: 0, outcome: 'success' });
    expect(b.status).toMatchObject({
      schemaVersion: 1,
      state: 'ended',
      outcome: 'success',
      instanceId: 'i-0123456789abcdef0',
      region: 'eu-central-1',
      facts: { signal: 'SUCCESS', signalSent: true },
    });
    expect(b.status.configHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(b.result).toEqual(b.status);
    expect(stepOf(b.status, 'user-data')).toMatchObject({ outcome: 'success', phase: 'boot' });
    expect(stepOf(b.status, 'container')).toMatchObject({ outcome: 'success', note: CONTAINER_LEFT_OUT });
    expect(stepOf(b.status, 'ssh')).toMatchObject({ outcome: 'success' });
    expect(stepOf(b.status, 'logging')).toMatchObject({ outcome: 'success', note: 'configured: application.log' });
    expect(b.status.keys).toEqual({ applied: ['application_id', 'application_version', 'notify_cfn', 'runtime', 'source'], ignored: [], notApplied: [] });
    expect(stepOf(b.status, 'credentials')).toMatchObject({ outcome: 'skipped', note: 'nothing to do' });
    expect(stepOf(b.status, 'signal')).toMatchObject({ outcome: 'success', phase: 'finally' });
    for (const s of b.status.steps) expect(Object.keys(s)).toEqual(expect.arrayContaining(['id', 'startedAt', 'durationMs', 'outcome']));
    expect(cloud.cloudformation.signals).toMatchObject([
      { stackName: 'my-stack', logicalResourceId: 'AppServerGroup', uniqueId: 'i-0123456789abcdef0', status: 'SUCCESS', region: 'eu-central-1' },
    ]);

    const meta = join(b.root, 'meta/taupage.yaml');
    expect(await readFile(meta, 'utf8')).toBe(VALID_USER_DATA);
    expect((await stat(meta)).mode & 0o777).toBe(0o444);
    const prom = await readFile(join(b.root, 'var/local/textfile_collector/taupage.prom'), 'utf8');
    expect(prom).toContain('taupage_boot_success 1');
    expect(prom).toMatch(/^taupage_boot_step_duration_seconds\{step="user-data"\} [0-9.]+$/m);
    expect(prom).toContain('taupage_boot_step_outcome{step="container",outcome="success"} 1');
    expect(prom).toMatch(/^taupage_boot_time_to_healthy_seconds [0-9.]+$/m);
    expect(prom).toMatch(/^taupage_boot_end_uptime_seconds [0-9.]+$/m);
    expect(b.logs.at(-2)).toMatchObject({ outcome: 'success', msg: expect.stringMatching(/succeeded in/) });
  });

  it('with invalid user data: FAILURE signal with TPG_USERDATA_INVALID, the validate messages, nothing else done', async () => {
    const text =
      '#taupage-ami-config\napplication_id: my-app\nruntime: Docker\nsource: pierone.stups.zalan.do/team/my-app:latest\nnotify_cfn:\n  stack: my-stack\n  resource: AppServerGroup\n';
    cloud.imds.setUserData(text);
    let touched = false;
    const probe: AnyStep = {
      id: 'probe',
      title: 'probe',
      needs: [],
      plan: () => ({}),
      apply: async () => {
        touched = true;
      },
    };
    const b = await bootOnce(cloud, { steps: withStep(probe) });
    expect(b.run).toMatchObject({ exitCode: 1, outcome: 'failed', errorCode: 'TPG_USERDATA_INVALID' });
    expect(touched).toBe(false);
    expect(b.status.steps.map((s) => [s.id, s.outcome])).toEqual([
      ['user-data', 'failed'],
      ['signal', 'success'],
    ]);
    expect(cloud.cloudformation.signals).toMatchObject([{ status: 'FAILURE', uniqueId: 'i-0123456789abcdef0' }]);
    await expect(stat(join(b.root, 'meta/taupage.yaml'))).rejects.toThrow(/ENOENT/);
    // The same messages `taupage validate` prints for the same document.
    let printed = '';
    await runValidate(['-'], { out: (s) => (printed += s), err: () => undefined, env: {}, isTty: false, readStdin: async () => text });
    const expected = printed
      .split('\n')
      .filter((l) => l.includes(': error '))
      .map((l) => l.replace(/^<stdin>/, 'user-data'));
    expect(expected.length).toBeGreaterThan(0);
    for (const line of expected) {
      expect(b.status.message).toContain(line);
      expect(b.logs.some((l) => l.msg === line)).toBe(true);
    }
  });

  it('with a key given twice: boots with the last value, as the original did, and logs a warning naming both lines', async () => {
    cloud.imds.setUserData(VALID_USER_DATA.replace('  resource: AppServerGroup\n', '  resource: OldGroup\n  resource: AppServerGroup\n'));
    const b = await bootOnce(cloud);
    expect(b.run).toMatchObject({ exitCode: 0, outcome: 'success' });
    expect(cloud.cloudformation.signals).toMatchObject([{ logicalResourceId: 'AppServerGroup', status: 'SUCCESS' }]);
    expect(b.logs).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        code: 'TPG_UD_DUPLICATE_KEY',
        msg: expect.stringMatching(/^user-data:9:3: warning TPG_UD_DUPLICATE_KEY notify_cfn\.resource: duplicate key, also set on line 8/),
      }),
    );
  });

  it('without user data: TPG_USERDATA_MISSING, and no signal since no stack is known', async () => {
    cloud.imds.setUserData(null);
    const b = await bootOnce(cloud);
    expect(b.run).toMatchObject({ exitCode: 1, errorCode: 'TPG_USERDATA_MISSING' });
    expect(b.run.message).toMatch(/the instance has no user data.*no CloudFormation signal/);
    expect(cloud.cloudformation.signals).toEqual([]);
  });

  it('without the #taupage-ami-config header: TPG_USERDATA_MISSING, signalled FAILURE', async () => {
    cloud.imds.setUserData(VALID_USER_DATA.replace('#taupage-ami-config\n', ''));
    const b = await bootOnce(cloud);
    expect(b.run).toMatchObject({ exitCode: 1, errorCode: 'TPG_USERDATA_MISSING' });
    expect(b.status.message).toMatch(/#taupage-ami-config/);
    expect(cloud.cloudformation.signals).toMatchObject([{ status: 'FAILURE' }]);
  });

  it('with the metadata service down: retries until its deadline, fails with TPG_IMDS_UNAVAILABLE and says why', async () => {
    await cloud.imds.faults.down('refuse');
    const b = await bootOnce(cloud, {
      agentYaml: FAST_CONFIG.replace('deadline_seconds: 5', 'deadline_seconds: 1').replace('retry_base_ms: 5', 'retry_base_ms: 50'),
    });
    expect(b.run).toMatchObject({ exitCode: 5, outcome: 'failed', errorCode: 'TPG_IMDS_UNAVAILABLE' });
    const ud = stepOf(b.status, 'user-data')!;
    expect(ud).toMatchObject({ outcome: 'failed', errorCode: 'TPG_IMDS_UNAVAILABLE' });
    expect(ud.message).toMatch(/did not answer GET \/latest\/.*ECONNREFUSED.*\(\d+ attempts in/);
    expect(Number(/\((\d+) attempts/.exec(ud.message!)![1])).toBeGreaterThan(1);
    expect(b.logs.filter((l) => l.service === 'imds' && /retrying/.test(String(l.msg))).length).toBeGreaterThan(0);
    expect(cloud.cloudformation.signals).toEqual([]);
  });

  it('when /meta/taupage.yaml cannot be written: no step starts, the boot fails and signals FAILURE', async () => {
    const root = await scratchRoot();
    await writeFile(join(root, 'meta'), 'a file where the directory should be');
    const b = await bootOnce(cloud, { root });
    expect(b.run).toMatchObject({ exitCode: 1, errorCode: 'TPG_BOOT_FAILED' });
    expect(stepOf(b.status, 'user-data')!.message).toMatch(/cannot write .*meta\/taupage.yaml/);
    // The steps wait for the document to be kept (only the container's trust check and pull may begin meanwhile).
    for (const id of ['host', 'ssh', 'logging', 'disks', 'credentials', 'container'])
      expect(stepOf(b.status, id)).toMatchObject({
        outcome: 'failed',
        errorCode: 'TPG_BOOT_FAILED',
        message: expect.stringMatching(/^not started: cannot write .*meta\/taupage.yaml/),
      });
    await expect(stat(join(root, 'etc/ssh/sshd_config.d'))).rejects.toThrow(/ENOENT/);
    expect(cloud.cloudformation.signals).toMatchObject([{ status: 'FAILURE' }]);
  });

  it('a key this image does not apply fails the boot with TPG_NOT_APPLIED and signals FAILURE; the status lists the keys', async () => {
    // Every step of this image has effects; a build without the logging step's shows the rule.
    const withoutLogging = bootGraph.map((step) => (step.id === 'logging' ? { ...step, apply: undefined } : step));
    cloud.imds.setUserData(`${VALID_USER_DATA}scalyr_account_key: abc123\nxray_enabled: true\nsysctl:\n  fs.file-max: 8192\n`);
    const b = await bootOnce(cloud, { steps: withoutLogging });
    expect(b.run).toMatchObject({ exitCode: 1, outcome: 'failed', errorCode: 'TPG_NOT_APPLIED' });
    expect(stepOf(b.status, 'logging')).toMatchObject({
      outcome: 'failed',
      errorCode: 'TPG_NOT_APPLIED',
      message:
        'the user data sets scalyr_account_key, which this image does not apply (log routing and shipping: not implemented yet); the boot fails rather than run without it',
    });
    expect(stepOf(b.status, 'container')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_DEPENDENCY_FAILED' });
    expect(b.status.keys).toEqual({
      applied: ['application_id', 'application_version', 'notify_cfn', 'runtime', 'source', 'sysctl'],
      ignored: ['xray_enabled'],
      notApplied: ['scalyr_account_key'],
    });
    expect(cloud.cloudformation.signals).toMatchObject([{ status: 'FAILURE' }]);
  });

  it('fails the dependents of a failed step, the boot, and signals FAILURE', async () => {
    const b = await bootOnce(cloud, { steps: withStep(failing('credentials', 'TPG_CREDENTIALS_FAILED', 'Mint bucket denied access'), 'credentials') });
    expect(b.run).toMatchObject({ exitCode: 1, errorCode: 'TPG_CREDENTIALS_FAILED' });
    expect(stepOf(b.status, 'credentials')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_CREDENTIALS_FAILED', message: 'Mint bucket denied access' });
    expect(stepOf(b.status, 'container')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_DEPENDENCY_FAILED' });
    expect(stepOf(b.status, 'shutdown')).toMatchObject({ outcome: 'skipped', note: 'nothing to do' });
    expect(b.status).toMatchObject({ outcome: 'failed', errorCode: 'TPG_CREDENTIALS_FAILED', facts: { signal: 'FAILURE', signalSent: true } });
    expect(cloud.cloudformation.signals).toMatchObject([{ status: 'FAILURE' }]);
    expect(await readFile(join(b.root, 'var/local/textfile_collector/taupage.prom'), 'utf8')).toContain('taupage_boot_success 0');
  });

  it('at the boot deadline: fails the boot and still signals FAILURE before it', async () => {
    const hang = containerStep(() => new Promise(() => {}));
    // 2 s: the last 0.5 s (a quarter) are kept for the signal.
    const b = await bootOnce(cloud, { agentYaml: `${FAST_CONFIG}boot:\n  deadline_seconds: 2\n`, steps: withStep(hang, 'container') });
    expect(b.run).toMatchObject({ exitCode: 1, errorCode: 'TPG_BOOT_DEADLINE' });
    // The number the steps really had, not deadline_seconds.
    expect(stepOf(b.status, 'container')).toMatchObject({
      outcome: 'failed',
      errorCode: 'TPG_BOOT_DEADLINE',
      message: "did not finish before the boot steps' deadline (1.5 s: boot.deadline_seconds 2 minus 0.5 s kept for the CloudFormation signal)",
    });
    expect(stepOf(b.status, 'signal')).toMatchObject({ outcome: 'success' });
    const signalled = cloud.cloudformation.signals[0]!;
    expect(signalled.status).toBe('FAILURE');
    expect(signalled.at).toBeLessThanOrEqual(Date.parse(b.status.deadline));
  });

  it('SIGTERM mid-boot: stops the steps, records TPG_BOOT_INTERRUPTED, signals FAILURE, releases the lock; the next boot runs again', async () => {
    const root = await scratchRoot({ bootId: 'sigterm-boot' });
    const stop = new AbortController();
    let aborted: unknown;
    const hang = containerStep(
      (_plan: unknown, ctx: EndContext) =>
        new Promise((_resolve, reject) => {
          ctx.signal.addEventListener('abort', () => {
            aborted = ctx.signal.reason;
            reject(ctx.signal.reason);
          });
          // SIGTERM arrives while the step runs.
          setTimeout(() => stop.abort(new AgentError('TPG_BOOT_INTERRUPTED', 'the boot was interrupted by SIGTERM (test)')), 50);
        }),
    );
    const b = await bootOnce(cloud, { root, steps: withStep(hang, 'container'), stop: stop.signal });
    expect(b.run).toMatchObject({ exitCode: 143, outcome: 'interrupted', errorCode: 'TPG_BOOT_INTERRUPTED' });
    expect(aborted).toMatchObject({ code: 'TPG_BOOT_INTERRUPTED' });
    expect(b.status).toMatchObject({
      state: 'ended',
      outcome: 'failed',
      errorCode: 'TPG_BOOT_INTERRUPTED',
      facts: { interrupted: true, signal: 'FAILURE', signalSent: true },
    });
    expect(stepOf(b.status, 'container')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_BOOT_INTERRUPTED' });
    expect(cloud.cloudformation.signals).toMatchObject([{ status: 'FAILURE' }]);
    await expect(stat(join(root, 'run/taupage/boot.lock'))).rejects.toThrow(/ENOENT/);
    const again = await bootOnce(cloud, { root });
    expect(again.run.outcome).toBe('success');
    expect(cloud.cloudformation.signals.map((s) => s.status)).toEqual(['FAILURE', 'SUCCESS']);
  });

  it('records a failed signal in the status and fails the boot with TPG_SIGNAL_FAILED, having retried until the deadline', async () => {
    await cloud.cloudformation.faults.down('refuse');
    const b = await bootOnce(cloud, { agentYaml: `${FAST_CONFIG.replace('max_attempts: 5', 'max_attempts: 2')}boot:\n  deadline_seconds: 3\n` });
    expect(b.run).toMatchObject({ exitCode: 5, errorCode: 'TPG_SIGNAL_FAILED' });
    // Not max_attempts (2): the signal retried until the boot deadline.
    expect(Number(/after (\d+) attempts/.exec(stepOf(b.status, 'signal')!.message!)?.[1])).toBeGreaterThan(2);
    expect(b.run.message).toContain('the CloudFormation signal failed');
    expect(b.status.facts).toMatchObject({ signal: 'SUCCESS', signalSent: false });
    expect(stepOf(b.status, 'signal')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_SIGNAL_FAILED', message: expect.stringMatching(/ECONNREFUSED/) });
  });

  it('runs once per boot: a second boot in the same boot exits 0 and says so', async () => {
    const root = await scratchRoot({ bootId: '11111111-2222-3333-4444-555555555555' });
    const first = await bootOnce(cloud, { root });
    expect(first.run.outcome).toBe('success');
    const second = await bootOnce(cloud, { root });
    expect(second.run).toMatchObject({ exitCode: 0, outcome: 'already-ran' });
    expect(second.run.message).toMatch(/already ran in this boot \(boot id 11111111-2222-3333-4444-555555555555/);
    expect(second.status.bootId).toBe(first.status.bootId);
    expect(cloud.cloudformation.signals).toHaveLength(1);
  });

  it('on a reboot re-applies everything and ends in the same state; removed keys do not survive', async () => {
    const root = await scratchRoot({ bootId: 'boot-one' });
    const withExtra = `${VALID_USER_DATA}hostname: first\n`;
    cloud.imds.setUserData(withExtra);
    const first = await bootOnce(cloud, { root });
    expect(await readFile(join(root, 'meta/taupage.yaml'), 'utf8')).toContain('hostname: first');

    await clearRun(root); // /run is a tmpfs
    await setBootId(root, 'boot-two');
    cloud.imds.setUserData(VALID_USER_DATA);
    const second = await bootOnce(cloud, { root });
    expect(second.run.outcome).toBe('success');
    expect(second.status.bootId).toBe('boot-two');
    expect(second.status.instanceId).toBe(first.status.instanceId);
    const shape = (s: typeof first.status) => s.steps.map((x) => [x.id, x.outcome, x.note]);
    expect(shape(second.status)).toEqual(shape(first.status));
    expect(await readFile(join(root, 'meta/taupage.yaml'), 'utf8')).toBe(VALID_USER_DATA);

    // A /run that survived the reboot: the old lock names another boot and is taken over.
    await setBootId(root, 'boot-three');
    const third = await bootOnce(cloud, { root });
    expect(third.run.outcome).toBe('success');
    expect(third.status.bootId).toBe('boot-three');
    expect(cloud.cloudformation.signals.map((s) => s.status)).toEqual(['SUCCESS', 'SUCCESS', 'SUCCESS']);
  });
});

describe('KMS values in a boot', () => {
  const PLAINTEXTS = ['db-pass-Wq8#u2', 'api-key-0f1e2d3c', 'scalyr-key-9a8b7c6d', 'quote"and\\backslash'];
  const kmsUserData = () =>
    VALID_USER_DATA +
    `environment:\n  DB_PASSWORD: ${kmsValue(PLAINTEXTS[0]!)}\n  API_KEY: ${kmsValue(PLAINTEXTS[1]!)}\n  ODD: '${kmsValue(PLAINTEXTS[3]!)}'\n  PLAIN: visible\nlogging:\n  scalyr_account_key: ${kmsValue(PLAINTEXTS[2]!)}\n`;

  /** A step that uses every encrypted value the way later steps will: through ctx.decrypt. */
  const consumer = (seen: string[], id = 'consumer'): AnyStep => ({
    id,
    title: id,
    needs: [],
    plan: (i) => ({ values: Object.values(i.settings.environment).filter(isKmsEncrypted) }),
    apply: async (plan: { values: Parameters<EndContext['decrypt']>[0][] }, ctx: EndContext) => {
      const secrets = await Promise.all(plan.values.map((v) => ctx.decrypt(v)));
      seen.push(...secrets.map((s) => s.reveal()));
      ctx.log.info({ secrets }, 'decrypted');
    },
  });

  it('decrypts concurrently, retries throttling, decrypts each value once', async () => {
    cloud.imds.setUserData(kmsUserData());
    cloud.kms.faults.throttleNext(3);
    const seen: string[] = [];
    const b = await bootOnce(cloud, { steps: [...bootGraph, consumer(seen), consumer(seen, 'consumer-2')] });
    expect(b.run.outcome).toBe('success');
    expect(seen.sort()).toEqual([PLAINTEXTS[0], PLAINTEXTS[0], PLAINTEXTS[1], PLAINTEXTS[1], PLAINTEXTS[3], PLAINTEXTS[3]].sort());
    const ok = cloud.kms.calls.filter((c) => c.operation === 'Decrypt' && c.outcome === 'ok');
    expect(ok).toHaveLength(4); // three environment values and the Scalyr key, once each
    expect(cloud.kms.calls.filter((c) => c.outcome === 'ThrottlingException')).toHaveLength(3);
  });

  it('never lets a plaintext reach a log line, the status, the result, the metrics or an error', async () => {
    const userData = kmsUserData();
    cloud.imds.setUserData(userData);
    // A careless step: it puts a revealed plaintext into a log message and into its error.
    const careless: AnyStep = {
      id: 'careless',
      title: 'careless',
      needs: ['consumer'],
      plan: (i) => ({ v: i.settings.environment.DB_PASSWORD }),
      apply: async (plan: { v: Parameters<EndContext['decrypt']>[0] }, ctx: EndContext) => {
        const s = await ctx.decrypt(plan.v);
        ctx.log.warn(`connecting with ${s.reveal()}`);
        ctx.record('note', `password is ${s.reveal()}`);
        throw new AgentError('TPG_CONTAINER_FAILED', `login failed for password ${s.reveal()}`);
      },
    };
    const seen: string[] = [];
    const b = await bootOnce(cloud, { steps: [...bootGraph, consumer(seen), careless] });
    expect(b.run.errorCode).toBe('TPG_CONTAINER_FAILED');
    expect(seen).toContain(PLAINTEXTS[0]);
    const files: string[] = [];
    // The Scalyr key's one place is its consumer's file, agent.json (root's alone); rsyslog's sockets are no files.
    const agentJson = join(b.root, 'etc/scalyr-agent-2/agent.json');
    expect(JSON.parse(await readFile(agentJson, 'utf8')).api_key).toBe(PLAINTEXTS[2]);
    const walk = async (d: string) => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        if (e.isDirectory()) await walk(join(d, e.name));
        else if (e.isFile() && join(d, e.name) !== agentJson) files.push(join(d, e.name));
      }
    };
    await walk(b.root);
    const haystacks = [b.lines.join(''), b.run.message, JSON.stringify(b.run.status), ...(await Promise.all(files.map((f) => readFile(f, 'utf8'))))];
    expect(files.map((f) => f.slice(b.root.length))).toEqual(
      expect.arrayContaining(['/run/taupage/status.json', '/run/taupage/result.json', '/var/local/textfile_collector/taupage.prom', '/meta/taupage.yaml']),
    );
    for (const p of PLAINTEXTS) for (const h of haystacks) expect(h).not.toContain(p);
    for (const p of PLAINTEXTS.slice(3)) for (const h of haystacks) expect(h).not.toContain(JSON.stringify(p).slice(1, -1));
    // The scrubbed places say so, and the encrypted form stays in /meta/taupage.yaml as written.
    expect(b.lines.join('')).toContain('connecting with [redacted]');
    expect(stepOf(b.status, 'careless')!.message).toBe('login failed for password [redacted]');
    expect(await readFile(join(b.root, 'meta/taupage.yaml'), 'utf8')).toBe(userData);
  });

  it('a KMS that hangs: the step fails by the deadline naming KMS not answering (the root cause), and FAILURE goes out', async () => {
    cloud.imds.setUserData(kmsUserData());
    cloud.kms.faults.delay(30_000);
    const seen: string[] = [];
    const agentYaml = `${FAST_CONFIG.replace('request_timeout_ms: 3000', 'request_timeout_ms: 400')}boot:\n  deadline_seconds: 3\n`;
    const b = await bootOnce(cloud, { agentYaml, steps: [...bootGraph, consumer(seen)] });
    expect(b.run.errorCode).toBe('TPG_KMS_UNAVAILABLE');
    expect(stepOf(b.status, 'consumer')).toMatchObject({
      outcome: 'failed',
      errorCode: 'TPG_KMS_UNAVAILABLE',
      message: expect.stringMatching(/could not be reached to decrypt environment\.\w+: KMS Decrypt of environment\.\w+ did not answer within 400 ms/),
    });
    expect(b.status.message).toMatch(/did not answer within 400 ms/);
    expect(cloud.cloudformation.signals).toMatchObject([{ status: 'FAILURE' }]);
  });

  it('fails the step that needs a value KMS cannot decrypt, and says which value', async () => {
    cloud.imds.setUserData(`${VALID_USER_DATA}environment:\n  DB_PASSWORD: aws:kms:${Buffer.from('garbage-not-a-ciphertext').toString('base64')}\n`);
    const seen: string[] = [];
    const b = await bootOnce(cloud, { steps: [...bootGraph, consumer(seen)] });
    expect(b.run.errorCode).toBe('TPG_KMS_DECRYPT_FAILED');
    expect(stepOf(b.status, 'consumer')!.message).toBe('KMS could not decrypt environment.DB_PASSWORD: InvalidCiphertextException');
    expect(cloud.cloudformation.signals).toMatchObject([{ status: 'FAILURE' }]);
  });
});

describe('shutdown after a successful boot', () => {
  /** An application container that exits with `code` (the shutdown step only waits for it). */
  const app = (code: number, calls: string[] = []) => ({
    containerRuntime: {
      waitForExit: async () => {
        calls.push('wait');
        return code;
      },
    } as unknown as ContainerRuntime,
  });
  const shutdownYaml = (root: string, fail = false) =>
    `${FAST_CONFIG}shutdown:\n  command: [sh, -c, 'echo "exit $TAUPAGE_APP_EXIT_CODE" > ${root}/powered-off${fail ? '; exit 7' : ''}']\n`;

  it('on-exit: waits for the application, then runs the shutdown command', async () => {
    cloud.imds.setUserData(`${VALID_USER_DATA}shutdown: on-exit\n`);
    const root = await scratchRoot();
    const b = await bootOnce(cloud, { root, agentYaml: shutdownYaml(root), ports: app(3) });
    expect(b.run).toMatchObject({ exitCode: 0, outcome: 'success' });
    expect(await readFile(join(root, 'powered-off'), 'utf8')).toBe('exit 3\n');
    expect(b.result).toMatchObject({ outcome: 'success', facts: { applicationExitCode: 3 } });
    expect(stepOf(b.result!, 'shutdown')).toMatchObject({ outcome: 'success', phase: 'after' });
    expect(cloud.cloudformation.signals).toMatchObject([{ status: 'SUCCESS' }]);
  });

  it('on-success: a failing application leaves the instance running', async () => {
    cloud.imds.setUserData(`${VALID_USER_DATA}shutdown: on-success\n`);
    const root = await scratchRoot();
    const b = await bootOnce(cloud, { root, agentYaml: shutdownYaml(root), ports: app(3) });
    expect(b.run.exitCode).toBe(0);
    await expect(stat(join(root, 'powered-off'))).rejects.toThrow(/ENOENT/);
    expect(stepOf(b.result!, 'shutdown')!.note).toMatch(/exited with 3; on-success/);
    const ok = await bootOnce(cloud, { root: await scratchRoot(), agentYaml: shutdownYaml(root), ports: app(0) });
    expect(ok.run.exitCode).toBe(0);
    expect(await readFile(join(root, 'powered-off'), 'utf8')).toBe('exit 0\n');
  });

  it('does not wait for the application after a failed boot', async () => {
    cloud.imds.setUserData(`${VALID_USER_DATA}shutdown: on-exit\n`);
    const root = await scratchRoot();
    const calls: string[] = [];
    const b = await bootOnce(cloud, {
      root,
      agentYaml: shutdownYaml(root),
      ports: app(0, calls),
      steps: withStep(failing('host', 'TPG_HOST_FAILED', 'sysctl refused'), 'host'),
    });
    expect(b.run.errorCode).toBe('TPG_HOST_FAILED');
    expect(calls).toEqual([]);
    expect(stepOf(b.result!, 'shutdown')).toMatchObject({ outcome: 'skipped', note: 'the boot failed' });
  });

  it('reports a failing shutdown command without changing the boot outcome', async () => {
    cloud.imds.setUserData(`${VALID_USER_DATA}shutdown: on-exit\n`);
    const root = await scratchRoot();
    const b = await bootOnce(cloud, { root, agentYaml: shutdownYaml(root, true), ports: app(0) });
    expect(b.run).toMatchObject({ exitCode: 1, outcome: 'success', errorCode: 'TPG_SHUTDOWN_FAILED' });
    expect(b.result).toMatchObject({ outcome: 'success' });
    expect(stepOf(b.result!, 'shutdown')).toMatchObject({
      outcome: 'failed',
      errorCode: 'TPG_SHUTDOWN_FAILED',
      message: expect.stringMatching(/exited with 7/),
    });
  });
});
