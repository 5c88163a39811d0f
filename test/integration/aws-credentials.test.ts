// Every AWS client takes its credentials through the agent's own metadata client (the agent's
// timeouts, retries and deadline), not the SDK's provider defaults (1 s, no retries): a metadata
// service answering in 1-2 s no longer fails KMS, S3 and the CloudFormation signal, and when it
// does not answer at all the error says so instead of "access denied".
import { describe, it, expect, beforeEach } from 'vitest';
import { realPorts } from '../../agent/src/adapters/index.js';
import { configFromText } from '../../agent/src/config/load.js';
import { deadlineIn } from '../harness/deadline.js';
import { Secret } from '../../agent/src/lib/secret.js';
import { instanceCredentials } from '../../agent/src/adapters/aws/credentials.js';
import { fakeKmsCiphertext } from '../fakes/kms.js';
import { useLocalCloud, useS3 } from '../harness/lifecycle.js';
import type { KmsEncrypted } from '../../agent/src/values/kms.js';

// As on an instance: no keys in the environment, the role's from the metadata service.
for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) delete process.env[k];
process.env.AWS_CONFIG_FILE = '/nonexistent/aws-config';
process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/aws-credentials';

const ROLE_KEY = 'ASIALOCALCLOUD000001';
const BUCKET = 'exampleorg-stups-mint-123456789012-eu-central-1';
const cloud = useLocalCloud({ cloudformation: { stacks: { 'my-stack': ['AppServerGroup'] } } });
const s3 = useS3([BUCKET], { accessKeyIds: [ROLE_KEY] });

const enc = (plaintext: string): KmsEncrypted => ({ kind: 'kms', ciphertext: new Secret(fakeKmsCiphertext(plaintext).toString('base64'), 'environment.X') });

/** The real ports as a boot makes them, with the agent's metadata settings (2 s per request). */
function ports(metadata = 'timeout_ms: 2000\n  deadline_seconds: 20\n  retry_base_ms: 10') {
  const { config } = configFromText(
    `metadata:\n  endpoint: ${cloud.imds.url}\n  ${metadata}\naws:\n  region: ${cloud.region}\n  s3_force_path_style: true\n  request_timeout_ms: 8000\n  retry_base_ms: 5\n  endpoints:\n    kms: ${cloud.kms.url}\n    cloudformation: ${cloud.cloudformation.url}\n    s3: ${s3.endpoint}\n`,
    'agent.yaml',
  );
  return realPorts({ config }).forRegion(cloud.region);
}

describe('AWS credentials through the agent metadata client', () => {
  beforeEach(async () => {
    await s3.put(BUCKET, 'my-app/user.json', '{"application_username":"u","application_password":"p"}');
  });

  it('a metadata service answering in 1.5 s: KMS, S3 and the CloudFormation signal all work (the SDK default waited 1 s)', async () => {
    cloud.imds.faults.delay(1_500);
    const p = ports();
    const d = deadlineIn(60_000);
    try {
      expect((await p.kms.decrypt(enc('slow-but-fine'), d.signal)).reveal()).toBe('slow-but-fine');
      expect(cloud.kms.calls.at(-1)).toMatchObject({ outcome: 'ok', accessKeyId: ROLE_KEY });
      const got = await p.objectStore.get(BUCKET, 'my-app/user.json', { signal: d.signal });
      expect(got.status).toBe('ok');
      await p.stackSignal.signal({ stack: 'my-stack', resource: 'AppServerGroup', uniqueId: 'i-0abc', status: 'SUCCESS' }, d.signal);
      expect(cloud.cloudformation.signals.at(-1)).toMatchObject({ status: 'SUCCESS' });
    } finally {
      d.dispose();
      for (const c of Object.values(p)) await (c as { close?: () => unknown }).close?.();
    }
  }, 60_000);

  it('the metadata service down: KMS and S3 fail with TPG_IMDS_UNAVAILABLE saying so, not TPG_S3_ACCESS_DENIED', async () => {
    await cloud.imds.faults.down('refuse');
    const p = ports('timeout_ms: 200\n  deadline_seconds: 1\n  retry_base_ms: 10');
    try {
      const s3err = await p.objectStore.get(BUCKET, 'my-app/user.json').catch((e: unknown) => e);
      expect(s3err).toMatchObject({ code: 'TPG_IMDS_UNAVAILABLE' });
      expect((s3err as Error).message).toMatch(
        /instance role's AWS credentials could not be read: the instance metadata service at .* did not answer .*ECONNREFUSED/,
      );
      const d = deadlineIn(3_000);
      const kmsErr = await p.kms.decrypt(enc('x'), d.signal).catch((e: unknown) => e);
      d.dispose();
      expect(kmsErr).toMatchObject({ code: 'TPG_IMDS_UNAVAILABLE' });
      expect((kmsErr as Error).message).toMatch(/^KMS Decrypt of environment.X: the instance role's AWS credentials could not be read/);
      expect(cloud.kms.calls).toHaveLength(0);
    } finally {
      for (const c of Object.values(p)) await (c as { close?: () => unknown }).close?.();
    }
  });

  it('no instance profile: TPG_AWS_CREDENTIALS, and keys in the environment win over the role', async () => {
    const imds = { metadata: async () => undefined };
    await expect(instanceCredentials(() => imds, { env: {} })()).rejects.toMatchObject({ code: 'TPG_AWS_CREDENTIALS', message: /no IAM role/ });
    expect(await instanceCredentials(() => imds, { env: { AWS_ACCESS_KEY_ID: 'AKIAENV', AWS_SECRET_ACCESS_KEY: 's' } })()).toMatchObject({
      accessKeyId: 'AKIAENV',
    });
  });

  it('the role credentials are fetched once and kept until shortly before they expire', async () => {
    const p = ports();
    const d = deadlineIn(30_000);
    try {
      const before = cloud.imds.requests.filter((r) => r.path.includes('security-credentials')).length;
      await p.kms.decrypt(enc('a'), d.signal);
      await p.kms.decrypt(enc('b'), d.signal);
      await p.stackSignal.signal({ stack: 'my-stack', resource: 'AppServerGroup', uniqueId: 'i-0abc', status: 'SUCCESS' }, d.signal);
      // The role name, then its credentials: once for all three calls.
      expect(cloud.imds.requests.filter((r) => r.path.includes('security-credentials')).length - before).toBe(2);
    } finally {
      d.dispose();
      for (const c of Object.values(p)) await (c as { close?: () => unknown }).close?.();
    }
  });
});
