import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { evenClient } from '../../../agent/src/adapters/even.js';
import { startFakeEven, type FakeEven } from '../../fakes/even.js';
import { deadlineSignal } from '../../../agent/src/lib/retry.js';
import { AgentError } from '../../../agent/src/lib/errors.js';
import { createLogger } from '../../../agent/src/lib/log.js';
import { jsonLines } from '../../harness/log-lines.js';

let even: FakeEven;
beforeAll(async () => {
  even = await startFakeEven({ alice: 'ssh-ed25519 AAAA alice@example\n' });
});
afterAll(() => even.close());

const client = (over: Partial<Parameters<typeof evenClient>[0]> = {}) =>
  evenClient({ url: `${even.url}/`, timeoutMs: 500, attemptsWithoutDeadline: 3, baseMs: 1, capMs: 5, ...over });

describe('Even client', () => {
  it('fetches a key from /public-keys/{name}/sshkey.pub', async () => {
    even.requests.length = 0;
    expect(await client().publicKey('alice')).toBe('ssh-ed25519 AAAA alice@example\n');
    expect(even.requests).toEqual(['/public-keys/alice/sshkey.pub']);
  });

  it('retries 5xx with backoff, then succeeds', async () => {
    even.requests.length = 0;
    even.failNext(2, 503);
    expect(await client().publicKey('alice')).toContain('ssh-ed25519');
    expect(even.requests).toHaveLength(3);
  });

  it('gives up after the configured attempts with TPG_EVEN_UNAVAILABLE', async () => {
    even.requests.length = 0;
    even.failNext(5, 500);
    await expect(client().publicKey('alice')).rejects.toMatchObject({ code: 'TPG_EVEN_UNAVAILABLE' });
    expect(even.requests).toHaveLength(3);
    even.failNext(0, 500);
  });

  it('does not retry 404: the user has no key', async () => {
    even.requests.length = 0;
    await expect(client().publicKey('nobody')).rejects.toMatchObject({ code: 'TPG_EVEN_NOT_FOUND' });
    expect(even.requests).toHaveLength(1);
  });

  it('times out each attempt', async () => {
    even.delayMs = 300;
    try {
      await expect(client({ timeoutMs: 50, attemptsWithoutDeadline: 2 }).publicKey('alice')).rejects.toMatchObject({
        code: 'TPG_EVEN_UNAVAILABLE',
        message: expect.stringMatching(/did not answer within 50 ms/),
      });
    } finally {
      even.delayMs = 0;
    }
  });

  it('refuses an oversized answer without reading it all', async () => {
    even.keys.set('big', 'x'.repeat(100_000));
    await expect(client().publicKey('big')).rejects.toMatchObject({ code: 'TPG_SSH_KEY_INVALID' });
  });

  it('an unreachable Even is TPG_EVEN_UNAVAILABLE', async () => {
    await expect(
      evenClient({ url: 'http://127.0.0.1:1', timeoutMs: 200, attemptsWithoutDeadline: 2, baseMs: 1, capMs: 2 }).publicKey('alice'),
    ).rejects.toMatchObject({
      code: 'TPG_EVEN_UNAVAILABLE',
    });
  });
});

describe('Even client under a deadline (the SSH service marks each request with its own)', () => {
  it('retries past its attempts until the deadline the signal carries, then succeeds', async () => {
    even.requests.length = 0;
    even.failNext(6, 503);
    const d = deadlineSignal(Date.now() + 30_000, { reason: () => new AgentError('TPG_SSH_FAILED', 'request deadline') });
    const lines: string[] = [];
    const log = createLogger({ destination: { write: (line: string) => void lines.push(line) } });
    expect(await client({ attemptsWithoutDeadline: 2, log }).publicKey('alice', d.signal)).toContain('ssh-ed25519');
    expect(even.requests).toHaveLength(7);
    // Each retry logged as every client's (lib/retry retryCall).
    const retried = jsonLines(lines.join(''));
    expect(retried.map((l) => [l.level, l.attempt, l.user])).toEqual([1, 2, 3, 4, 5, 6].map((n) => ['warn', n, 'alice']));
    expect(retried[0]!.msg).toMatch(
      /^Even \(http:\/\/\S+\/public-keys\/alice\/sshkey\.pub\) failed \(Even answered HTTP 503 for alice's key\); retrying in \d+ ms$/,
    );
    d.dispose();
  });

  it('a give-up after retries says what was tried', async () => {
    even.failNext(5, 503);
    await expect(client({ attemptsWithoutDeadline: 3 }).publicKey('alice')).rejects.toMatchObject({
      code: 'TPG_EVEN_UNAVAILABLE',
      message: expect.stringMatching(/^Even answered HTTP 503 for alice's key \(3 attempts in \d+\.\d s\)$/),
      details: { attempts: 3 },
    });
    even.failNext(0, 503);
  });
});
