/*! The built agent's boots that end before the application container: invalid user data, the
 * metadata service down. Whole boots with the container: full-boot.test.ts. */
import { describe, it, expect } from 'vitest';
import { mkdir, writeFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isolatedAwsEnv } from '../fakes/local-cloud.js';
import { runAgent } from '../harness/agent.js';
import { useLocalCloud } from '../harness/lifecycle.js';
import { scratchRoot } from '../harness/scratch.js';
import { VALID_USER_DATA } from '../harness/user-data.js';

const cloud = useLocalCloud();

const AGENT_YAML = 'metadata:\n  timeout_ms: 1000\n  deadline_seconds: 1\n  retry_base_ms: 20\naws:\n  retry_base_ms: 5\n';

/** A scratch instance: its root, agent.yaml, and the environment `taupage` runs with (no AWS keys: the role from IMDS). */
async function instance(agentYaml = AGENT_YAML) {
  const root = await scratchRoot();
  await mkdir(join(root, 'etc/taupage'), { recursive: true });
  await writeFile(join(root, 'etc/taupage/agent.yaml'), agentYaml);
  const env = isolatedAwsEnv({ ...cloud.env({ withKeys: false }), TAUPAGE_ROOT: root });
  return { root, env, taupage: (...args: string[]) => runAgent(args, { env }) };
}

describe('node agent/dist/taupage.mjs boot', () => {
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
});
