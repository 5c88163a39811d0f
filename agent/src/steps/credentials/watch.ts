/*! The refresher for the instance's life: a pass now, then one every interval plus random jitter,
 * until the signal fires. A failed pass (S3 down, throttled, denied) is logged and recorded in
 * the status, the files stay as they are, and the next pass tries again: the loop never ends on
 * its own. */
import type { Logger } from '../../lib/log.js';
import { realClock, type Clock } from '../../lib/clock.js';
import { DEFAULT_RETRY } from '../../lib/retry.js';
import type { CredentialsRefresher, PassResult } from './refresh.js';

export interface WatchOptions {
  intervalMs: number;
  /** Up to this much is added to each interval, so a fleet does not hit S3 in step. */
  jitterMs: number;
  signal: AbortSignal;
  log: Logger;
  /** Attempts per file within one pass for throttling, 5xx and network errors. */
  attempts?: number;
  clock?: Clock;
  random?: () => number;
  onPass?: (result: PassResult) => void;
}

/** Jitter never exceeds half the interval: a short test interval must stay short. */
export function nextDelayMs(intervalMs: number, jitterMs: number, random: () => number = Math.random): number {
  return Math.round(intervalMs + random() * Math.min(jitterMs, intervalMs / 2));
}

export async function watchCredentials(refresher: CredentialsRefresher, options: WatchOptions): Promise<void> {
  const clock = options.clock ?? realClock;
  const { signal, log } = options;
  // In-pass retries back off within a fraction of the interval, so a pass never runs into the next.
  const policy = {
    attempts: options.attempts ?? DEFAULT_RETRY.attempts,
    baseMs: Math.min(DEFAULT_RETRY.baseMs, options.intervalMs / 10),
    capMs: Math.min(DEFAULT_RETRY.capMs, options.intervalMs / 2),
    signal,
  };
  let healthy: boolean | undefined;
  while (!signal.aborted) {
    const result = await refresher.pass(policy);
    if (signal.aborted) break;
    if (!result.ok) {
      for (const f of result.files) if (f.outcome === 'failed') log.warn({ file: f.file, err: f.error }, `${f.file} not refreshed; the current file is kept`);
    } else if (healthy === false) {
      log.info('credentials are current again');
    }
    healthy = result.ok;
    options.onPass?.(result);
    try {
      await clock.sleep(nextDelayMs(options.intervalMs, options.jitterMs, options.random), signal);
    } catch {
      break;
    }
  }
}
