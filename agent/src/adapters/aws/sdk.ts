/*! What every AWS SDK client of the agent shares: client settings (region, endpoint, timeouts,
 * the SDK's own retries off because lib/retry does them), how an SDK error is classified, and the
 * retry loop around one call.
 *
 * Credentials are the SDK's standard provider chain: environment variables, then (on EC2) the
 * instance role from the metadata service. */
import { AgentError, type ErrorCode } from '../../lib/errors.js';
import { retryCall, withTimeout } from '../../lib/retry.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/log.js';

export interface AwsCallOptions {
  region: string;
  /** e.g. http://127.0.0.1:4566; default: the service's public endpoint for the region. */
  endpoint?: string;
  /** Per request. */
  timeoutMs: number;
  /** Attempts per call, the first included (ignored where `deadline` bounds the call). */
  attempts: number;
  /** Retry until this (clock ms) instead of a count: no attempt starts and no sleep ends after it. */
  deadline?: number;
  retryBaseMs?: number;
  retryCapMs?: number;
  clock?: Clock;
  random?: () => number;
  log?: Logger;
  /** The agent's metadata endpoint, for the SDK's instance-role credential provider. */
  metadataEndpoint?: string;
}

/**
 * The SDK's instance-role credential provider reads its endpoint from the environment only: keep
 * it on the metadata service the agent uses (agent.yaml metadata.endpoint). Every AWS client the
 * agent makes calls this (KMS, CloudFormation, S3).
 */
export function useMetadataEndpoint(endpoint: string | undefined): void {
  if (endpoint && !process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT && endpoint !== 'http://169.254.169.254') {
    process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = endpoint;
  }
}

/** Constructor settings for an SDK v3 client. */
export function sdkClientConfig(o: AwsCallOptions) {
  // The image pins its Node; the SDK's "upgrade Node" notice would only clutter the boot log.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  useMetadataEndpoint(o.metadataEndpoint);
  return {
    region: o.region,
    ...(o.endpoint ? { endpoint: o.endpoint } : {}),
    maxAttempts: 1,
    requestHandler: { connectionTimeout: o.timeoutMs, requestTimeout: o.timeoutMs },
  };
}

/** Error names AWS uses for "slow down" and "try again". */
const RETRIABLE_NAMES = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'RequestThrottled',
  'SlowDown',
  'KMSInternalException',
  'DependencyTimeoutException',
  'InternalFailure',
  'InternalError',
  'ServiceUnavailable',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'CredentialsProviderError',
]);

export interface AwsErrorInfo {
  name: string;
  status?: number;
  message: string;
  throttled: boolean;
  retriable: boolean;
}

export function awsErrorInfo(e: unknown): AwsErrorInfo {
  const err = e as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown } | undefined;
  const name = err?.name ?? 'Error';
  const status = err?.$metadata?.httpStatusCode;
  const throttled = /thrott|limitexceeded|toomanyrequests|slowdown/i.test(name) || status === 429;
  // No HTTP status means the request never got an answer: refused, reset, timed out.
  const network = status === undefined && (typeof err?.code === 'string' || name === 'TimeoutError' || name === 'AbortError' || name === 'Error');
  const retriable = throttled || RETRIABLE_NAMES.has(name) || (status !== undefined && status >= 500) || network || Boolean(err?.$retryable);
  const message = (err?.message && err.message !== 'UnknownError' ? err.message : name).replace(/\s+/g, ' ').trim();
  return {
    name,
    ...(status !== undefined ? { status } : {}),
    message: err?.code && !message.includes(err.code) ? `${message} (${err.code})` : message,
    throttled,
    retriable,
  };
}

/**
 * One SDK call with a timeout per attempt and bounded, jittered retries. Errors that retrying
 * cannot fix end at once; `fail` turns the last error into the AgentError the caller reports.
 */
export async function callAws<T>(
  what: string,
  o: AwsCallOptions,
  send: (signal: AbortSignal) => Promise<T>,
  fail: (info: AwsErrorInfo, attempts: number) => { code: ErrorCode; message: string; hint?: string },
  signal?: AbortSignal,
): Promise<T> {
  return retryCall(
    async () => {
      try {
        return await withTimeout(o.timeoutMs, what, send, signal ? { signal } : {});
      } catch (e) {
        const info = awsErrorInfo(e);
        // Carry the classification on the error so lib/retry can decide.
        throw Object.assign(new AgentError('TPG_TIMEOUT', info.message, { cause: e, retriable: info.retriable }), { aws: info });
      }
    },
    {
      attempts: o.deadline === undefined ? o.attempts : Number.POSITIVE_INFINITY,
      ...(o.deadline === undefined ? {} : { deadline: o.deadline }),
      baseMs: o.retryBaseMs ?? 200,
      capMs: o.retryCapMs ?? 5_000,
      ...(o.clock ? { clock: o.clock } : {}),
      ...(signal ? { signal } : {}),
      ...(o.random ? { random: o.random } : {}),
    },
    {
      what,
      ...(o.log ? { log: o.log } : {}),
      fields: { call: what },
      fail: (e, { attempts }) => {
        const info = (e as { aws?: AwsErrorInfo }).aws ?? awsErrorInfo(e);
        const f = fail(info, attempts);
        return new AgentError(f.code, f.message, {
          cause: (e as Error).cause ?? e,
          retriable: false,
          ...(f.hint ? { hint: f.hint } : {}),
          details: { call: what, error: info.name, attempts, ...(info.status ? { status: info.status } : {}) },
        });
      },
    },
  );
}
