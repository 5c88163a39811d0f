/*! The one retry loop and timeout policy of every client: exponential backoff with full jitter,
 * bounded by a deadline (not a count), cancellation.
 *
 * sleep before attempt n+1 = random(0, min(capMs, baseMs * 2^n)) ("full jitter"), so a thousand
 * instances booting together spread their retries instead of hitting a registry in waves.
 * The error decides: `retriable === false` stops at once, `retryAfterMs` is honoured as a floor.
 * On give-up the last error is rethrown, never swallowed; cut short by the signal, it is still the
 * last attempt's error (the root cause), not "cancelled".
 *
 * The deadline: the policy's, and the one the signal carries. The boot makes its signals with
 * `deadlineSignal()` (a phase's, the prefetch's), so every loop under them, in any adapter, retries
 * until the boot deadline (minus the signal reserve) without being told: a client added later
 * (EC2, say) inherits it by taking the step's signal. A count (`attemptsWithoutDeadline`) bounds
 * only a loop that has no deadline at all (a command run by hand). */
import { AgentError, errorMessage, toAgentError, type ErrorCode } from './errors.js';
import { realClock, type Clock } from './clock.js';
import type { Logger } from './log.js';

export interface RetryPolicy {
  /** At most this many attempts, the first included, whatever the deadline (a loop of loops: one attempt per pass). */
  attempts?: number;
  /** Attempts when neither the policy nor the signal has a deadline (default 5); ignored under a deadline. */
  attemptsWithoutDeadline?: number;
  baseMs: number;
  capMs: number;
  /** Absolute time (clock ms) after which no new attempt starts and sleeps are cut short. */
  deadline?: number;
  /** Cancels the loop; its deadline (deadlineSignal) bounds the loop like `deadline`. */
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

export const DEFAULT_RETRY = { attempts: 5, baseMs: 200, capMs: 5_000 } as const;
/** An attempt is not started with less time left than this (it could only time out). */
export const MIN_ATTEMPT_MS = 50;

// ---------------------------------------------------------------------------------------------
// Deadlines carried by signals

const deadlines = new WeakMap<AbortSignal, number>();

/** The deadline (clock ms) `signal` carries, if any. */
export function deadlineOf(signal: AbortSignal | undefined): number | undefined {
  return signal ? deadlines.get(signal) : undefined;
}

/** Mark `signal` as ending by `deadline` (the earlier one wins); returns it. */
export function markDeadline(signal: AbortSignal, deadline: number): AbortSignal {
  deadlines.set(signal, Math.min(deadline, deadlines.get(signal) ?? Number.POSITIVE_INFINITY));
  return signal;
}

/**
 * A signal that aborts at `deadline` (clock ms) with `reason()`, or when `parent` aborts, and
 * carries the deadline for every retry loop under it. `dispose()` clears its timer.
 */
export function deadlineSignal(
  deadline: number,
  options: { reason: () => Error; parent?: AbortSignal; clock?: Clock },
): { signal: AbortSignal; dispose(): void } {
  const clock = options.clock ?? realClock;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(options.reason()), Math.max(0, deadline - clock.now()));
  timer.unref?.();
  const onParent = () => controller.abort(options.parent?.reason);
  if (options.parent?.aborted) onParent();
  else options.parent?.addEventListener('abort', onParent, { once: true });
  markDeadline(controller.signal, Math.min(deadline, deadlineOf(options.parent) ?? Number.POSITIVE_INFINITY));
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      options.parent?.removeEventListener('abort', onParent);
    },
  };
}

/** How near the work's own deadline a waiter's abort counts as "the same deadline", and how long
 * past it the waiter still waits for the work's own error. */
const SAME_DEADLINE_SLACK_MS = 100;

/**
 * `p`, or the signal's reason if it aborts first (`p` itself goes on, for whoever else waits on it).
 *
 * `work` is the signal `p` runs under. When the waiter's signal aborts at about the moment `work`'s
 * deadline ends `p` too (two timers for one deadline fire in either order), the waiter waits a
 * little for `p`'s own error, which names the root cause ("KMS did not answer within 400 ms"),
 * rather than "the deadline passed". Aborted earlier (a prerequisite failed), it ends at once.
 */
