/*! The one retry loop: exponential backoff with full jitter, a deadline, cancellation.
 *
 * sleep before attempt n+1 = random(0, min(capMs, baseMs * 2^n)) ("full jitter"), so a thousand
 * instances booting together spread their retries instead of hitting a registry in waves.
 * The error decides: `retriable === false` stops at once, `retryAfterMs` is honoured as a floor.
 * On give-up the last error is rethrown, never swallowed. */
import { AgentError, errorMessage, type ErrorCode } from './errors.js';
import { realClock, type Clock } from './clock.js';
import type { Logger } from './log.js';

export interface RetryPolicy {
  /** Total attempts including the first (>= 1). */
  attempts: number;
  baseMs: number;
  capMs: number;
  /** Absolute time (clock ms) after which no new attempt starts and sleeps are cut short. */
  deadline?: number;
  signal?: AbortSignal;
  clock?: Clock;
  random?: () => number;
  /** Replaces the jittered backoff with a delay of your own (polling a local health endpoint, where
   * there is no crowd to spread and waiting longer than needed only delays the boot). */
  delayMs?: (attempt: number) => number;
  /** Whether an error is worth another attempt; default: everything not marked `retriable: false`. */
  isRetriable?: (e: unknown) => boolean;
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
}

export const DEFAULT_RETRY: Pick<RetryPolicy, 'attempts' | 'baseMs' | 'capMs'> = { attempts: 5, baseMs: 200, capMs: 5_000 };

export function backoffDelay(attempt: number, policy: Pick<RetryPolicy, 'baseMs' | 'capMs' | 'random'>): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** attempt);
  return Math.floor((policy.random ?? Math.random)() * ceiling);
}

function defaultRetriable(e: unknown): boolean {
  return !(e && typeof e === 'object' && (e as { retriable?: unknown }).retriable === false);
}

export async function retry<T>(fn: (attempt: number, signal?: AbortSignal) => Promise<T>, policy: RetryPolicy): Promise<T> {
  const clock = policy.clock ?? realClock;
  const isRetriable = policy.isRetriable ?? defaultRetriable;
  let lastError: unknown;
  for (let attempt = 0; attempt < Math.max(1, policy.attempts); attempt++) {
    if (policy.signal?.aborted) throw lastError ?? abortError(policy.signal);
    try {
      return await fn(attempt, policy.signal);
    } catch (e) {
      lastError = e;
      if (!isRetriable(e) || attempt + 1 >= policy.attempts || policy.signal?.aborted) throw e;
      const floor = typeof (e as { retryAfterMs?: unknown })?.retryAfterMs === 'number' ? (e as { retryAfterMs: number }).retryAfterMs : 0;
      let delayMs = Math.max(floor, policy.delayMs ? policy.delayMs(attempt) : backoffDelay(attempt, policy));
      if (policy.deadline !== undefined) {
        const left = policy.deadline - clock.now();
        if (left <= 0) throw e;
        if (delayMs >= left) throw e; // sleeping past the deadline only to fail is worse than failing now
        delayMs = Math.min(delayMs, left);
      }
      policy.onRetry?.({ attempt: attempt + 1, delayMs, error: e });
      try {
        await clock.sleep(delayMs, policy.signal);
      } catch {
        throw e;
      }
    }
  }
  throw lastError;
}

export interface RetriedCall {
  /** How the call is named in log lines, e.g. "instance metadata GET /latest/user-data". */
  what: string;
  /** Each retry is logged here as a warning, with these fields. */
  log?: Logger;
  fields?: Record<string, unknown>;
  /** A short reason for people (the log line); default: the error's message. */
  reason?: (e: unknown) => string;
  /** The error thrown when retrying ends: from the last error, the attempts made and the time taken. */
  fail: (last: unknown, tally: { attempts: number; elapsedMs: number }) => AgentError;
}

/** `fn` under `policy` (retry above), each retry logged, and a give-up turned into the error the caller reports. */
export async function retryCall<T>(fn: (attempt: number, signal?: AbortSignal) => Promise<T>, policy: RetryPolicy, call: RetriedCall): Promise<T> {
  const clock = policy.clock ?? realClock;
  const started = clock.now();
  const reason = call.reason ?? errorMessage;
  let attempts = 0;
  try {
    return await retry(
      (attempt, signal) => {
        attempts++;
        return fn(attempt, signal);
      },
      {
        ...policy,
        onRetry: (info) => {
          policy.onRetry?.(info);
          const why = reason(info.error);
          call.log?.warn(
            { ...call.fields, attempt: info.attempt, attempts: policy.attempts, delayMs: info.delayMs, reason: why },
            `${call.what} failed (${why}); retrying in ${info.delayMs} ms`,
          );
        },
      },
    );
  } catch (e) {
    throw call.fail(e, { attempts, elapsedMs: clock.now() - started });
  }
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new AgentError('TPG_CANCELLED', 'operation cancelled');
}

/** Run `fn` with an AbortSignal that fires after `ms`; the rejection is an AgentError with `code`. */
export async function withTimeout<T>(
  ms: number,
  what: string,
  fn: (signal: AbortSignal) => Promise<T>,
  options: { code?: ErrorCode; signal?: AbortSignal; hint?: string } = {},
): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new AgentError(options.code ?? 'TPG_TIMEOUT', `${what} did not answer within ${ms} ms`, options.hint ? { hint: options.hint } : {})),
    ms,
  );
  timer.unref?.();
  const onOuterAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  try {
    return await fn(controller.signal);
  } catch (e) {
    if (controller.signal.aborted && controller.signal.reason instanceof AgentError && !(e instanceof AgentError)) throw controller.signal.reason;
    throw e;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onOuterAbort);
  }
}
