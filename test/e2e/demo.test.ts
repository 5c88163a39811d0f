/*! scripts/demo, the README's first command, end to end: run as root on this machine it boots an
 * instance and shows the result, `--keep` leaves it running and `--stop` stops it, and a run that
 * finds no Docker engine starts its own and stops it again. Each run is the real script. */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { REPO } from '../harness/repo.js';
import { dockerFromEnv } from '../fakes/demo-image.js';
import { inspectApp } from '../harness/world.js';
import { lockApp } from '../harness/app-lock.js';
import { scratchDir } from '../harness/scratch.js';

const dirs: string[] = [];
const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups) await c();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

function demo(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(REPO, 'scripts/demo'), args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b));
    child.stderr.on('data', (b: Buffer) => (out += b));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

/** Running, and not a zombie (PID 1 here reaps orphans only lazily). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

const pidOf = (out: string, what: RegExp) => Number(what.exec(out)?.[1]);

/** What every successful run shows. */
function expectShown(out: string): void {
  expect(out).toMatch(/\[9\/9\] The result/);
  expect(out).toMatch(/taupage boot: boot \S+ succeeded in/);
  expect(out).toMatch(/^\s+state: success in /m);
  expect(out).toMatch(/^\s+\S+ container\s+success$/m);
  expect(out).toContain('Hello from Taupage');
  expect(out).toContain('credentials at start: client.json user.json');
  expect(out).toMatch(/-r-{8}\s+1 999\s+999\s+\d+ .* user\.json/);
  expect(out).toContain('"application_password":"demo-password-from-mint"');
  expect(out).toMatch(/echo \$DEMO_API_KEY'.*\n\s+demo-api-key-kms-4711\n/);
  expect(out).toContain('contain the plaintext: 0');
  expect(out).toMatch(/"stackName": "demo-stack",[\s\S]*"status": "SUCCESS"/);
  expect(out).toMatch(/^\s+total\s+[0-9.]+ s$/m);
}

describe.sequential('scripts/demo', () => {
  it('--keep boots the demo instance and leaves it running; --stop stops exactly what it started', async () => {
    const scratch = await scratchDir('demo');
    // The engine and registry of the test run are reused (and so must be left running). The test
    // holds the taupageapp lock from --keep to --stop, so no other test file takes the container
    // in between (the script would release it when --keep exits).
    const release = await lockApp();
    cleanups.push(release);
    const env = {
      ...process.env,
      TAUPAGE_DEMO_DIR: join(scratch, 'demo'),
      LOCAL_CLOUD_DIR: join(scratch, 'local-cloud'),
      TAUPAGE_APP_LOCK_OWNER: String(process.pid),
    };
    const run = await demo(['--keep'], env);
    expect(run.out).toMatch(/Docker engine answers at /);
    expect(run.code, run.out).toBe(0);
    expectShown(run.out);
    expect(run.out).toContain('Kept running');

    const docker = dockerFromEnv();
    expect((await inspectApp(docker))?.State.Running).toBe(true);
    const port = pidOf(run.out, /runs as taupageapp on port (\d+)/);
    expect((await request(`http://127.0.0.1:${port}/health`)).statusCode).toBe(200);
    const gate = pidOf(run.out, /gate \(pid (\d+)\)/);
    const s3 = pidOf(run.out, /s3rver \(pid (\d+)\)/);
    expect([alive(gate), alive(s3), existsSync(join(scratch, 'local-cloud/local-cloud.json'))]).toEqual([true, true, true]);

    const stop = await demo(['--stop'], env);
    expect(stop.code, stop.out).toBe(0);
    expect(await inspectApp(docker)).toBeUndefined();
    expect([alive(gate), alive(s3), existsSync(join(scratch, 'local-cloud/local-cloud.json'))]).toEqual([false, false, false]);
    expect((await docker.ping()).toString()).toBe('OK');
    expect((await request(`http://${process.env.TAUPAGE_REGISTRY}/v2/`)).statusCode).toBe(200);
    await release();
  });

  it('without a Docker engine it starts dockerd and a registry of its own, and stops them after the run', async () => {
    const work = join(REPO, '.tmp', 'demo-e2e'); // dockerd's overlay2 data must not be on tmpfs
    dirs.push(work);
    const scratch = await scratchDir('demo');
    const env: NodeJS.ProcessEnv = { ...process.env, TAUPAGE_WORK: work, LOCAL_CLOUD_DIR: join(scratch, 'local-cloud') };
    delete env.DOCKER_HOST;
    delete env.TAUPAGE_REGISTRY;
    const run = await demo([], env);
    expect(run.code, run.out).toBe(0);
    expectShown(run.out);
    const systemEngine = existsSync('/var/run/docker.sock');
    if (!systemEngine) {
      const dockerd = pidOf(run.out, /started dockerd \(pid (\d+)\)/);
      const registry = pidOf(run.out, /started docker-registry \(pid (\d+)\)/);
      expect(run.out).toContain(`stopped dockerd (pid ${dockerd})`);
      expect(run.out).toContain(`stopped docker-registry (pid ${registry})`);
      expect([alive(dockerd), alive(registry)]).toEqual([false, false]);
    }
    expect(existsSync(join(scratch, 'local-cloud/local-cloud.json'))).toBe(false);
  });
});
