import { describe, it, expect } from 'vitest';
import { inspect } from 'node:util';
import { KmsAdapter } from '../../agent/src/adapters/aws/kms.js';
import { CfnAdapter } from '../../agent/src/adapters/aws/cfn.js';
import { Secret } from '../../agent/src/lib/secret.js';
import { deadlineIn } from '../harness/deadline.js';
import type { KmsEncrypted } from '../../agent/src/values/kms.js';
import { fakeKmsCiphertext } from '../fakes/kms.js';
import { useLocalCloud } from '../harness/lifecycle.js';

const ENV_KEYS = { AWS_ACCESS_KEY_ID: 'AKIATESTADAPTERS0001', AWS_SECRET_ACCESS_KEY: 'test-secret', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
Object.assign(process.env, ENV_KEYS);

const enc = (plaintext: string, label = 'environment.X'): KmsEncrypted => ({
  kind: 'kms',
  ciphertext: new Secret(fakeKmsCiphertext(plaintext).toString('base64'), label),
});

const cloud = useLocalCloud({ kms: { region: 'eu-west-1' }, cloudformation: { stacks: { 'my-stack': ['AppServerGroup'] } } });
const opts = () => ({ region: 'eu-west-1', endpoint: cloud.kms.url, timeoutMs: 2_000, attempts: 5, retryBaseMs: 1 });

describe('KMS adapter', () => {
  it('decrypts into a Secret that never prints, in the configured region', async () => {
    const k = new KmsAdapter(opts());
    const s = await k.decrypt(enc('s3cr3t-value', 'environment.DB_PASSWORD'));
    expect(s.reveal()).toBe('s3cr3t-value');
    expect(s.label).toBe('environment.DB_PASSWORD');
    expect(`${s} ${JSON.stringify({ s })} ${inspect(s)}`).not.toContain('s3cr3t-value');
    expect(cloud.kms.calls).toMatchObject([{ operation: 'Decrypt', outcome: 'ok', region: 'eu-west-1', accessKeyId: ENV_KEYS.AWS_ACCESS_KEY_ID }]);
    k.close();
  });

  it('retries ThrottlingException with backoff and succeeds', async () => {
    cloud.kms.faults.throttleNext(3);
    const k = new KmsAdapter(opts());
    expect((await k.decrypt(enc('after-throttling'))).reveal()).toBe('after-throttling');
    expect(cloud.kms.calls.map((c) => c.outcome)).toEqual(['ThrottlingException', 'ThrottlingException', 'ThrottlingException', 'ok']);
    k.close();
  });

  it('gives up on endless throttling with TPG_KMS_UNAVAILABLE', async () => {
    cloud.kms.faults.throttleNext(100);
    const k = new KmsAdapter({ ...opts(), attempts: 3 });
    const err = await k.decrypt(enc('never', 'environment.TOKEN')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TPG_KMS_UNAVAILABLE' });
    expect((err as Error).message).toBe('KMS kept throttling the decryption of environment.TOKEN (3 attempts in eu-west-1)');
    expect(cloud.kms.calls).toHaveLength(3);
    k.close();
  });

  it('does not retry a bad ciphertext and names the value, not its content', async () => {
    const k = new KmsAdapter(opts());
    const bad: KmsEncrypted = { kind: 'kms', ciphertext: new Secret(Buffer.from('not a real ciphertext').toString('base64'), 'logging.scalyr_account_key') };
    const err = await k.decrypt(bad).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TPG_KMS_DECRYPT_FAILED' });
    expect((err as Error).message).toBe('KMS could not decrypt logging.scalyr_account_key: InvalidCiphertextException');
    expect((err as { hint: string }).hint).toMatch(/encrypt the plaintext again/);
    expect(cloud.kms.calls).toHaveLength(1);
    k.close();
  });

  it('decrypts several values concurrently, within its concurrency limit', async () => {
    cloud.kms.faults.delay(100);
    const values = ['one', 'two', 'three', 'four', 'five', 'six'];
    const wide = new KmsAdapter(opts());
    expect((await Promise.all(values.map((v) => wide.decrypt(enc(v))))).map((s) => s.reveal())).toEqual(values);
    expect(cloud.kms.inFlight.max).toBeGreaterThan(1);
    cloud.kms.inFlight.max = 0;
    const narrow = new KmsAdapter({ ...opts(), concurrency: 2 });
    await Promise.all(values.map((v) => narrow.decrypt(enc(v))));
    expect(cloud.kms.inFlight.max).toBe(2);
    wide.close();
    narrow.close();
  });

  it('reports an unreachable KMS as unavailable', async () => {
    await cloud.kms.faults.down('refuse');
    const k = new KmsAdapter({ ...opts(), attempts: 2 });
    const err = await k.decrypt(enc('x')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TPG_KMS_UNAVAILABLE' });
    expect((err as Error).message).toMatch(/could not be reached.*ECONNREFUSED/);
    k.close();
  });
});

describe('CloudFormation adapter', () => {
  const cOpts = () => ({ region: 'eu-west-1', endpoint: cloud.cloudformation.url, timeoutMs: 2_000, attempts: 4, retryBaseMs: 1 });

  it('signals SignalResource with the instance id, retrying throttling', async () => {
    cloud.cloudformation.faults.throttleNext(2);
    const c = new CfnAdapter(cOpts());
    const n = cloud.cloudformation.signals.length;
    await c.signal({ stack: 'my-stack', resource: 'AppServerGroup', uniqueId: 'i-0abc', status: 'SUCCESS' });
    expect(cloud.cloudformation.signals.slice(n)).toMatchObject([
      { stackName: 'my-stack', logicalResourceId: 'AppServerGroup', uniqueId: 'i-0abc', status: 'SUCCESS', region: 'eu-west-1' },
    ]);
    c.close();
  });

  it('fails at once with what CloudFormation said when it refuses the signal', async () => {
    const c = new CfnAdapter(cOpts());
    const before = cloud.cloudformation.requests.length;
    const err = await c.signal({ stack: 'other-stack', resource: 'AppServerGroup', uniqueId: 'i-0abc', status: 'FAILURE' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TPG_SIGNAL_FAILED' });
    expect((err as Error).message).toBe(
      'CloudFormation refused the FAILURE signal to other-stack/AppServerGroup: ValidationError: Stack with id other-stack does not exist',
    );
    expect(cloud.cloudformation.requests.length - before).toBe(1);
    c.close();
  });

  it('gives up after its attempts when CloudFormation keeps failing', async () => {
    cloud.cloudformation.faults.failNext(10, 500);
    const c = new CfnAdapter({ ...cOpts(), attempts: 3 });
    const err = await c.signal({ stack: 'my-stack', resource: 'AppServerGroup', uniqueId: 'i-0abc', status: 'SUCCESS' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TPG_SIGNAL_FAILED' });
    expect((err as Error).message).toMatch(/failed after 3 attempts/);
    c.close();
  });
});

describe('AWS calls retry until the deadline their signal carries, not a count', () => {
  it('CloudFormation: eight throttles in a row (attempts 4) and the signal still goes out', async () => {
    cloud.cloudformation.faults.throttleNext(8);
    const c = new CfnAdapter({ region: 'eu-west-1', endpoint: cloud.cloudformation.url, timeoutMs: 2_000, attempts: 4, retryBaseMs: 1, retryCapMs: 20 });
    const d = deadlineIn(30_000);
    const before = cloud.cloudformation.requests.length;
    await c.signal({ stack: 'my-stack', resource: 'AppServerGroup', uniqueId: 'i-0abc', status: 'FAILURE' }, d.signal);
    expect(cloud.cloudformation.requests.length - before).toBe(9);
    expect(cloud.cloudformation.signals.at(-1)).toMatchObject({ status: 'FAILURE' });
    d.dispose();
    c.close();
  });

  it('KMS: throttled ten times (attempts 3) and the value still decrypts', async () => {
    cloud.kms.faults.throttleNext(10);
    const k = new KmsAdapter({ ...opts(), attempts: 3, retryCapMs: 20 });
    const d = deadlineIn(30_000);
    expect((await k.decrypt(enc('patience'), d.signal)).reveal()).toBe('patience');
    expect(cloud.kms.calls).toHaveLength(11);
    d.dispose();
    k.close();
  });

  it('KMS throttling without end: more attempts than the count, then the throttling is the reason', async () => {
    cloud.kms.faults.throttleNext(100_000);
    const k = new KmsAdapter({ ...opts(), attempts: 3, retryCapMs: 50 });
    const d = deadlineIn(1_500);
    const err = await k.decrypt(enc('never', 'environment.TOKEN'), d.signal).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'TPG_KMS_UNAVAILABLE',
      message: expect.stringMatching(/^KMS kept throttling the decryption of environment.TOKEN \(\d+ attempts/),
    });
    expect(cloud.kms.calls.length).toBeGreaterThan(3);
    d.dispose();
    k.close();
  });

  it('a KMS that hangs: the error says KMS did not answer (the root cause), not only that time ran out', async () => {
    cloud.kms.faults.delay(10_000);
    const k = new KmsAdapter({ ...opts(), timeoutMs: 300 });
    const d = deadlineIn(1_000);
    const err = await k.decrypt(enc('slow', 'environment.SLOW'), d.signal).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TPG_KMS_UNAVAILABLE' });
    expect((err as Error).message).toMatch(
      /KMS .* could not be reached to decrypt environment.SLOW: KMS Decrypt of environment.SLOW did not answer within 300 ms/,
    );
    d.dispose();
    k.close();
  });
});
