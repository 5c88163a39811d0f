/*! `taupage credentials --once|--watch` as a process, against a real S3 server: exit codes, the
 * watcher surviving an S3 outage and resuming, SIGTERM stopping it even mid-request, and no
 * credential value in anything it prints or records. */
import { describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { useFaultProxy, useS3 } from '../harness/lifecycle.js';
import { startAgent, type RunningAgent } from '../harness/agent.js';
import { waitFor } from '../harness/wait.js';
import { APP, BUCKET, SECRET_MARK, clientJson, credentialsInstance, userJson, type CredentialsInstance } from '../harness/credentials.js';

// The SDK's standard provider chain finds these (on an instance: the role via IMDS).
const AWS_KEYS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_EC2_METADATA_DISABLED: 'true' };
Object.assign(process.env, AWS_KEYS);

const s3 = useS3([BUCKET]);
const proxy = useFaultProxy(s3);

/** `taupage credentials ARGS --config <the instance's agent.yaml>`, left running. */
function taupage(env: CredentialsInstance, args: string[], extraEnv: Record<string, string> = {}): RunningAgent {
  return startAgent(['credentials', ...args, '--config', env.agentYaml], { env: { ...AWS_KEYS, TAUPAGE_LOG_LEVEL: 'info', ...extraEnv } });
}

const local = (env: CredentialsInstance, f: string) => readFile(join(env.paths.credentialsDir, f), 'utf8').catch(() => '');

async function seed(version: number): Promise<void> {
  await s3.put(BUCKET, `${APP}/user.json`, userJson(version));
  await s3.put(BUCKET, `${APP}/client.json`, clientJson(version));
}

/** A scratch instance after a boot (which records the region the refresher uses). */
async function booted(agent: Record<string, unknown> = {}): Promise<CredentialsInstance> {
  const env = await credentialsInstance({ endpoint: s3.endpoint, agent });
  await env.boot();
  return env;
}

describe('taupage credentials --once', () => {
  it('exits 0 with both files current, printing no credential', async () => {
    await seed(1);
    const env = await booted();
    await seed(2);
    const run = taupage(env, ['--once']);
    expect(await run.exit).toBe(0);
    expect(await local(env, 'user.json')).toBe(userJson(2));
    expect(await local(env, 'client.json')).toBe(clientJson(2));
    expect(run.lines().some((l) => l.msg === `credentials for ${APP} are current`)).toBe(true);
    expect(run.output()).toContain('rotated user.json credentials for kio');
    const status = await readFile(env.paths.credentialsStatus, 'utf8');
    expect(JSON.parse(status).ok).toBe(true);
    expect(run.output() + status).not.toContain(SECRET_MARK);
  });

  it('exits 1 with the reason when an object is missing, keeping the files', async () => {
    await seed(3);
    const env = await booted();
    await s3.remove(BUCKET, `${APP}/client.json`);
    try {
      const run = taupage(env, ['--once']);
      expect(await run.exit).toBe(1);
      expect(run.output()).toContain(
        `error TPG_S3_NOT_FOUND: credentials not current: client.json: TPG_S3_NOT_FOUND: s3://${BUCKET}/${APP}/client.json does not exist`,
      );
      expect(run.output()).toContain('hint: Mint has not synced');
      expect(await local(env, 'client.json')).toBe(clientJson(3));
    } finally {
      await seed(3);
    }
  });

  it('exits 5 when S3 cannot be reached (endpoint from AWS_ENDPOINT_URL_S3)', async () => {
    await seed(4);
    const env = await booted();
    // AWS_ENDPOINT_URL_S3 overrides the agent config: nothing listens on the discard port.
    const run = taupage(env, ['--once'], { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' });
    expect(await run.exit).toBe(5);
    expect(run.output()).toContain('error TPG_S3_UNAVAILABLE');
    expect(await local(env, 'user.json')).toBe(userJson(4));
  });

  it('without a boot and without aws.region it says how to give the region (exit 4)', async () => {
    const env = await credentialsInstance({ endpoint: s3.endpoint });
    const run = taupage(env, ['--once']);
    expect(await run.exit).toBe(4);
    expect(run.output()).toContain('the S3 region is unknown');
    const withRegion = taupage(env, ['--once'], { AWS_REGION: 'us-east-1' });
    expect(await withRegion.exit).toBe(0);
  });

  it('wants exactly one of --once and --watch (exit 2)', async () => {
    const env = await credentialsInstance({ endpoint: s3.endpoint });
    const run = taupage(env, []);
    expect(await run.exit).toBe(2);
    expect(run.output()).toContain('give exactly one of --once and --watch');
  });
});

describe('taupage credentials --watch', () => {
  it('picks up rotations, survives an S3 outage and resumes, and stops on SIGTERM', async () => {
    await seed(10);
    const env = await booted();
    const run = taupage(env, ['--watch', '--interval', '0.05']);
    try {
      await waitFor('the watcher to start', () => run.output().includes('keeping Mint credentials current'));
      await seed(11);
      await waitFor('rotation 11', async () => (await local(env, 'user.json')) === userJson(11) && (await local(env, 'client.json')) === clientJson(11));

      await s3.stop();
      try {
        await waitFor('the outage to be noticed', () => run.lines().some((l) => l.msg === 'user.json not refreshed; the current file is kept'));
        await waitFor('a few failed passes', () => run.lines().filter((l) => l.msg === 'client.json not refreshed; the current file is kept').length >= 3);
        expect(run.child.exitCode).toBeNull();
        expect(await local(env, 'user.json')).toBe(userJson(11));
        expect(JSON.parse(await readFile(env.paths.credentialsStatus, 'utf8')).ok).toBe(false);
      } finally {
        await s3.start();
      }
      await seed(12);
      await waitFor(
        'rotation 12 after the outage',
        async () => (await local(env, 'user.json')) === userJson(12) && (await local(env, 'client.json')) === clientJson(12),
      );
      await waitFor('recovery to be logged', () => run.output().includes('credentials are current again'));
      await waitFor('the status to be ok', async () => JSON.parse(await readFile(env.paths.credentialsStatus, 'utf8')).ok === true);

      run.child.kill('SIGTERM');
      expect(await run.exit).toBe(0);
      expect(run.lines().at(-1)?.msg).toBe('credentials refresher stopped');
      const status = await readFile(env.paths.credentialsStatus, 'utf8');
      expect(run.output() + status).not.toContain(SECRET_MARK);
    } finally {
      run.child.kill('SIGKILL');
    }
  });

  it('SIGTERM stops it cleanly in the middle of a request that never answers', async () => {
    await seed(20);
    const env = await booted({ aws: { endpoints: { s3: proxy.url }, s3_force_path_style: true, request_timeout_ms: 120_000 } });
    proxy.always = { kind: 'hang' };
    const hung = once(proxy, 'request');
    const run = taupage(env, ['--watch', '--interval', '0.05']);
    try {
      await hung; // a GetObject is now in flight and will not be answered for two minutes
      run.child.kill('SIGTERM');
      const code = await Promise.race([run.exit, new Promise((r) => setTimeout(() => r('still running'), 15_000))]);
      expect(code).toBe(0);
      expect(run.output()).toContain('"signal":"SIGTERM"');
      expect(run.output()).toContain('credentials refresher stopped');
      expect(await local(env, 'user.json')).toBe(userJson(20));
    } finally {
      proxy.always = undefined;
      run.child.kill('SIGKILL');
    }
  });
});
