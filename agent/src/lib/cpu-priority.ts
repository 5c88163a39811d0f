/*! Yield the CPU for a while: the calling thread's nice value raised, and put back after.
 *
 * Linux keeps a nice value per thread; Node's os.setPriority() without a pid sets the calling
 * thread's, here the agent's main thread, where its own work runs (libuv's pool threads keep
 * theirs). Processes it starts meanwhile inherit the raised value; a service restarted through
 * systemctl does not (systemd starts it). Putting a lower value back needs CAP_SYS_NICE, which
 * the agent has as root; without it the thread stays at the raised value, and says so. */
import { getPriority, setPriority } from 'node:os';
import type { Logger } from './log.js';

/** Raise the calling thread's nice value to at least `nice` (0: leave it); returns what puts it back. */
export function lowerCpuPriority(nice: number, log: Logger, why: string): () => void {
  if (nice <= 0) return () => undefined;
  let before: number;
  try {
    before = getPriority();
    if (before >= nice) return () => undefined;
    setPriority(nice);
  } catch (e) {
    log.warn({ err: e }, `could not lower the agent's CPU priority ${why}: ${(e as Error).message}`);
    return () => undefined;
  }
  log.debug({ nice, before }, `the agent's CPU priority lowered ${why}`);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    try {
      setPriority(before);
    } catch (e) {
      log.warn({ err: e, nice }, `could not restore the agent's CPU priority (nice ${before}): ${(e as Error).message}; it stays at nice ${nice}`);
    }
  };
}
