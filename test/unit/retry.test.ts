// The one retry loop: full jitter bounds, attempts, retriability, deadlines, Retry-After, cancel.
import { describe, it, expect } from 'vitest';
import { retry, backoffDelay, withTimeout, deadlineSignal, deadlineOf, anySignal, MIN_ATTEMPT_MS } from '../../agent/src/lib/retry.js';
import { AgentError } from '../../agent/src/lib/errors.js';
import type { Clock } from '../../agent/src/lib/clock.js';

function fakeClock() {
  let now = 1_000_000;
  const sleeps: number[] = [];
  const clock: Clock = {
    now: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
  };
  return { clock, sleeps };
}

describe('backoffDelay (full jitter)', () => {
  it('is random(0, min(cap, base * 2^n))', () => {
    expect(backoffDelay(0, { baseMs: 100, capMs: 10_000, random: () => 0.999 })).toBe(99);
    expect(backoffDelay(3, { baseMs: 100, capMs: 10_000, random: () => 0.5 })).toBe(400);
    expect(backoffDelay(20, { baseMs: 100, capMs: 10_000, random: () => 0.999 })).toBe(9_990);
    expect(backoffDelay(5, { baseMs: 100, capMs: 10_000, random: () => 0 })).toBe(0);
  });
});

describe('retry', () => {
  it('retries until success, sleeping the jittered backoff between attempts', async () => {
    const { clock, sleeps } = fakeClock();
    let calls = 0;
    const r = await retry(async () => (++calls < 3 ? Promise.reject(new Error('flaky')) : 'ok'), {
      attempts: 5,
      baseMs: 100,
      capMs: 1_000,
      clock,
      random: () => 0.5,
    });
    expect(r).toBe('ok');
    expect(calls).toBe(3);
    expect(sleeps).toEqual([50, 100]);
  });
  it('rethrows the last error after the attempts', async () => {
    const { clock } = fakeClock();
    let n = 0;
    await expect(retry(async () => Promise.reject(new Error(`fail ${++n}`)), { attempts: 3, baseMs: 1, capMs: 1, clock })).rejects.toThrow('fail 3');
  });
  it('stops at once on retriable: false', async () => {
    const { clock } = fakeClock();
    let calls = 0;
    await expect(
      retry(
        async () => {
          calls++;
          throw new AgentError('TPG_IMAGE_UNTRUSTED', 'no', { retriable: false });
        },
        { attempts: 5, baseMs: 1, capMs: 1, clock },
      ),
    ).rejects.toMatchObject({ code: 'TPG_IMAGE_UNTRUSTED' });
    expect(calls).toBe(1);
  });
  it('honours retryAfterMs as a floor', async () => {
    const { clock, sleeps } = fakeClock();
    let calls = 0;
    await retry(
      async () => {
        if (++calls === 1) throw new AgentError('TPG_TIMEOUT', 'slow down', { retryAfterMs: 3_000 });
        return 1;
      },
      { attempts: 2, baseMs: 10, capMs: 100, clock, random: () => 0.5 },
    );
    expect(sleeps).toEqual([3_000]);
  });
  it('retries until the deadline, not a count: the last sleep is cut so one more attempt fits', async () => {
    const { clock, sleeps } = fakeClock();
    let calls = 0;
    const deadline = clock.now() + 2_500;
    await expect(
      retry(async () => Promise.reject(new Error(`e${++calls}`)), { baseMs: 1_000, capMs: 1_000, clock, random: () => 0.99, deadline }),
    ).rejects.toThrow(/e4/);
    // 990, 990, then cut to end MIN_ATTEMPT_MS before the deadline; no sleep goes past it.
    expect(sleeps).toEqual([990, 990, 2_500 - 1_980 - MIN_ATTEMPT_MS]);
    expect(clock.now()).toBeLessThanOrEqual(deadline);
  });
  it('a deadline lifts the count; without one, attemptsWithoutDeadline bounds the loop', async () => {
    const { clock } = fakeClock();
    let calls = 0;
    const fail = async () => Promise.reject(new Error(`e${++calls}`));
    await expect(retry(fail, { attemptsWithoutDeadline: 3, baseMs: 10, capMs: 10, clock, random: () => 1, deadline: clock.now() + 1_000 })).rejects.toThrow();
    expect(calls).toBeGreaterThan(50);
    calls = 0;
    await expect(retry(fail, { attemptsWithoutDeadline: 3, baseMs: 10, capMs: 10, clock })).rejects.toThrow('e3');
  });
  it('takes the deadline a signal carries (deadlineSignal), as every client does inside a boot', async () => {
    const { clock } = fakeClock();
    const { signal, dispose } = deadlineSignal(clock.now() + 500, { clock, reason: () => new Error('deadline') });
    expect(deadlineOf(signal)).toBe(clock.now() + 500);
    expect(deadlineOf(anySignal([signal, new AbortController().signal]))).toBe(clock.now() + 500);
    let calls = 0;
    await expect(
      retry(async () => Promise.reject(new Error(`e${++calls}`)), { attemptsWithoutDeadline: 2, baseMs: 10, capMs: 10, clock, random: () => 1, signal }),
    ).rejects.toThrow();
    expect(calls).toBeGreaterThan(2);
    dispose();
  });
  it('cut short by its signal, it rethrows the error of the attempt before (the root cause), not the abort', async () => {
    const ac = new AbortController();
    let calls = 0;
    const p = retry(
      async (_n, signal) => {
        if (++calls === 1) throw new Error('KMS did not answer within 10000 ms');
        // The second attempt hangs until the deadline aborts it.
        return new Promise((_r, reject) => signal!.addEventListener('abort', () => reject(signal!.reason)));
      },
      { baseMs: 1, capMs: 1, signal: ac.signal, attemptsWithoutDeadline: 5 },
    );
    setTimeout(() => ac.abort(new AgentError('TPG_BOOT_DEADLINE', 'deadline passed')), 30);
    await expect(p).rejects.toThrow('KMS did not answer within 10000 ms');
  });
  it('uses a caller-given delay instead of the jittered backoff (local polls)', async () => {
    const { clock, sleeps } = fakeClock();
    let calls = 0;
    await retry(async () => (++calls < 4 ? Promise.reject(new Error('not yet')) : 'up'), {
      attempts: 10,
      baseMs: 1,
      capMs: 1_000,
      clock,
      delayMs: (n) => n * 10,
    });
    expect(sleeps).toEqual([0, 10, 20]);
  });
  it('stops when the signal aborts', async () => {
    const ac = new AbortController();
    let calls = 0;
    const p = retry(
      async () => {
        calls++;
        ac.abort();
        throw new Error('down');
      },
      { attempts: 10, baseMs: 1, capMs: 1, signal: ac.signal },
    );
    await expect(p).rejects.toThrow('down');
    expect(calls).toBe(1);
  });
});

describe('withTimeout', () => {
  it('rejects with a TPG_TIMEOUT AgentError naming what did not answer', async () => {
    await expect(
      withTimeout(20, 'registry', (signal) => new Promise((_r, rej) => signal.addEventListener('abort', () => rej(new Error('aborted'))))),
    ).rejects.toMatchObject({
      code: 'TPG_TIMEOUT',
      message: 'registry did not answer within 20 ms',
    });
  });

  it('starts stopped when the outer signal is already aborted, with its reason, not after the time bound', async () => {
    const outer = new AbortController();
    outer.abort(new AgentError('TPG_BOOT_DEADLINE', 'the boot deadline passed'));
    let sawAborted = false;
    await expect(
      withTimeout(
        60_000,
        'S3',
        (signal) => {
          sawAborted = signal.aborted;
          return new Promise((_r, rej) => (signal.aborted ? rej(signal.reason) : signal.addEventListener('abort', () => rej(signal.reason))));
        },
        { signal: outer.signal },
      ),
    ).rejects.toMatchObject({ code: 'TPG_BOOT_DEADLINE' });
    expect(sawAborted).toBe(true);
  });
});
