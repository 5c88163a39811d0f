import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { spawn } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { ImdsClient, type ImdsClientOptions, type ImdsTokenStore } from '../../agent/src/adapters/aws/imds.js';
import { AgentError } from '../../agent/src/lib/errors.js';
import { realClock, type Clock } from '../../agent/src/lib/clock.js';
import { startImds, DEFAULT_IDENTITY, type FakeImds } from '../fakes/imds.js';
import { startKms, type FakeKms } from '../fakes/kms.js';
import { isolatedAwsEnv } from '../fakes/local-cloud.js';

/** A clock the test moves by hand, shared by the client and the fake (sleeps stay real and short). */
function manualClock(): Clock & { advance(ms: number): void } {
  let t = Date.now();
  return {
    now: () => t,
    sleep: realClock.sleep,
    advance: (ms) => {
      t += ms;
    },
  };
}

let imds: FakeImds;
const clients: ImdsClient[] = [];
const client = (o: Partial<ImdsClientOptions> = {}) => {
  const c = new ImdsClient({ endpoint: imds.url, timeoutMs: 1_000, deadlineMs: 5_000, retryBaseMs: 1, random: () => 0, ...o });
  clients.push(c);
  return c;
};

beforeAll(async () => {
  imds = await startImds({ userData: '#taupage-ami-config\napplication_id: x\n' });
});
afterEach(async () => {
  await imds.faults.clear();
  await Promise.all(clients.splice(0).map((c) => c.close()));
});
afterAll(() => imds.close());

