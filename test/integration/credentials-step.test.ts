/*! The credentials boot step and refresh pass against a real S3 server (s3rver on loopback), with
 * a fault-injecting proxy for what s3rver cannot do (throttling, 5xx, cut bodies, redirects). */
import { describe, expect, it } from 'vitest';
import { readFile, stat, writeFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { useFaultProxy, useS3 } from '../harness/lifecycle.js';
import { APP, BUCKET, REGION, SECRET_MARK, clientJson, credentialsInstance, userJson, type CredentialsInstance } from '../harness/credentials.js';
import { applyCredentials } from '../../agent/src/steps/credentials/apply.js';
import { steps } from '../../agent/src/steps/index.js';
import { CredentialsRefresher } from '../../agent/src/steps/credentials/refresh.js';
import { createS3ObjectStore } from '../../agent/src/adapters/aws/s3.js';
import { AgentError } from '../../agent/src/lib/errors.js';

// The SDK's standard provider chain finds these (on an instance: the role via IMDS).
process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
process.env.AWS_EC2_METADATA_DISABLED = 'true';

const s3 = useS3([BUCKET]);
const proxy = useFaultProxy(s3);

async function seed(version: number): Promise<void> {
  await s3.put(BUCKET, `${APP}/user.json`, userJson(version));
  await s3.put(BUCKET, `${APP}/client.json`, clientJson(version));
}

async function local(env: CredentialsInstance, file: string): Promise<string> {
  return readFile(join(env.paths.credentialsDir, file), 'utf8');
}

/** A refresher over the proxy (faults) or S3 directly, with its log lines collected. */
function refresher(env: CredentialsInstance, via: 'proxy' | 's3' = 'proxy', credentials?: { accessKeyId: string; secretAccessKey: string }) {
  const store = createS3ObjectStore({
    region: REGION,
    aws: { ...env.config.aws, endpoints: { s3: via === 'proxy' ? proxy.url : s3.endpoint } },
    ...(credentials ? { credentials } : {}),
  });
  return { store, r: new CredentialsRefresher({ plan: env.plan, store, region: REGION, log: env.log, statusFile: env.paths.credentialsStatus }) };
}

const fast = { attempts: 3, baseMs: 1, capMs: 5 };

function expectNoSecrets(...texts: string[]): void {
  for (const t of texts) expect(t).not.toContain(SECRET_MARK);
}

describe('credentials boot step', () => {
  it('is the apply of the credentials entry in the boot graph', () => {
    expect(steps.find((s) => s.id === 'credentials')?.apply).toBe(applyCredentials);
    expect(steps.find((s) => s.id === 'container')?.needs).toContain('credentials');
  });

  it('fetches both files through the provider chain and writes them for the container user only', async () => {
    await seed(1);
    const env = await credentialsInstance({ endpoint: s3.endpoint });
    await applyCredentials(env.plan, env.context());
    expect(await local(env, 'user.json')).toBe(userJson(1));
    expect(await local(env, 'client.json')).toBe(clientJson(1));
    for (const f of ['user.json', 'client.json']) {
      const s = await stat(join(env.paths.credentialsDir, f));
      expect({ mode: s.mode & 0o7777, uid: s.uid, gid: s.gid }).toEqual({ mode: 0o400, uid: 4242, gid: 4243 });
    }
    const d = await stat(env.paths.credentialsDir);
    expect({ mode: d.mode & 0o7777, uid: d.uid, gid: d.gid }).toEqual({ mode: 0o750, uid: 0, gid: 4243 });
    // Only the two files: no temp file left behind.
    expect((await readdir(env.paths.credentialsDir)).sort()).toEqual(['client.json', 'user.json']);
    const status = await readFile(env.paths.credentialsStatus, 'utf8');
    const parsed = JSON.parse(status);
    expect(parsed).toMatchObject({ bucket: BUCKET, applicationId: APP, region: REGION, ok: true });
    expect(parsed.files['user.json'].etag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(env.records['credentials.user.json.etag']).toBe(parsed.files['user.json'].etag);
    expectNoSecrets(status, env.logText());
  });

  it('owns the files as root when the container runs as the image user (root: true)', async () => {
    await seed(1);
    const env = await credentialsInstance({ endpoint: s3.endpoint, userData: { root: true } });
    await applyCredentials(env.plan, env.context());
    const s = await stat(join(env.paths.credentialsDir, 'client.json'));
    expect({ mode: s.mode & 0o7777, uid: s.uid, gid: s.gid }).toEqual({ mode: 0o400, uid: 0, gid: 0 });
  });

  it('waits for Mint: a 404 at first, then the objects appear, and the boot goes on', async () => {
    await s3.remove(BUCKET, `${APP}/user.json`).catch(() => undefined);
    await s3.put(BUCKET, `${APP}/client.json`, clientJson(2));
    const env = await credentialsInstance({ endpoint: s3.endpoint });
    const boot = applyCredentials(env.plan, env.context({ deadlineMs: 30_000 }));
    // Mint syncs once the step has seen the 404 at least once.
    for (let i = 0; i < 500 && !env.logText().includes('TPG_S3_NOT_FOUND'); i++) await new Promise((r) => setTimeout(r, 10));
    expect(env.logText()).toContain('not available yet');
    await s3.put(BUCKET, `${APP}/user.json`, userJson(2));
    await boot;
    expect(await local(env, 'user.json')).toBe(userJson(2));
  });

  it('fails the boot with TPG_CREDENTIALS_FAILED at the deadline, saying why (404: Mint not synced)', async () => {
    await seed(3);
    const env = await credentialsInstance({ endpoint: s3.endpoint, userData: { application_id: 'not-registered' } });
    const err = (await applyCredentials(env.plan, env.context({ deadlineMs: 1_500 })).catch((e) => e)) as AgentError;
    expect(err).toBeInstanceOf(AgentError);
    expect(err.code).toBe('TPG_CREDENTIALS_FAILED');
    expect(err.details?.lastCode).toBe('TPG_S3_NOT_FOUND');
    expect(err.message).toContain(`s3://${BUCKET}/not-registered/user.json does not exist`);
    expect(err.hint).toMatch(/Mint has not synced .* or application_id \(not-registered\) or mint_bucket .* is wrong/);
  });

  it('403: says which permission the role needs, keeps the current files', async () => {
    await seed(4);
    const env = await credentialsInstance({ endpoint: s3.endpoint });
    await applyCredentials(env.plan, env.context());
    const { store } = refresher(env, 's3', { accessKeyId: 'UNKNOWNKEY', secretAccessKey: 'x' });
    const err = (await applyCredentials(env.plan, env.context({ deadlineMs: 1_000, ports: { objectStore: store } })).catch((e) => e)) as AgentError;
    store.close();
    expect(err.code).toBe('TPG_CREDENTIALS_FAILED');
    expect(err.details?.lastCode).toBe('TPG_S3_ACCESS_DENIED');
    expect(err.hint).toContain(`s3:GetObject on arn:aws:s3:::${BUCKET}/${APP}/*`);
    expect(await local(env, 'user.json')).toBe(userJson(4));
    expectNoSecrets(err.message, err.hint ?? '', JSON.stringify(err), env.logText());
  });
});

describe('credentials refresh pass', () => {
  it('conditional GET: an unchanged object costs no download and the file is not rewritten', async () => {
    await seed(5);
    const env = await credentialsInstance({ endpoint: s3.endpoint });
    const { r, store } = refresher(env);
    await r.prepare();
    expect((await r.pass(fast)).files.map((f) => f.outcome)).toEqual(['written', 'written']);
    const before = await stat(join(env.paths.credentialsDir, 'user.json'));
    proxy.requests.length = 0;
    const second = await r.pass(fast);
    expect(second.files.map((f) => f.outcome)).toEqual(['not-modified', 'not-modified']);
    expect(proxy.requests.map((q) => q.status)).toEqual([304, 304]);
    expect(proxy.requests.every((q) => q.ifNoneMatch?.startsWith('"'))).toBe(true);
    const after = await stat(join(env.paths.credentialsDir, 'user.json'));
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
    // A new process picks the ETags up from the status file: still no download.
    const next = refresher(env);
    await next.r.prepare();
    proxy.requests.length = 0;
    expect((await next.r.pass(fast)).files.map((f) => f.outcome)).toEqual(['not-modified', 'not-modified']);
    // Only the one that Mint rotated is downloaded and replaced.
    await s3.put(BUCKET, `${APP}/client.json`, clientJson(6));
    const third = await next.r.pass(fast);
    expect(third.files.map((f) => f.outcome)).toEqual(['not-modified', 'written']);
    expect(await local(env, 'client.json')).toBe(clientJson(6));
    store.close();
    next.store.close();
  });

  it('a local file changed behind its back is downloaded and restored, owner and mode too', async () => {
    await seed(7);
    const env = await credentialsInstance({ endpoint: s3.endpoint });
    const { r, store } = refresher(env);
    await r.prepare();
    await r.pass(fast);
    await writeFile(join(env.paths.credentialsDir, 'user.json'), '{}', { mode: 0o644 });
    const res = await r.pass(fast);
    expect(res.files[0]!.outcome).toBe('written');
    expect(await local(env, 'user.json')).toBe(userJson(7));
    expect((await stat(join(env.paths.credentialsDir, 'user.json'))).mode & 0o777).toBe(0o400);
    store.close();
  });

  it.each([
    ['not JSON', `application_password=hunter2-${SECRET_MARK}`],
    ['cut short', userJson(99).slice(0, 40)],
    ['missing the password', JSON.stringify({ application_username: 'kio-user', note: SECRET_MARK })],
    ['an array', `["${SECRET_MARK}"]`],
    ['empty', ''],
  ])('an object that is %s never replaces the good file, and the error does not quote it', async (_what, body) => {
    await seed(8);
    const env = await credentialsInstance({ endpoint: s3.endpoint });
    const { r, store } = refresher(env);
    await r.prepare();
    await r.pass(fast);
    await s3.put(BUCKET, `${APP}/user.json`, body);
    const res = await r.pass(fast);
    store.close();
    expect(res.ok).toBe(false);
    const failed = res.files[0]!;
    expect(failed.outcome).toBe('failed');
    if (failed.outcome !== 'failed') return;
    expect(failed.error.code).toBe('TPG_CREDENTIALS_INVALID');
    expect(failed.error.message).toContain('kept the current user.json');
    expect(res.files[1]!.outcome).toBe('not-modified'); // the other file is not held back
    expect(await local(env, 'user.json')).toBe(userJson(8));
    const status = await readFile(env.paths.credentialsStatus, 'utf8');
    expect(JSON.parse(status).files['user.json'].error.code).toBe('TPG_CREDENTIALS_INVALID');
    expectNoSecrets(failed.error.message, JSON.stringify(failed.error), status, env.logText());
  });

  it('throttling and 5xx are retried with backoff; when they last, the files are kept', async () => {
    await seed(9);
    const env = await credentialsInstance({ endpoint: s3.endpoint });
    const { r, store } = refresher(env);
    await r.prepare();
    proxy.faults.push({ kind: 'error', status: 503, code: 'SlowDown' }, { kind: 'error', status: 500, code: 'InternalError' });
    const res = await r.pass(fast);
    expect(res.ok).toBe(true); // two faults, three attempts per file
    expect(await local(env, 'user.json')).toBe(userJson(9));

    await seed(10);
    proxy.always = { kind: 'error', status: 503, code: 'SlowDown' };
    const down = await r.pass(fast);
    proxy.always = undefined;
    expect(down.ok).toBe(false);
    for (const f of down.files) {
      expect(f.outcome).toBe('failed');
      if (f.outcome === 'failed') {
        expect(f.error.code).toBe('TPG_S3_UNAVAILABLE');
        expect(f.error.message).toContain('503 SlowDown');
        expect(f.error.retriable).toBe(true);
      }
    }
    expect(await local(env, 'user.json')).toBe(userJson(9));
    expect(await local(env, 'client.json')).toBe(clientJson(9));
    const recovered = await r.pass(fast);
    expect(recovered.ok).toBe(true);
    expect(await local(env, 'user.json')).toBe(userJson(10));
    store.close();
  });

  it('a body cut short or a reset connection never replaces the file', async () => {
    await seed(11);
    const env = await credentialsInstance({ endpoint: s3.endpoint });
    const { r, store } = refresher(env);
    await r.prepare();
    await r.pass(fast);
    await seed(12);
    proxy.always = { kind: 'truncate' };
    const cut = await r.pass(fast);
    proxy.always = { kind: 'reset' };
    const reset = await r.pass(fast);
    proxy.always = undefined;
    store.close();
    console.log(JSON.stringify([cut, reset].map((r) => r.files.map((f) => (f.outcome === 'failed' ? f.error.message : f.outcome)))));
    for (const res of [cut, reset]) {
      expect(res.ok).toBe(false);
      for (const f of res.files) if (f.outcome === 'failed') expect(f.error.code).toBe('TPG_S3_UNAVAILABLE');
    }
    expect(await local(env, 'user.json')).toBe(userJson(11));
    expect((await readdir(env.paths.credentialsDir)).sort()).toEqual(['client.json', 'user.json']);
  });

  it('a bucket in another region: says where it is and what to set', async () => {
    await seed(13);
    const env = await credentialsInstance({ endpoint: s3.endpoint });
    const { r, store } = refresher(env);
    await r.prepare();
    proxy.always = { kind: 'error', status: 301, code: 'PermanentRedirect', headers: { 'x-amz-bucket-region': 'eu-central-1' } };
    const res = await r.pass(fast);
    proxy.always = undefined;
    store.close();
    const f = res.files[0]!;
    expect(f.outcome).toBe('failed');
    if (f.outcome !== 'failed') return;
    expect(f.error.code).toBe('TPG_S3_WRONG_REGION');
    expect(f.error.message).toContain(`bucket ${BUCKET} is not in ${REGION} but in eu-central-1`);
    expect(f.error.hint).toContain('aws.region: eu-central-1');
  });

  it('a request that never answers times out as S3 unavailable; the files stay', async () => {
    await seed(16);
    const env = await credentialsInstance({
      endpoint: s3.endpoint,
      agent: { aws: { endpoints: { s3: proxy.url }, s3_force_path_style: true, request_timeout_ms: 200 } },
    });
    const { r, store } = refresher(env);
    await r.prepare();
    await r.pass(fast);
    await seed(17);
    proxy.always = { kind: 'hang' };
    const res = await r.pass({ ...fast, attempts: 2 });
    proxy.always = undefined;
    store.close();
    for (const f of res.files) {
      expect(f.outcome).toBe('failed');
      if (f.outcome === 'failed') {
        expect(f.error.code).toBe('TPG_S3_UNAVAILABLE');
        expect(f.error.message).toContain('did not answer within 200 ms');
      }
    }
    expect(await local(env, 'user.json')).toBe(userJson(16));
  });

  it('a credentials directory removed by hand comes back at the next pass', async () => {
    await seed(18);
    const env = await credentialsInstance({ endpoint: s3.endpoint });
    const { r, store } = refresher(env, 's3');
    await r.prepare();
    await r.pass(fast);
    await rm(env.paths.credentialsDir, { recursive: true });
    const res = await r.pass(fast);
    store.close();
    expect(res.files.map((f) => f.outcome)).toEqual(['written', 'written']);
    expect(await local(env, 'client.json')).toBe(clientJson(18));
  });

  it('S3 down, then up: the files are kept, the error says S3 is unreachable, then it resumes', async () => {
    await seed(14);
    const env = await credentialsInstance({ endpoint: s3.endpoint });
    const { r, store } = refresher(env, 's3');
    await r.prepare();
    await r.pass(fast);
    await s3.stop();
    try {
      const down = await r.pass(fast);
      expect(down.ok).toBe(false);
      for (const f of down.files) if (f.outcome === 'failed') expect(f.error.message).toMatch(/S3 could not be reached .*ECONNREFUSED/);
      expect(await local(env, 'user.json')).toBe(userJson(14));
      expect(JSON.parse(await readFile(env.paths.credentialsStatus, 'utf8'))).toMatchObject({
        ok: false,
        files: { 'user.json': { error: { code: 'TPG_S3_UNAVAILABLE' } } },
      });
    } finally {
      await s3.start();
    }
    await seed(15);
    const up = await r.pass(fast);
    store.close();
    expect(up.ok).toBe(true);
    expect(await local(env, 'user.json')).toBe(userJson(15));
    expect(JSON.parse(await readFile(env.paths.credentialsStatus, 'utf8')).ok).toBe(true);
  });
});
