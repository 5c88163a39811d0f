/*! What every AWS SDK client of the agent shares: client settings (region, endpoint, timeouts,
 * the SDK's own retries off because lib/retry does them), credentials (adapters/aws/credentials.ts:
 * environment keys, else the instance role through our IMDS client), how an SDK error is
 * classified, and the retry loop around one call: lib/retry's retryCall, so every call retries
 * until the deadline its signal carries (a boot's), or `attempts` times outside one.
 *
 * A call that fails because its credentials could not be had reports that (TPG_IMDS_UNAVAILABLE,
 * TPG_AWS_CREDENTIALS) and not what the service would have said. */
import { AgentError, isAgentError, type ErrorCode } from '../../lib/errors.js';
import { describeTally, retryCall } from '../../lib/retry.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/log.js';
import type { CredentialsProvider } from './credentials.js';

export interface AwsCallOptions {
  region: string;
  /** e.g. http://127.0.0.1:4566; default: the service's public endpoint for the region. */
  endpoint?: string;
  /** Per request. */
  timeoutMs: number;
  /** Attempts per call, the first included, when no deadline bounds it (a command outside a boot). */
  attempts: number;
  retryBaseMs?: number;
  retryCapMs?: number;
  clock?: Clock;
  random?: () => number;
  log?: Logger;
  /** adapters/aws/credentials.ts (realPorts gives every client the same one); default: the SDK's chain. */
  credentials?: CredentialsProvider;
}

/** Constructor settings for an SDK v3 client. */
export function sdkClientConfig(o: Pick<AwsCallOptions, 'region' | 'endpoint' | 'timeoutMs' | 'credentials'>) {
  // The image pins its Node; the SDK's "upgrade Node" notice would only clutter the boot log.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return {
    region: o.region,
    ...(o.endpoint ? { endpoint: o.endpoint } : {}),
    ...(o.credentials ? { credentials: o.credentials } : {}),
    maxAttempts: 1,
    requestHandler: { connectionTimeout: o.timeoutMs, requestTimeout: o.timeoutMs },
  };
}

/** The credentials' own failure inside an SDK error, if that is what failed the call. */
export function credentialsFailure(e: unknown): AgentError | undefined {
  for (let x: unknown = e, depth = 0; x && depth < 5; x = (x as { cause?: unknown }).cause, depth++) {
    if (isAgentError(x) && (x.code === 'TPG_IMDS_UNAVAILABLE' || x.code === 'TPG_AWS_CREDENTIALS')) return x;
  }
  return undefined;
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
 * One SDK call with a timeout per attempt and jittered retries until the deadline its signal
 * carries (else `attempts`). Errors that retrying cannot fix end at once; `fail` turns the last
 * error into the AgentError the caller reports, unless the credentials were the problem.
 */
export async function callAws<T>(
  what: string,
  o: AwsCallOptions,
  send: (signal: AbortSignal) => Promise<T>,
  fail: (info: AwsErrorInfo, attempts: number) => { code: ErrorCode; message: string; hint?: string },
  signal?: AbortSignal,
): Promise<T> {
  return retryCall(
    async (_attempt, sig) => {
      try {
        return await send(sig!);
      } catch (e) {
        // The attempt's timeout, or the caller's deadline or shutdown: that, not the SDK's AbortError.
        if (sig?.aborted && sig.reason instanceof AgentError) throw sig.reason;
        const credentials = credentialsFailure(e);
        if (credentials) throw credentials;
        const info = awsErrorInfo(e);
        // Carry the classification on the error so lib/retry can decide.
        throw Object.assign(new AgentError('TPG_TIMEOUT', info.message, { cause: e, retriable: info.retriable }), { aws: info });
      }
    },
    {
      attemptsWithoutDeadline: o.attempts,
      baseMs: o.retryBaseMs ?? 200,
      capMs: o.retryCapMs ?? 5_000,
      ...(o.clock ? { clock: o.clock } : {}),
      ...(signal ? { signal } : {}),
      ...(o.random ? { random: o.random } : {}),
    },
    {
      what,
      timeoutMs: o.timeoutMs,
      ...(o.log ? { log: o.log } : {}),
      fields: { call: what },
      fail: (e, tally) => {
        const { attempts, elapsedMs, stopped } = tally;
        const credentials = credentialsFailure(e);
        if (credentials) {
          return new AgentError(credentials.code, `${what}: ${credentials.message} (${describeTally(tally)})`, {
            cause: credentials,
            retriable: false,
            ...(credentials.hint ? { hint: credentials.hint } : {}),
            details: { call: what, attempts },
          });
        }
        const info = (e as { aws?: AwsErrorInfo }).aws ?? awsErrorInfo(e);
        const f = fail(info, attempts);
        return new AgentError(
          f.code,
          stopped && !f.message.includes('stopped') ? `${f.message}; stopped by the deadline after ${(elapsedMs / 1000).toFixed(1)} s` : f.message,
          {
            cause: (e as Error).cause ?? e,
            retriable: false,
            ...(f.hint ? { hint: f.hint } : {}),
            details: { call: what, error: info.name, attempts, elapsedMs, ...(info.status ? { status: info.status } : {}) },
          },
        );
      },
    },
  );
}