describe('IMDSv2 client', () => {
  it('reads user data, identity, signature and meta-data with one token', async () => {
    const before = imds.state.tokensIssued;
    const countBefore = new Map<string, number>();
    for (const r of imds.requests) countBefore.set(r.path, (countBefore.get(r.path) ?? 0) + 1);
    const c = client();
    expect((await c.userData())?.toString()).toBe('#taupage-ami-config\napplication_id: x\n');
    const { document, raw } = await c.identity();
    expect(document).toMatchObject({
      instanceId: DEFAULT_IDENTITY.instanceId,
      region: 'eu-central-1',
      availabilityZone: 'eu-central-1a',
      accountId: '123456789012',
    });
    expect(JSON.parse(raw).instanceId).toBe(DEFAULT_IDENTITY.instanceId);
    expect(await c.identitySignature()).toMatch(/^[A-Za-z0-9+/=\n]+$/);
    // The identity and its signature do not change while the instance runs: each is read once.
    await Promise.all([c.identity(), c.identitySignature()]);
    for (const path of ['/latest/dynamic/instance-identity/document', '/latest/dynamic/instance-identity/pkcs7'])
      expect(imds.requests.filter((r) => r.path === path && r.method === 'GET').length - (countBefore.get(path) ?? 0)).toBe(1);
    expect(await c.metadata('placement/availability-zone')).toBe('eu-central-1a');
    expect(await c.metadata('/local-ipv4')).toBe(DEFAULT_IDENTITY.privateIp);
    expect(await c.metadata('no/such/path')).toBeUndefined();
    expect(imds.state.tokensIssued - before).toBe(1);
    // The token request asked for the longest TTL.
    const put = imds.requests.filter((r) => r.method === 'PUT').at(-1)!;
    expect(put.headers['x-aws-ec2-metadata-token-ttl-seconds']).toBe('21600');
  });

  it('returns undefined when the instance has no user data, and gzip as EC2 stores it (the boot unpacks it)', async () => {
    imds.setUserData(null);
    expect(await client().userData()).toBeUndefined();
    const zipped = gzipSync('#taupage-ami-config\nzipped: true\n');
    imds.setUserData(zipped);
    expect(await client().userData()).toEqual(zipped);
    imds.setUserData('#taupage-ami-config\napplication_id: x\n');
  });

  it('fetches a new token when the old one expires', async () => {
    const clock = manualClock();
    const fake = await startImds({ userData: 'u', clock });
    try {
      const c = new ImdsClient({ endpoint: fake.url, timeoutMs: 1_000, deadlineMs: 5_000, clock });
      clients.push(c);
      await c.userData();
      await c.userData();
      expect(fake.state.tokensIssued).toBe(1);
      clock.advance(21_600_000); // six hours later
      expect((await c.userData())?.toString()).toBe('u');
      expect(fake.state.tokensIssued).toBe(2);
      expect(fake.state.unauthorized).toBe(0); // renewed before use, not after a refusal
    } finally {
      await fake.close();
    }
  });

  it('shares one session token between clients given one store: two reads at once fetch one token', async () => {
    // The boot's client and the credentials' client (adapters/index.ts) share a store.
    const tokens: ImdsTokenStore = {};
    const a = client({ tokens });
    const b = client({ tokens });
    const before = imds.state.tokensIssued;
    const n = imds.requests.length;
    const [userData, { document }] = await Promise.all([a.userData(), b.identity()]);
    expect(userData?.toString()).toContain('#taupage-ami-config');
    expect(document.instanceId).toBe(DEFAULT_IDENTITY.instanceId);
    expect(imds.state.tokensIssued - before).toBe(1);
    expect(imds.requests.slice(n).filter((r) => r.method === 'PUT').length).toBe(1);
    // And later reads of either reuse it.
    await b.userData();
    await a.metadata('instance-id');
    expect(imds.state.tokensIssued - before).toBe(1);
  });

  it('fetches its own token when the caller that began the shared fetch is stopped by its own signal', async () => {
    const tokens: ImdsTokenStore = {};
    const a = client({ tokens });
    const b = client({ tokens });
    imds.faults.delay(300); // the token PUT is still under way when a's caller gives up
    const stopA = new AbortController();
    const first = a.userData(stopA.signal).catch((e: unknown) => e);
    // Every await before a request goes out is a microtask: after one turn of the event loop a's
    // token fetch is under way (the fake answers after 300 ms), and then b has joined it.
    const turn = () => new Promise((r) => setImmediate(r));
    await turn();
    const pending = tokens.pending;
    expect(pending).toBeDefined();
    const second = b.identity();
    await turn();
    expect(tokens.pending).toBe(pending);
    // a's phase ends (e.g. the container's prepare abandoned because a need failed): not retriable.
    stopA.abort(new AgentError('TPG_DEPENDENCY_FAILED', 'not needed any more', { retriable: false }));
    expect(await first).toMatchObject({ code: 'TPG_IMDS_UNAVAILABLE', cause: { code: 'TPG_DEPENDENCY_FAILED' } });
    // b was not stopped: it does not inherit a's cancellation, it fetches its own token and reads.
    expect((await second).document.instanceId).toBe(DEFAULT_IDENTITY.instanceId);
    expect(tokens.token?.value).toBeTruthy();
  });

  it('refreshes the token once on 401 and succeeds', async () => {
    const c = client();
    await c.userData();
    const tokens = imds.state.tokensIssued;
    const refused = imds.state.unauthorized;
    imds.revokeTokens(); // e.g. the metadata service restarted
    expect(await c.metadata('instance-id')).toBe(DEFAULT_IDENTITY.instanceId);
    expect(imds.state.unauthorized - refused).toBe(1);
    expect(imds.state.tokensIssued - tokens).toBe(1);
  });

  it('sends no request without a token: a plain GET is refused by the fake as by EC2', async () => {
    const res = await fetch(`${imds.url}/latest/user-data`);
    expect(res.status).toBe(401);
    const bad = await fetch(`${imds.url}/latest/api/token`, { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '99999' } });
    expect(bad.status).toBe(400);
  });

  it('retries server errors and throttling, then succeeds', async () => {
    const c = client();
    await c.identity(); // token in hand
    const n = imds.requests.length;
    imds.faults.failNext(2, 503);
    expect(await c.metadata('instance-type')).toBe(DEFAULT_IDENTITY.instanceType);
    imds.faults.throttleNext(2);
    expect(await c.metadata('instance-type')).toBe(DEFAULT_IDENTITY.instanceType);
    expect(imds.requests.slice(n).map((r) => r.status)).toEqual([503, 503, 200, 429, 429, 200]);
  });

  it('times out a slow answer, retries, and gives up saying why', async () => {
    imds.faults.delay(400);
    const c = client({ timeoutMs: 50, deadlineMs: 400 });
    const err = await c.userData().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TPG_IMDS_UNAVAILABLE' });
    expect((err as Error).message).toMatch(/did not answer within \d+ ms/);
    expect((err as Error).message).toMatch(/\(\d+ attempts in /);
  });

  it('retries until the overall deadline, not a count, and then says why', async () => {
    imds.faults.failNext(1_000, 500);
    const c = client({ deadlineMs: 2_000, retryBaseMs: 5, random: () => 1 });
    const err = (await c.userData().catch((e: unknown) => e)) as Error & { details: { attempts: number } };
    expect(err).toMatchObject({ code: 'TPG_IMDS_UNAVAILABLE' });
    // The old count was 8 attempts; the backoff (5, 10, 20, ... ms, capped at 2 s) fits more into 2 s.
    expect(err.details.attempts).toBeGreaterThan(8);
    expect(err.message).toMatch(/HTTP 500/);
    imds.faults.failNext(0, 500);
  });

  it('says connection refused when nothing listens', async () => {
    await imds.faults.down('refuse');
    const err = await client({ deadlineMs: 300 })
      .identity()
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TPG_IMDS_UNAVAILABLE' });
    expect((err as Error).message).toMatch(/ECONNREFUSED/);
    expect((err as { hint: string }).hint).toMatch(/metadata/);
  });

  it('retries connections that are reset', async () => {
    await imds.faults.down('reset');
    const c = client({ deadlineMs: 300 });
    const err = await c.userData().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TPG_IMDS_UNAVAILABLE' });
    expect(imds.requests.filter((r) => r.status === 'reset').length).toBeGreaterThanOrEqual(3);
    await imds.faults.up();
    expect((await c.userData())?.toString()).toContain('#taupage-ami-config');
  });
});

