import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { mkdir, readFile, readdir, writeFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { startLocalCloud, isolatedAwsEnv, type LocalCloud } from '../fakes/local-cloud.js';
import { kmsValue } from '../fakes/kms.js';
import { scratchRoot, VALID_USER_DATA } from '../support/boot-harness.js';
import { ensureBuilt, runAgent } from '../support/built-agent.js';

let cloud: LocalCloud;
beforeAll(async () => {
  ensureBuilt();
  cloud = await startLocalCloud();
});
afterEach(async () => {
  await Promise.all([cloud.imds.faults.clear(), cloud.kms.faults.clear(), cloud.cloudformation.faults.clear()]);
  cloud.cloudformation.signals.length = 0;
  cloud.kms.calls.length = 0;
});
afterAll(() => cloud.close());

const AGENT_YAML = 'metadata:\n  timeout_ms: 1000\n  attempts: 5\n  deadline_seconds: 1\n  retry_base_ms: 20\naws:\n  retry_base_ms: 5\n';

/** A scratch instance: its root, agent.yaml, and the environment `taupage` runs with (no AWS keys: the role from IMDS). */
async function instance(agentYaml = AGENT_YAML) {
  const root = await scratchRoot();
  await mkdir(join(root, 'etc/taupage'), { recursive: true });
  await writeFile(join(root, 'etc/taupage/agent.yaml'), agentYaml);
  const env = isolatedAwsEnv({ ...cloud.env({ withKeys: false }), TAUPAGE_ROOT: root });
  return { root, env, taupage: (...args: string[]) => runAgent(args, env) };
}

function jsonLines(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await allFiles(p)));
    else out.push(p);
  }
  return out;
}

describe('node agent/dist/taupage.mjs boot', () => {
  it('boots with the instance role from IMDS, decrypts without leaking, signals SUCCESS, and runs once per boot', async () => {
    const secrets = ['e2e-db-password-77', 'e2e-scalyr-key-88'];
    cloud.imds.setUserData(`${VALID_USER_DATA}environment:\n  DB_PASSWORD: ${kmsValue(secrets[0]!)}\nlogging:\n  scalyr_account_key: ${kmsValue(secrets[1]!)}\n`);
    const i = await instance();
    const boot = await i.taupage('boot');
    expect(boot.stderr).toMatch(/^taupage boot: boot \S+ succeeded in [0-9.]+ s\n$/);
    expect(boot.code).toBe(0);
    const logs = jsonLines(boot.stdout);
    expect(logs.every((l) => typeof l.level === 'string' && typeof l.msg === 'string')).toBe(true);
    expect(cloud.cloudformation.signals).toMatchObject([{ status: 'SUCCESS', uniqueId: 'i-0123456789abcdef0', accessKeyId: cloud.imds.state.role!.credentials.AccessKeyId }]);
    // Both values were decrypted with the role's credentials (prefetched at boot).
    expect(cloud.kms.calls.filter((c) => c.outcome === 'ok').map((c) => c.accessKeyId)).toEqual([cloud.imds.state.role!.credentials.AccessKeyId, cloud.imds.state.role!.credentials.AccessKeyId]);

    const texts = [boot.stdout, boot.stderr, ...(await Promise.all((await allFiles(i.root)).map((f) => readFile(f, 'utf8'))))];
    for (const s of secrets) for (const t of texts) expect(t).not.toContain(s);

    const status = await i.taupage('status');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^state: success in /m);
    expect(status.stdout).toMatch(/^\s+\S+ signal\s+success\s+SUCCESS sent to my-stack\/AppServerGroup$/m);
    expect(status.stdout).toMatch(/^\s+- container\s+skipped\s+not implemented in this image yet$/m);
    const json = await i.taupage('status', '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({ view: 'success', outcome: 'success', schemaVersion: 1 });

    const again = await i.taupage('boot');
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/already ran in this boot/);
    expect(cloud.cloudformation.signals).toHaveLength(1);
  });

  it('with invalid user data exits 1, signals FAILURE with TPG_USERDATA_INVALID and configures nothing', async () => {
    cloud.imds.setUserData(VALID_USER_DATA.replace('runtime: Docker', 'runtime: Docker\nports: {99999: 80}'));
    const i = await instance();
    const boot = await i.taupage('boot');
    expect(boot.code).toBe(1);
    expect(boot.stderr).toMatch(/failed after .*user-data:\d+:\d+: error .*\(TPG_USERDATA_INVALID; CloudFormation signalled FAILURE\)/);
    expect(cloud.cloudformation.signals).toMatchObject([{ status: 'FAILURE' }]);
    await expect(stat(join(i.root, 'meta/taupage.yaml'))).rejects.toThrow(/ENOENT/);
    const status = await i.taupage('status', '--json');
    expect(status.code).toBe(1);
    expect(JSON.parse(status.stdout)).toMatchObject({ view: 'failed', errorCode: 'TPG_USERDATA_INVALID' });
  });

  it('with the metadata service down exits 5 and says why', async () => {
    await cloud.imds.faults.down('refuse');
    const i = await instance();
    const boot = await i.taupage('boot');
    expect(boot.code).toBe(5);
    expect(boot.stderr).toMatch(/TPG_IMDS_UNAVAILABLE/);
    expect(boot.stderr).toMatch(/instance metadata service at http:\/\/127\.0\.0\.1:\d+ did not answer .*ECONNREFUSED/);
    expect((await i.taupage('status')).code).toBe(1);
  });

  it('taupage status: 3 before and while the boot runs, --wait returns when it ends', async () => {
    cloud.imds.setUserData(VALID_USER_DATA);
    const i = await instance('metadata:\n  timeout_ms: 5000\n');
    expect((await i.taupage('status')).code).toBe(3);
    cloud.imds.faults.delay(2_500);
    const boot = i.taupage('boot');
    for (let n = 0; n < 800; n++) {
      if (await stat(join(i.root, 'run/taupage/status.json')).catch(() => undefined)) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    const during = await i.taupage('status');
    expect(during.stdout).toMatch(/^state: running for /m);
    expect(during.code).toBe(3);
    cloud.imds.faults.delay(0); // the SDK's own metadata calls (role credentials) time out after 1 s
    const waited = await i.taupage('status', '--wait', '--poll-ms', '50');
    expect(waited.code).toBe(0);
    expect((await boot).code).toBe(0);
  });
});
