/*! Even over HTTP (undici): `GET {even_url}/public-keys/{name}/sshkey.pub`, with a timeout per
 * attempt, bounded retries with full jitter (lib/retry), and a cap on the body size so a broken
 * or hostile answer cannot fill memory. 404 means "no such user" and is not retried. */
import { request } from 'undici';
import { AgentError } from '../lib/errors.js';
import { retry, withTimeout } from '../lib/retry.js';
import type { Clock } from '../lib/clock.js';
import type { AccessService } from '../ports/access-service.js';

export interface EvenOptions {
  url: string;
  timeoutMs: number;
  attempts: number;
  /** Backoff base and cap (full jitter between 0 and min(cap, base·2^n)). */
  baseMs?: number;
  capMs?: number;
  clock?: Clock;
}

const MAX_BODY = 16 * 1024;

export function evenClient(options: EvenOptions): AccessService {
  const base = options.url.replace(/\/+$/, '');
  return {
    publicKey(user, signal) {
      // The name was checked against ^[a-z][a-z0-9-]{0,31}$; encode anyway, the URL is ours to build.
      const url = `${base}/public-keys/${encodeURIComponent(user)}/sshkey.pub`;
      return retry(
        () =>
          withTimeout(
            options.timeoutMs,
            `Even (${url})`,
            async (s) => {
              let res;
              try {
                res = await request(url, { method: 'GET', signal: s, headers: { accept: 'text/plain' }, headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs });
              } catch (e) {
                if (s.aborted) throw s.reason;
                throw new AgentError('TPG_EVEN_UNAVAILABLE', `cannot reach Even at ${base}: ${(e as Error).message}`, { cause: e, hint: 'check ssh.even_url in the agent config and that Even is up' });
              }
              const body = await readCapped(res.body, MAX_BODY);
              if (res.statusCode === 200) {
                if (body === undefined) throw new AgentError('TPG_SSH_KEY_INVALID', `Even's answer for ${user} is larger than ${MAX_BODY} bytes`, { retriable: false });
                return body;
              }
              if (res.statusCode === 404) throw new AgentError('TPG_EVEN_NOT_FOUND', `Even has no public key for ${user} (HTTP 404)`, { retriable: false, hint: 'the person must upload an SSH key to the user service' });
              const retriable = res.statusCode >= 500 || res.statusCode === 429 || res.statusCode === 408;
              const after = Number(res.headers['retry-after']);
              throw new AgentError(retriable ? 'TPG_EVEN_UNAVAILABLE' : 'TPG_SSH_FAILED', `Even answered HTTP ${res.statusCode} for ${user}'s key`, {
                retriable,
                ...(Number.isFinite(after) && after > 0 ? { retryAfterMs: Math.min(after, 10) * 1000 } : {}),
              });
            },
            { code: 'TPG_EVEN_UNAVAILABLE', ...(signal ? { signal } : {}), hint: 'Even did not answer in time; it can grant again later' },
          ),
        { attempts: options.attempts, baseMs: options.baseMs ?? 200, capMs: options.capMs ?? 2_000, ...(signal ? { signal } : {}), ...(options.clock ? { clock: options.clock } : {}) },
      );
    },
  };
}

/** The body as text, or undefined when it exceeds `max` bytes (the rest is not read). */
async function readCapped(body: AsyncIterable<Buffer> & { destroy(): unknown }, max: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > max) {
      body.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
