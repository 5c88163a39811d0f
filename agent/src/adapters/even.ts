/*! Even over HTTP: `GET {even_url}/public-keys/{name}/sshkey.pub`, with a timeout per attempt,
 * retries with full jitter until the deadline the caller's signal carries (lib/retry's retryCall,
 * each retry logged), and a cap on the body size so a broken or hostile
 * answer cannot fill memory. 404 means "no such user" and is not retried.
 *
 * Built on node:http(s), not undici: this runs inside every grant, where the hook has to stay
 * close to a bare ssh round trip, and loading undici (1 MB of JS plus compiling its llhttp WASM)
 * added ~80 ms per grant against ~20 ms for node:http (measured; see bench/ssh-hook.ts). One
 * small GET needs none of undici's pooling or pipelining. node:http(s) are imported when the
 * request is made: in the single-file ESM bundle a static import of a built-in is loaded at start
 * by every command, and node:https pulls in tls. */
import type { IncomingMessage } from 'node:http';
import { AgentError } from '../lib/errors.js';
import { gaveUp, retryCall } from '../lib/retry.js';
import type { Logger } from '../lib/log.js';
import type { Clock } from '../lib/clock.js';
import type { AccessService } from '../ports/access-service.js';

export interface EvenOptions {
  url: string;
  timeoutMs: number;
  /** Attempts when no deadline bounds the request (the SSH service's request deadline does, through the signal). */
  attemptsWithoutDeadline: number;
  /** Backoff base and cap (full jitter between 0 and min(cap, base·2^n)). */
  baseMs?: number;
  capMs?: number;
  clock?: Clock;
  /** Each retry is logged here (lib/retry retryCall). */
  log?: Logger;
}

const MAX_BODY = 16 * 1024;

export function evenClient(options: EvenOptions): AccessService {
  const base = options.url.replace(/\/+$/, '');
  return {
    publicKey(user, signal) {
      // The name was checked against ^[a-z][a-z0-9-]{0,31}$; encode anyway, the URL is ours to build.
      const url = `${base}/public-keys/${encodeURIComponent(user)}/sshkey.pub`;
      return retryCall(
        async (_attempt, s) => {
          let res: { status: number; body: string | undefined; retryAfter?: string };
          try {
            res = await get(url, s!);
          } catch (e) {
            if (s!.aborted) throw s!.reason;
            throw new AgentError('TPG_EVEN_UNAVAILABLE', `cannot reach Even at ${base}: ${(e as Error).message}`, {
              cause: e,
              hint: 'check ssh.even_url in the agent config and that Even is up',
            });
          }
          if (res.status === 200) {
            if (res.body === undefined)
              throw new AgentError('TPG_SSH_KEY_INVALID', `Even's answer for ${user} is larger than ${MAX_BODY} bytes`, { retriable: false });
            return res.body;
          }
          if (res.status === 404)
            throw new AgentError('TPG_EVEN_NOT_FOUND', `Even has no public key for ${user} (HTTP 404)`, {
              retriable: false,
              hint: 'the person must upload an SSH key to the user service',
            });
          const retriable = res.status >= 500 || res.status === 429 || res.status === 408;
          const after = Number(res.retryAfter);
          throw new AgentError(retriable ? 'TPG_EVEN_UNAVAILABLE' : 'TPG_SSH_FAILED', `Even answered HTTP ${res.status} for ${user}'s key`, {
            retriable,
            ...(Number.isFinite(after) && after > 0 ? { retryAfterMs: Math.min(after, 10) * 1000 } : {}),
          });
        },
        {
          attemptsWithoutDeadline: options.attemptsWithoutDeadline,
          baseMs: options.baseMs ?? 200,
          capMs: options.capMs ?? 2_000,
          ...(signal ? { signal } : {}),
          ...(options.clock ? { clock: options.clock } : {}),
        },
        {
          what: `Even (${url})`,
          timeoutMs: options.timeoutMs,
          timeoutCode: 'TPG_EVEN_UNAVAILABLE',
          timeoutHint: 'Even did not answer in time; it can grant again later',
          ...(options.log ? { log: options.log } : {}),
          fields: { user },
          fail: (last, tally) => gaveUp(last, tally, 'TPG_EVEN_UNAVAILABLE'),
        },
      );
    },
  };
}

/** One GET; the body as text, or undefined when it exceeds MAX_BODY (the rest is not read). */
async function get(url: string, signal: AbortSignal): Promise<{ status: number; body: string | undefined; retryAfter?: string }> {
  const { request } = url.startsWith('https:') ? await import('node:https') : await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', signal, headers: { accept: 'text/plain', connection: 'close' } }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let tooBig = false;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY) {
          tooBig = true;
          res.destroy();
          return;
        }
        chunks.push(chunk);
      });
      const done = () => {
        const retryAfter = res.headers['retry-after'];
        resolve({
          status: res.statusCode ?? 0,
          body: tooBig ? undefined : Buffer.concat(chunks).toString('utf8'),
          ...(typeof retryAfter === 'string' ? { retryAfter } : {}),
        });
      };
      res.on('end', done);
      res.on('close', () => (tooBig ? done() : undefined));
      res.on('error', (e) => (tooBig ? done() : reject(e)));
    });
    req.on('error', reject);
    req.end();
  });
}
