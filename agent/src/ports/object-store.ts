/*! Reading objects from a bucket, as the credentials refresher needs it: a conditional GET that
 * says "not modified" when the caller's ETag still matches. Implemented over @aws-sdk/client-s3 in
 * adapters/aws/s3.ts. Bodies are `Secret`s because the only objects read are Mint credentials. */
import type { Secret } from '../lib/secret.js';

export type GetObjectResult = { status: 'ok'; body: Secret; etag: string; bytes: number } | { status: 'not-modified'; etag: string };

export interface GetObjectOptions {
  /** The ETag the caller holds; a match answers `not-modified` without a body. */
  ifNoneMatch?: string;
  signal?: AbortSignal;
}

export interface ObjectStore {
  /**
   * One attempt (the caller owns retries), bounded by the store's request timeout.
   * Throws AgentError: TPG_S3_ACCESS_DENIED, TPG_S3_NOT_FOUND, TPG_S3_WRONG_REGION (not retriable),
   * TPG_S3_UNAVAILABLE (throttling, 5xx, network, timeout; retriable), TPG_CANCELLED.
   */
  get(bucket: string, key: string, options?: GetObjectOptions): Promise<GetObjectResult>;
  /** Release sockets (the watcher keeps one store for its life). */
  close(): void;
}
