import { describe, it, expect, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO } from '../harness/repo.js';
import { scratchDir } from '../harness/scratch.js';

const exec = promisify(execFile);
let dir: string;
const lc = async (...args: string[]) => exec(join(REPO, 'scripts/local-cloud'), args, { env: { ...process.env, LOCAL_CLOUD_DIR: dir }, cwd: REPO });

afterAll(async () => {
  if (dir) await lc('stop').catch(() => undefined);
});

describe('scripts/local-cloud', () => {
  it('starts a daemon, prints its environment, takes user data, records signals, stops', async () => {
    dir = await scratchDir('local-cloud');
    const ud = join(dir, 'ud.yaml');
    await writeFile(ud, '#taupage-ami-config\napplication_id: from-script\n');
    const started = await lc('start', '--user-data', ud);
    const env = Object.fromEntries([...started.stdout.matchAll(/^export ([A-Z0-9_]+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
    expect(Object.keys(env)).toEqual(
      expect.arrayContaining([
        'AWS_EC2_METADATA_SERVICE_ENDPOINT',
        'AWS_ENDPOINT_URL_KMS',
        'AWS_ENDPOINT_URL_CLOUDFORMATION',
        'AWS_REGION',
        'AWS_ACCESS_KEY_ID',
      ]),
    );
    expect((await lc('start')).stderr).toMatch(/already running/);
    expect((await lc('env', '--no-keys')).stdout).not.toMatch(/AWS_ACCESS_KEY_ID/);

    const imds = env.AWS_EC2_METADATA_SERVICE_ENDPOINT!;
    const token = await (await fetch(`${imds}/latest/api/token`, { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' } })).text();
    expect(await (await fetch(`${imds}/latest/user-data`, { headers: { 'x-aws-ec2-metadata-token': token } })).text()).toContain('from-script');

    await lc('faults', 'imds', '{"errorNext":1,"errorStatus":503}');
    expect((await fetch(`${imds}/latest/user-data`, { headers: { 'x-aws-ec2-metadata-token': token } })).status).toBe(503);
    expect(JSON.parse((await lc('signals')).stdout)).toEqual([]);
    expect((await lc('encrypt', 'pw')).stdout).toMatch(/^aws:kms:[A-Za-z0-9+/=]+\n$/);

    await lc('stop');
    await expect(lc('status')).rejects.toMatchObject({ code: 3 });
    await expect(fetch(`${imds}/latest/api/token`, { method: 'PUT' })).rejects.toThrow();
  });
});
