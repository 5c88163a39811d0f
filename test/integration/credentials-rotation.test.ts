/*! Rotation as an application sees it: a separate reader process reads both files in a tight
 * loop while Mint (the test) rotates them 200 times in a real S3 server and the refresher picks
 * every rotation up. The reader must never find a file missing, empty, partial or invalid, never
 * see a version go backwards, and must end on the newest content. */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { useS3 } from '../harness/lifecycle.js';
import { APP, BUCKET, REGION, clientJson, credentialsInstance, userJson } from '../harness/credentials.js';
import { CredentialsRefresher } from '../../agent/src/steps/credentials/refresh.js';
import { createS3ObjectStore } from '../../agent/src/adapters/aws/s3.js';
import { silentLogger } from '../../agent/src/lib/log.js';

process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
process.env.AWS_EC2_METADATA_DISABLED = 'true';

const READER = fileURLToPath(new URL('../harness/credentials-reader.mjs', import.meta.url));
const ROTATIONS = 200;

const s3 = useS3([BUCKET]);
// A reader left by a failed run would spin on a core for ever.
const readers: ChildProcess[] = [];
afterAll(() => {
  for (const r of readers) if (r.exitCode === null && r.signalCode === null) r.kill('SIGKILL');
});

describe('credentials rotation', () => {
  it(`a reader process never sees a missing, empty, partial or invalid file over ${ROTATIONS} rotations`, async () => {
    await s3.put(BUCKET, `${APP}/user.json`, userJson(0));
    await s3.put(BUCKET, `${APP}/client.json`, clientJson(0));
    const env = await credentialsInstance({ endpoint: s3.endpoint });
    await env.boot();

    const reader = spawn(process.execPath, [READER, env.paths.credentialsDir], { stdio: ['pipe', 'pipe', 'inherit'] });
    readers.push(reader);
    const lines = createInterface({ input: reader.stdout! });
    const next = () => once(lines, 'line').then(([l]) => String(l));
    expect(await next()).toBe('ready');

    const store = createS3ObjectStore({ region: REGION, aws: env.config.aws });
    const refresher = new CredentialsRefresher({ plan: env.plan, store, region: REGION, log: silentLogger(), statusFile: env.paths.credentialsStatus });
    await refresher.prepare();
    let written = 0;
    for (let v = 1; v <= ROTATIONS; v++) {
      // Sizes vary from rotation to rotation, so a half-written file cannot pass for a whole one.
      await s3.put(BUCKET, `${APP}/user.json`, userJson(v, (v * 37) % 300));
      await s3.put(BUCKET, `${APP}/client.json`, clientJson(v, (v * 53) % 300));
      const res = await refresher.pass({ attempts: 3, baseMs: 1, capMs: 5 });
      expect(res.ok, `rotation ${v}: ${JSON.stringify(res.files.map((f) => (f.outcome === 'failed' ? `${f.file}: ${f.error.message}` : f.outcome)))}`).toBe(
        true,
      );
      written += res.files.filter((f) => f.outcome === 'written').length;
    }
    store.close();

    reader.stdin!.write('stop\n');
    const stats = JSON.parse(await next()) as {
      reads: number;
      bad: number;
      badKinds: Record<string, number>;
      regressions: number;
      last: Record<string, number>;
      firstBad?: string;
    };
    await once(reader, 'exit');
    expect(written).toBe(2 * ROTATIONS);
    expect(stats.firstBad).toBeUndefined();
    expect(stats.bad).toBe(0);
    expect(stats.regressions).toBe(0);
    expect(stats.last).toEqual({ 'user.json': ROTATIONS, 'client.json': ROTATIONS });
    // The reader really ran alongside: far more reads than rotations.
    expect(stats.reads).toBeGreaterThan(10 * ROTATIONS);
    expect(await readFile(join(env.paths.credentialsDir, 'user.json'), 'utf8')).toBe(userJson(ROTATIONS, (ROTATIONS * 37) % 300));
  });
});