describe('fake IMDS with the real AWS SDK', () => {
  let kms: FakeKms;
  beforeAll(async () => {
    kms = await startKms({ acceptedAccessKeys: [imds.state.role!.credentials.AccessKeyId] });
  });
  afterAll(() => kms.close());

  it("serves the instance role credentials the SDK's default provider chain reads", async () => {
    // A separate process with no AWS keys in its environment: the chain must end at IMDS.
    const script = `
      import { KMSClient, EncryptCommand, DecryptCommand } from '@aws-sdk/client-kms';
      const kms = new KMSClient({});
      const enc = await kms.send(new EncryptCommand({ KeyId: 'alias/app', Plaintext: Buffer.from('sdk-roundtrip') }));
      const dec = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob }));
      const creds = await kms.config.credentials();
      console.log(JSON.stringify({ plaintext: Buffer.from(dec.Plaintext).toString(), accessKeyId: creds.accessKeyId }));
    `;
    const env = isolatedAwsEnv({
      AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url,
      AWS_ENDPOINT_URL_KMS: kms.url,
      AWS_REGION: 'eu-central-1',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    });
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env, cwd: process.cwd() });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => (stdout += b));
      child.stderr.on('data', (b: Buffer) => (stderr += b));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual({ plaintext: 'sdk-roundtrip', accessKeyId: imds.state.role!.credentials.AccessKeyId });
    expect(imds.requests.some((r) => r.path === `/latest/meta-data/iam/security-credentials/${imds.state.role!.name}` && r.status === 200)).toBe(true);
    expect(kms.calls.map((c) => [c.operation, c.outcome, c.accessKeyId])).toEqual([
      ['Encrypt', 'ok', imds.state.role!.credentials.AccessKeyId],
      ['Decrypt', 'ok', imds.state.role!.credentials.AccessKeyId],
    ]);
  });
});
