/*! A fake AWS KMS speaking JSON 1.1 (`X-Amz-Target: TrentService.<Op>`,
 * `application/x-amz-json-1.1`): Encrypt and Decrypt, with errors in KMS's wire shape
 * (`{"__type": "...", "message": "..."}`, HTTP 400).
 *
 * Ciphertexts are AES-256-GCM under a key derived from the key id, so `fakeKmsCiphertext()` can
 * make them in a test without a running server, and a blob from one run decrypts in the next.
 * The encryption context is bound as additional data, as in KMS. Signatures are not checked; the
 * SigV4 scope (access key id, region) of each call is recorded for assertions. */
import { createCipheriv, createDecipheriv, createHash, randomBytes, randomUUID } from 'node:crypto';
import { startFakeServer, sigv4Scope, type FakeRequest, type FakeResponse, type FakeServer } from './http-fake.js';

export const DEFAULT_KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';
const MAGIC = Buffer.from('FKMS');

export interface KmsCall {
  operation: string;
  accessKeyId?: string;
  region?: string;
  keyId?: string;
  outcome: 'ok' | string;
}

export interface KmsOptions {
  region?: string;
  accountId?: string;
  /** Key ids that exist; default: any id. */
  keys?: string[];
  /** Access key ids accepted; default: any signed request. Others get UnrecognizedClientException. */
  acceptedAccessKeys?: string[];
  port?: number;
  /** Address to listen on (default 127.0.0.1), e.g. a Docker bridge's, for a booted image. */
  host?: string;
}

export interface FakeKms extends FakeServer {
  calls: KmsCall[];
  /** A ciphertext blob this server decrypts (same as fakeKmsCiphertext). */
  encrypt(plaintext: string | Buffer, options?: { keyId?: string; context?: Record<string, string> }): Buffer;
}

function keyFor(keyId: string): Buffer {
  return createHash('sha256').update(`taupage-local-cloud-kms:${keyId}`).digest();
}

function aad(context: Record<string, string> | undefined): Buffer {
  const entries = Object.entries(context ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.from(JSON.stringify(entries));
}

/** A CiphertextBlob the fake KMS decrypts: FKMS | len | keyId | iv(12) | tag(16) | data. */
export function fakeKmsCiphertext(plaintext: string | Buffer, options: { keyId?: string; context?: Record<string, string> } = {}): Buffer {
  const keyId = options.keyId ?? DEFAULT_KEY_ID;
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyFor(keyId), iv);
  cipher.setAAD(aad(options.context));
  const data = Buffer.concat([cipher.update(typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext), cipher.final()]);
  const id = Buffer.from(keyId, 'utf8');
  return Buffer.concat([MAGIC, Buffer.from([id.length]), id, iv, cipher.getAuthTag(), data]);
}

/** `aws:kms:<base64>` for user data. */
export function kmsValue(plaintext: string, options: { keyId?: string; context?: Record<string, string> } = {}): string {
  return `aws:kms:${fakeKmsCiphertext(plaintext, options).toString('base64')}`;
}

function openCiphertext(blob: Buffer, context: Record<string, string> | undefined): { keyId: string; plaintext: Buffer } | undefined {
  if (blob.length < 6 || !blob.subarray(0, 4).equals(MAGIC)) return undefined;
  const idLen = blob[4]!;
  const keyId = blob.subarray(5, 5 + idLen).toString('utf8');
  const iv = blob.subarray(5 + idLen, 17 + idLen);
  const tag = blob.subarray(17 + idLen, 33 + idLen);
  const data = blob.subarray(33 + idLen);
  if (tag.length !== 16) return undefined;
  try {
    const d = createDecipheriv('aes-256-gcm', keyFor(keyId), iv);
    d.setAAD(aad(context));
    d.setAuthTag(tag);
    return { keyId, plaintext: Buffer.concat([d.update(data), d.final()]) };
  } catch {
    return undefined;
  }
}