export function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined, work?: { signal?: AbortSignal; clock?: Clock }): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  const clock = work?.clock ?? realClock;
  return new Promise<T>((resolve, reject) => {
    let grace: NodeJS.Timeout | undefined;
    const onAbort = () => {
      const ends = deadlineOf(work?.signal);
      const now = clock.now();
      if (ends === undefined || ends > now + SAME_DEADLINE_SLACK_MS) return reject(signal.reason);
      grace = setTimeout(() => reject(signal.reason), Math.max(0, ends - now) + SAME_DEADLINE_SLACK_MS);
      grace.unref?.();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => {
      signal.removeEventListener('abort', onAbort);
      if (grace) clearTimeout(grace);
    });
  });
}

/** AbortSignal.any that keeps the earliest deadline of its inputs. */
export function anySignal(signals: AbortSignal[]): AbortSignal {
  const s = AbortSignal.any(signals);
  const d = Math.min(...signals.map((x) => deadlineOf(x) ?? Number.POSITIVE_INFINITY));
  return Number.isFinite(d) ? markDeadline(s, d) : s;
}

/** The earlier of the policy's deadline and the signal's; undefined when neither has one. */
export function effectiveDeadline(deadline: number | undefined, signal: AbortSignal | undefined): number | undefined {
  const d = Math.min(deadline ?? Number.POSITIVE_INFINITY, deadlineOf(signal) ?? Number.POSITIVE_INFINITY);
  return Number.isFinite(d) ? d : undefined;
}

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
  const deadline = effectiveDeadline(policy.deadline, policy.signal);
  const attempts = Math.max(
    1,
    Math.min(
      policy.attempts ?? Number.POSITIVE_INFINITY,
      deadline === undefined ? (policy.attemptsWithoutDeadline ?? DEFAULT_RETRY.attempts) : Number.POSITIVE_INFINITY,
    ),
  );
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (policy.signal?.aborted) throw lastError ?? abortError(policy.signal);
    try {
      return await fn(attempt, policy.signal);
    } catch (e) {
      // Cut short by the signal (the deadline, a shutdown): the attempts before said why.
      if (policy.signal?.aborted) throw lastError !== undefined && isAbortOf(e, policy.signal) ? lastError : e;
      lastError = e;
      if (!isRetriable(e) || attempt + 1 >= attempts) throw e;
      const floor = typeof (e as { retryAfterMs?: unknown })?.retryAfterMs === 'number' ? (e as { retryAfterMs: number }).retryAfterMs : 0;
      let delayMs = Math.max(floor, policy.delayMs ? policy.delayMs(attempt) : backoffDelay(attempt, policy));
      if (deadline !== undefined) {
        // Until the deadline: the last sleep is cut so one more attempt fits before it.
        const left = deadline - clock.now();
        if (left <= MIN_ATTEMPT_MS) throw e;
        delayMs = Math.min(delayMs, left - MIN_ATTEMPT_MS);
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
  /** Each attempt gets at most this long (and never past the deadline); its signal aborts then. */
  timeoutMs?: number;
  /** The code of an attempt that timed out (default TPG_TIMEOUT), and what to do about it. */
  timeoutCode?: ErrorCode;
  timeoutHint?: string;
  /** Each retry is logged here as a warning, with these fields. */
  log?: Logger;
  fields?: Record<string, unknown>;
  /** A short reason for people (the log line); default: the error's message. */
  reason?: (e: unknown) => string;
  /** The error thrown when retrying ends: from the last error, the attempts made and the time taken. */
  fail: (last: unknown, tally: RetryTally) => AgentError;
}

export interface RetryTally {
  attempts: number;
  elapsedMs: number;
  /** The deadline or the signal ended the loop (no time left for another attempt, a shutdown), not the error or the attempts. */
  stopped: boolean;
}

/** "3 attempts in 1.2 s, stopped by the deadline": how a give-up message says what was tried. */
export function describeTally({ attempts, elapsedMs, stopped }: RetryTally): string {
  return `${attempts} attempt${attempts === 1 ? '' : 's'} in ${(elapsedMs / 1000).toFixed(1)} s${stopped ? ', stopped by the deadline' : ''}`;
}

/**
 * The give-up error most calls report: a refusal (an error not worth retrying) or a failure at
 * the first try as it is; after retries, the last error, its code and hint kept, with the tally
 * appended and marked final (a caller's own loop must not start it all over).
 */
export function gaveUp(last: unknown, tally: RetryTally, fallback: ErrorCode = 'TPG_INTERNAL'): AgentError {
  const e = toAgentError(last, fallback);
  if (e.retriable === false || (tally.attempts <= 1 && !tally.stopped)) return e;
  return new AgentError(e.code, `${e.message} (${describeTally(tally)})`, {
    cause: e,
    retriable: false,
    ...(e.hint ? { hint: e.hint } : {}),
    details: { ...e.details, attempts: tally.attempts, elapsedMs: tally.elapsedMs },
  });
}

/**
 * `fn` under `policy` (retry above) with a timeout per attempt, each retry logged, and a give-up
 * turned into the error the caller reports. Every network client of the agent goes through this.
 */
export async function retryCall<T>(fn: (attempt: number, signal?: AbortSignal) => Promise<T>, policy: RetryPolicy, call: RetriedCall): Promise<T> {
  const clock = policy.clock ?? realClock;
  const started = clock.now();
  const reason = call.reason ?? errorMessage;
  let attempts = 0;
  const attempt = (n: number, signal?: AbortSignal): Promise<T> => {
    attempts++;
    if (call.timeoutMs === undefined) return fn(n, signal);
    // Not cut to the time left: the signal's deadline aborts the last attempt, and the error
    // reported is then the one before ("did not answer within 10000 ms", not "within 50 ms").
    return withTimeout(call.timeoutMs, call.what, (s) => fn(n, s), {
      ...(signal ? { signal } : {}),
      ...(call.timeoutCode ? { code: call.timeoutCode } : {}),
      ...(call.timeoutHint ? { hint: call.timeoutHint } : {}),
    });
  };
  try {
    return await retry(attempt, {
      ...policy,
      onRetry: (info) => {
        policy.onRetry?.(info);
        const why = reason(info.error);
        call.log?.warn(
          { ...call.fields, attempt: info.attempt, delayMs: info.delayMs, reason: why },
          `${call.what} failed (${why}); retrying in ${info.delayMs} ms`,
        );
      },
    });
  } catch (e) {
    // Stopped: the signal fired, or a retriable error met a deadline with no room for another attempt.
    const deadline = effectiveDeadline(policy.deadline, policy.signal);
    const outOfTime = deadline !== undefined && deadline - clock.now() <= MIN_ATTEMPT_MS && (policy.isRetriable ?? defaultRetriable)(e);
    throw call.fail(e, { attempts, elapsedMs: clock.now() - started, stopped: policy.signal?.aborted === true || outOfTime });
  }
}

/** `e` is the signal's own abort (its reason, or the AbortError a client threw for it). */
function isAbortOf(e: unknown, signal: AbortSignal): boolean {
  return e === signal.reason || (e instanceof Error && (e.name === 'AbortError' || e.cause === signal.reason));
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
  // A loop inside this call keeps the outer deadline.
  const outer = deadlineOf(options.signal);
  if (outer !== undefined) markDeadline(controller.signal, outer);
  const onOuterAbort = () => controller.abort(options.signal?.reason);
  // An outer signal already aborted fires no event: the call starts stopped, not for `ms`.
  if (options.signal?.aborted) onOuterAbort();
  else options.signal?.addEventListener('abort', onOuterAbort, { once: true });
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
