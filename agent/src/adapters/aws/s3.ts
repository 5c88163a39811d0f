/*! ObjectStore over @aws-sdk/client-s3: one conditional GetObject per call, a timeout around the
 * whole exchange (headers and body), and S3's answers turned into AgentErrors that say what to do.
 *
 * Credentials come from the SDK's standard provider chain (the instance role through IMDS on an
 * instance). The SDK's own retries are off (maxAttempts 1): lib/retry owns retrying, so the boot
 * deadline and the watcher's SIGTERM bound every wait. */
import { S3Client, GetObjectCommand, type GetObjectCommandOutput } from '@aws-sdk/client-s3';
import type { GetObjectOptions, GetObjectResult, ObjectStore } from '../../ports/object-store.js';
import type { AgentConfig } from '../../config/schema.js';
import { AgentError, isAgentError } from '../../lib/errors.js';
import { withTimeout } from '../../lib/retry.js';
import { credentialsFailure, sdkClientConfig } from './sdk.js';
import type { CredentialsProvider } from './credentials.js';
import { Secret } from '../../lib/secret.js';

export interface S3StoreOptions {
  /** The instance's region (or the aws.region override). */
  region: string;
  aws: Pick<AgentConfig['aws'], 'endpoints' | 's3_force_path_style' | 'request_timeout_ms'>;
  /** adapters/aws/credentials.ts (as for KMS and CloudFormation), or fixed keys in tests; default: the SDK's chain. */
  credentials?: CredentialsProvider | { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

interface S3ErrorLike {
  name?: string;
  Code?: string;
  Region?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { headers?: Record<string, string | undefined> };
  code?: string;
}

export function createS3ObjectStore(options: S3StoreOptions): ObjectStore {
  const endpoint = options.aws.endpoints.s3;
  const timeoutMs = options.aws.request_timeout_ms;
  const client = new S3Client({
    ...sdkClientConfig({ region: options.region, ...(endpoint ? { endpoint } : {}), timeoutMs }),
    forcePathStyle: options.aws.s3_force_path_style,
    ...(options.credentials ? { credentials: options.credentials } : {}),
    // Like berry: a bucket in another region answers 301 with its region; the SDK retries there once.
    followRegionRedirects: true,
    // Checksums only where S3 requires them: these objects are small, and with the SDK default
    // (WHEN_SUPPORTED) s3rver, the S3 the tests run against, mis-stores aws-chunked uploads.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { connectionTimeout: Math.min(timeoutMs, 5_000), requestTimeout: timeoutMs },
  });

  return {
    async get(bucket: string, key: string, opts: GetObjectOptions = {}): Promise<GetObjectResult> {
      const where = { bucket, key, region: options.region };
      try {
        return await withTimeout(timeoutMs, `S3 GetObject s3://${bucket}/${key}`, (signal) => getOnce(client, bucket, key, opts.ifNoneMatch, signal), {
          code: 'TPG_S3_UNAVAILABLE',
          ...(opts.signal ? { signal: opts.signal } : {}),
          hint: 'S3 did not answer in time; it is retried with backoff. Check the endpoint and the network path to S3 (VPC endpoint, NAT, proxy).',
        });
      } catch (e) {
        throw mapS3Error(e, where, opts.signal);
      }
    },
    close() {
      client.destroy();
    },
  };
}

async function getOnce(client: S3Client, bucket: string, key: string, ifNoneMatch: string | undefined, signal: AbortSignal): Promise<GetObjectResult> {
  let res: GetObjectCommandOutput;
  try {
    res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...(ifNoneMatch ? { IfNoneMatch: ifNoneMatch } : {}) }), { abortSignal: signal });
  } catch (e) {
    // S3 answers a matching If-None-Match with 304, which the SDK throws (s3rver names it 'Unknown').
    if ((e as S3ErrorLike).$metadata?.httpStatusCode === 304) return { status: 'not-modified', etag: ifNoneMatch ?? '' };
    throw e;
  }
  const body = res.Body as (NodeJS.ReadableStream & { destroy?(e?: Error): void; transformToByteArray(): Promise<Uint8Array> }) | undefined;
  if (!body) throw new AgentError('TPG_S3_UNAVAILABLE', `S3 answered GetObject s3://${bucket}/${key} without a body`, { retriable: true });
  // The abort must also cut a body that is still streaming (a stalled or cancelled download).
  const onAbort = () => body.destroy?.(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
  signal.addEventListener('abort', onAbort, { once: true });
  let bytes: Buffer;
  try {
    bytes = Buffer.from(await body.transformToByteArray());
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  if (res.ContentLength !== undefined && res.ContentLength !== bytes.length) {
    bytes.fill(0);
    throw new AgentError('TPG_S3_UNAVAILABLE', `the download of s3://${bucket}/${key} was cut short (${bytes.length} of ${res.ContentLength} bytes)`, {
      retriable: true,
    });
  }
  const text = bytes.toString('utf8');
  const length = bytes.length;
  bytes.fill(0); // the plaintext lives on only inside the Secret
  return { status: 'ok', body: new Secret(text, `s3://${bucket}/${key}`), etag: res.ETag ?? '', bytes: length };
}

/** S3's and the network's failures, as errors that say what to do. Exported for unit tests. */
export function mapS3Error(e: unknown, where: { bucket: string; key: string; region: string }, signal?: AbortSignal): AgentError {
  if (signal?.aborted) {
    const reason: unknown = signal.reason;
    return isAgentError(reason)
      ? reason
      : new AgentError('TPG_CANCELLED', `GetObject s3://${where.bucket}/${where.key} was cancelled`, { retriable: false, cause: e });
  }
  if (isAgentError(e)) return e;
  // No credentials (the metadata service slow or down, no role): that, not "access denied".
  const credentials = credentialsFailure(e);
  if (credentials) return credentials;
  const err = (e ?? {}) as S3ErrorLike;
  const status = err.$metadata?.httpStatusCode;
  const name = err.Code ?? err.name ?? 'Error';
  const url = `s3://${where.bucket}/${where.key}`;
  const details = { bucket: where.bucket, key: where.key, region: where.region, ...(status ? { status } : {}), s3Code: name };
  const app = where.key.split('/')[0];
  const bucketRegion = err.$response?.headers?.['x-amz-bucket-region'] ?? err.Region;

  if (
    status === 301 ||
    status === 307 ||
    name === 'PermanentRedirect' ||
    name === 'AuthorizationHeaderMalformed' ||
    name === 'IllegalLocationConstraintException'
  ) {
    return new AgentError(
      'TPG_S3_WRONG_REGION',
      `bucket ${where.bucket} is not in ${where.region}${bucketRegion ? ` but in ${bucketRegion}` : ''} (${status ?? ''} ${name})`.replace(' ( ', ' ('),
      {
        hint: `Mint writes to one bucket per region (<prefix>-stups-mint-<account>-<region>): set mint_bucket to this region's bucket${bucketRegion ? `, or set aws.region: ${bucketRegion} in the agent config` : ''}`,
        retriable: false,
        cause: e,
        details: { ...details, ...(bucketRegion ? { bucketRegion } : {}) },
      },
    );
  }
  if (status === 403 || name === 'AccessDenied' || name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch' || name === 'ExpiredToken') {
    return new AgentError('TPG_S3_ACCESS_DENIED', `S3 denied GetObject on ${url} (${status ?? 403} ${name})`, {
      hint: `the instance role's policy must allow s3:GetObject on arn:aws:s3:::${where.bucket}/${app}/* (Senza adds it for mint_bucket)${name === 'AccessDenied' ? '' : `; ${name} means the instance's AWS credentials themselves are wrong or expired`}`,
      retriable: false,
      cause: e,
      details,
    });
  }
  if (name === 'CredentialsProviderError' || /could not load credentials/i.test(err.message ?? '')) {
    return new AgentError('TPG_AWS_CREDENTIALS', `no AWS credentials to read ${url}: ${err.message ?? name}`, {
      hint: 'the instance needs an instance profile (IAM role) whose credentials the metadata service hands out; check iam/security-credentials/ in the instance metadata',
      retriable: true,
      cause: e,
      details,
    });
  }
  if (status === 404 || name === 'NoSuchKey' || name === 'NoSuchBucket' || name === 'NotFound') {
    const noBucket = name === 'NoSuchBucket';
    return new AgentError('TPG_S3_NOT_FOUND', noBucket ? `bucket ${where.bucket} does not exist` : `${url} does not exist`, {
      hint: noBucket
        ? 'mint_bucket is wrong: Mint buckets are named <prefix>-stups-mint-<account>-<region>'
        : `Mint has not synced ${app}'s credentials yet (it does so within minutes of the application's registration), or application_id (${app}) or mint_bucket (${where.bucket}) is wrong`,
      retriable: false,
      cause: e,
      details,
    });
  }
  if (status === 429 || (status !== undefined && status >= 500) || name === 'SlowDown' || name === 'ThrottlingException' || name === 'RequestTimeout') {
    return new AgentError('TPG_S3_UNAVAILABLE', `S3 answered GetObject on ${url} with ${status ?? ''} ${name}`.replace('with  ', 'with '), {
      hint: 'S3 is throttling or failing; the request is retried with backoff and jitter, and the current credentials files are kept meanwhile',
      retriable: true,
      cause: e,
      details,
    });
  }
  if (status === undefined) {
    return new AgentError('TPG_S3_UNAVAILABLE', `S3 could not be reached for ${url}: ${err.code ?? name}: ${err.message ?? ''}`.trimEnd(), {
      hint: `check the S3 endpoint${where.region ? ` for ${where.region}` : ''} and the network path to it (VPC endpoint, NAT, proxy); the request is retried with backoff`,
      retriable: true,
      cause: e,
      details,
    });
  }
  return new AgentError('TPG_S3_UNAVAILABLE', `S3 refused GetObject on ${url}: ${status} ${name}: ${err.message ?? ''}`.trimEnd(), {
    hint: 'an unexpected S3 answer; the request is retried at the next refresh',
    retriable: false,
    cause: e,
    details,
  });
}