export async function startKms(options: KmsOptions = {}): Promise<FakeKms> {
  const region = options.region ?? 'eu-central-1';
  const account = options.accountId ?? '123456789012';
  const calls: KmsCall[] = [];
  const arn = (keyId: string) => (keyId.startsWith('arn:') ? keyId : `arn:aws:kms:${region}:${account}:key/${keyId.replace(/^alias\//, '')}`);
  const json = (status: number, body: unknown): FakeResponse => ({
    status,
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() },
  });
  const fail = (type: string, message: string, status = 400) => json(status, { __type: type, message });
  const operation = (req: FakeRequest) => String(req.headers['x-amz-target'] ?? '').replace(/^TrentService\./, '');

  const handle = (req: FakeRequest): FakeResponse => {
    const op = operation(req);
    const scope = sigv4Scope(req.headers);
    const call: KmsCall = { operation: op, outcome: 'ok', ...(scope ? { accessKeyId: scope.accessKeyId, region: scope.region } : {}) };
    calls.push(call);
    const done = (r: FakeResponse, outcome: string) => {
      call.outcome = outcome;
      return r;
    };
    if (req.method !== 'POST' || !String(req.headers['content-type'] ?? '').startsWith('application/x-amz-json-1.1')) {
      return done(fail('UnknownOperationException', 'expected POST application/x-amz-json-1.1'), 'UnknownOperationException');
    }
    if (!scope) return done(fail('MissingAuthenticationTokenException', 'Missing Authentication Token'), 'MissingAuthenticationTokenException');
    if (options.acceptedAccessKeys && !options.acceptedAccessKeys.includes(scope.accessKeyId)) {
      return done(fail('UnrecognizedClientException', 'The security token included in the request is invalid.'), 'UnrecognizedClientException');
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(req.body.toString('utf8') || '{}') as Record<string, unknown>;
    } catch {
      return done(fail('SerializationException', 'Start of structure or map found where not expected.'), 'SerializationException');
    }
    const context = body.EncryptionContext as Record<string, string> | undefined;
    if (op === 'Decrypt') {
      if (typeof body.CiphertextBlob !== 'string' || body.CiphertextBlob === '')
        return done(
          fail('ValidationException', "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null"),
          'ValidationException',
        );
      const opened = openCiphertext(Buffer.from(body.CiphertextBlob, 'base64'), context);
      if (!opened) return done(fail('InvalidCiphertextException', ''), 'InvalidCiphertextException');
      call.keyId = opened.keyId;
      if (options.keys && !options.keys.includes(opened.keyId))
        return done(fail('NotFoundException', `Key '${arn(opened.keyId)}' does not exist`), 'NotFoundException');
      return json(200, { KeyId: arn(opened.keyId), Plaintext: opened.plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' });
    }
    if (op === 'Encrypt') {
      if (typeof body.KeyId !== 'string' || typeof body.Plaintext !== 'string')
        return done(fail('ValidationException', 'KeyId and Plaintext are required'), 'ValidationException');
      const keyId = body.KeyId.replace(/^arn:aws:kms:[^:]*:[^:]*:key\//, '');
      call.keyId = keyId;
      if (options.keys && !options.keys.includes(keyId)) return done(fail('NotFoundException', `Key '${arn(keyId)}' does not exist`), 'NotFoundException');
      const blob = fakeKmsCiphertext(Buffer.from(body.Plaintext, 'base64'), { keyId, ...(context ? { context } : {}) });
      return json(200, { CiphertextBlob: blob.toString('base64'), KeyId: arn(keyId), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' });
    }
    return done(fail('UnknownOperationException', `operation ${op || '(none)'} is not supported by the fake KMS`), 'UnknownOperationException');
  };

  const server = await startFakeServer(
    {
      name: 'kms',
      handle,
      throttled: (req) => {
        calls.push({ operation: operation(req), outcome: 'ThrottlingException' });
        return fail('ThrottlingException', 'Rate exceeded');
      },
      error: (status, req) => {
        const type = status >= 500 ? 'KMSInternalException' : 'ValidationException';
        calls.push({ operation: operation(req), outcome: type });
        return fail(type, `injected error ${status}`, status);
      },
    },
    { ...(options.port !== undefined ? { port: options.port } : {}), ...(options.host ? { host: options.host } : {}) },
  );
  return Object.assign(server, { calls, encrypt: fakeKmsCiphertext });
}
