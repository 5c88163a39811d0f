/*! The Imds port over undici: IMDSv2 only.
 *
 * A session token (PUT /latest/api/token, TTL 21600 s) is fetched once and reused until shortly
 * before it expires, by every client sharing its store (ImdsTokenStore); a 401 (token revoked, or the service restarted) drops it and fetches a new
 * one once per request. Every HTTP call has its own timeout; each operation retries with full
 * jitter (lib/retry) until one overall deadline (not a count), then fails with TPG_IMDS_UNAVAILABLE saying what
 * was tried and what went wrong. The identity document is cached: it does not change in a boot.
 *
 * Why not AWS's own @aws-sdk/ec2-metadata-service (3.x) with lib/retry around it: it fetches a new
 * token for every request (two round trips each), and a token request that times out or gets
 * 403/404/405 switches its token fetching off for good, so with IMDSv1 disabled every later call
 * fails and a boot that met one slow PUT cannot recover within its deadline. It takes no
 * AbortSignal (the boot deadline could not cut a request off), decodes every body as UTF-8 (gzip
 * user data is lost), and reads ~/.aws/config at start. Wrapping it to fix that would leave this
 * file about as long and less strict. */
import { Agent, request } from '../http/undici.js';
import type { IdentityDocument, Imds } from '../../ports/imds.js';
import { AgentError, isAgentError } from '../../lib/errors.js';
import { describeTally, retryCall, untilAborted, withTimeout } from '../../lib/retry.js';
import { realClock, type Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/log.js';

export const TOKEN_TTL_SECONDS = 21_600;
const TOKEN_PATH = '/latest/api/token';
/** Every answer of the service is small (user data at most 16 KiB); more is not the metadata service. */
const MAX_ANSWER_BYTES = 1024 * 1024;

/** The session token, shared by every client given the same store (the boot's, and the one the
 * AWS credentials are read through): one token for every read. Each client keeps its own
 * deadlines; a token fetch that fails for one is tried again by the next caller. */
export interface ImdsTokenStore {
  token?: { value: string; refreshAt: number };
  /** The fetch under way, and the signal of the caller that began it. */
  pending?: { token: Promise<string>; signal: AbortSignal | undefined };
}

export interface ImdsClientOptions {
  /** e.g. http://169.254.169.254 */
  endpoint: string;
  /** Per HTTP call. */
  timeoutMs: number;
  /** Each operation retries until this long has passed (or `notAfter`, or its signal's deadline). */
  deadlineMs: number;
  /** An absolute time (clock ms) no operation may go past, e.g. the boot deadline. */
  notAfter?: number;
  retryBaseMs?: number;
  retryCapMs?: number;
  tokenTtlSeconds?: number;
  /** Shared with other clients of the same service; default: this client's own. */
  tokens?: ImdsTokenStore;
  clock?: Clock;
  random?: () => number;
  log?: Logger;
}

interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export class ImdsClient implements Imds {
  private readonly o: Required<Pick<ImdsClientOptions, 'retryBaseMs' | 'retryCapMs' | 'tokenTtlSeconds'>> & ImdsClientOptions;
  private readonly clock: Clock;
  private readonly dispatcher: Agent;
  private readonly tokens: ImdsTokenStore;
  private identityCache?: Promise<{ document: IdentityDocument; raw: string }>;
  private signatureCache?: Promise<string>;

  constructor(options: ImdsClientOptions) {
    this.o = { retryBaseMs: 100, retryCapMs: 2_000, tokenTtlSeconds: TOKEN_TTL_SECONDS, ...options, endpoint: options.endpoint.replace(/\/+$/, '') };
    this.clock = options.clock ?? realClock;
    this.tokens = options.tokens ?? {};
    this.dispatcher = new Agent({ connect: { timeout: options.timeoutMs }, keepAliveTimeout: 1_000, keepAliveMaxTimeout: 5_000 });
  }

  /** The bytes as EC2 stores them: user-data/decode.ts unpacks gzip (bounded) and checks the size. */
  userData(signal?: AbortSignal): Promise<Buffer | undefined> {
    return this.get('/latest/user-data', signal);
  }

  identity(signal?: AbortSignal): Promise<{ document: IdentityDocument; raw: string }> {
    this.identityCache ??= this.fetchIdentity(signal).catch((e) => {
      this.identityCache = undefined;
      throw e;
    });
    return untilAborted(this.identityCache, signal);
  }

  /** Cached like the identity document it signs; a failed read is not kept. */
  identitySignature(signal?: AbortSignal): Promise<string> {
    this.signatureCache ??= this.fetchSignature(signal).catch((e) => {
      this.signatureCache = undefined;
      throw e;
    });
    return untilAborted(this.signatureCache, signal);
  }

  private async fetchSignature(signal?: AbortSignal): Promise<string> {
    const body = await this.get('/latest/dynamic/instance-identity/pkcs7', signal);
    if (body === undefined)
      throw new AgentError('TPG_IMDS_UNAVAILABLE', 'the instance metadata service has no identity signature (pkcs7)', { retriable: false });
    return body.toString('utf8').trim();
  }

  async metadata(path: string, signal?: AbortSignal): Promise<string | undefined> {
    const body = await this.get(`/latest/meta-data/${path.replace(/^\/+/, '')}`, signal);
    return body?.toString('utf8');
  }

  async close(): Promise<void> {
    await this.dispatcher.close().catch(() => undefined);
  }

  private async fetchIdentity(signal?: AbortSignal): Promise<{ document: IdentityDocument; raw: string }> {
    const path = '/latest/dynamic/instance-identity/document';
    const body = await this.get(path, signal);
    if (body === undefined) throw new AgentError('TPG_IMDS_UNAVAILABLE', `the instance metadata service has no ${path}`, { retriable: false });
    const raw = body.toString('utf8');
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      throw new AgentError('TPG_IMDS_UNAVAILABLE', `the instance identity document is not JSON (${raw.length} bytes)`, { retriable: false });
    }
    const str = (k: string) => (typeof doc[k] === 'string' && doc[k] !== '' ? (doc[k] as string) : undefined);
    const missing = ['instanceId', 'region', 'availabilityZone', 'accountId'].filter((k) => !str(k));
    if (missing.length) throw new AgentError('TPG_IMDS_UNAVAILABLE', `the instance identity document lacks ${missing.join(', ')}`, { retriable: false });
    const document: IdentityDocument = {
      instanceId: str('instanceId')!,
      region: str('region')!,
      availabilityZone: str('availabilityZone')!,
      accountId: str('accountId')!,
      ...(str('privateIp') ? { privateIp: str('privateIp')! } : {}),
      ...(str('imageId') ? { imageId: str('imageId')! } : {}),
      ...(str('instanceType') ? { instanceType: str('instanceType')! } : {}),
    };
    return { document, raw };
  }

  /** GET with token, retries and the overall deadline; undefined on 404. */
  private get(path: string, signal?: AbortSignal): Promise<Buffer | undefined> {
    const deadline = Math.min(this.clock.now() + this.o.deadlineMs, this.o.notAfter ?? Number.POSITIVE_INFINITY);
    return retryCall(
      () => this.getOnce(path, deadline, signal),
      {
        baseMs: this.o.retryBaseMs,
        capMs: this.o.retryCapMs,
        deadline,
        clock: this.clock,
        ...(signal ? { signal } : {}),
        ...(this.o.random ? { random: this.o.random } : {}),
      },
      {
        what: `instance metadata GET ${path}`,
        ...(this.o.log ? { log: this.o.log } : {}),
        fields: { path },
        reason: describe,
        fail: (e, tally) =>
          new AgentError(
            'TPG_IMDS_UNAVAILABLE',
            `the instance metadata service at ${this.o.endpoint} did not answer GET ${path}: ${describe(e)} (${describeTally(tally)})`,
            {
              cause: e,
              retriable: false,
              hint: 'check that the instance metadata service is enabled (aws ec2 modify-instance-metadata-options --http-endpoint enabled --http-tokens required) and that nothing on the host blocks 169.254.169.254; off EC2, set AWS_EC2_METADATA_SERVICE_ENDPOINT or metadata.endpoint in agent.yaml',
              details: { path, attempts: tally.attempts, endpoint: this.o.endpoint },
            },
          ),
      },
    );
  }

  private async getOnce(path: string, deadline: number, signal?: AbortSignal): Promise<Buffer | undefined> {
    let token = await this.sessionToken(deadline, signal);
    let res = await this.http('GET', path, { 'x-aws-ec2-metadata-token': token }, deadline, signal);
    if (res.status === 401) {
      // The token was revoked or the service forgot it: one fresh token, one more try.
      this.forgetToken(token);
      token = await this.sessionToken(deadline, signal);
      res = await this.http('GET', path, { 'x-aws-ec2-metadata-token': token }, deadline, signal);
      if (res.status === 401) this.forgetToken(token);
    }
    if (res.status === 200) return res.body;
    if (res.status === 404) return undefined;
    throw statusError(res.status, `GET ${path}`);
  }

  private async sessionToken(deadline: number, signal?: AbortSignal): Promise<string> {
    const store = this.tokens;
    const fresh = () => (store.token && this.clock.now() < store.token.refreshAt ? store.token.value : undefined);
    const now = fresh();
    if (now) return now;
    const joined = store.pending;
    if (joined) {
      try {
        return await joined.token;
      } catch (e) {
        // Stopped by its own caller (a boot phase that ended), not by the service: fetch ours.
        if (!joined.signal?.aborted || signal?.aborted) throw e;
      }
    }
    const cached = fresh();
    if (cached) return cached;
    if (!store.pending || store.pending === joined) {
      const token = this.fetchToken(deadline, signal).finally(() => {
        if (store.pending?.token === token) store.pending = undefined;
      });
      store.pending = { token, signal };
    }
    return store.pending.token;
  }

  /** A token the service refused (401): the next call fetches a new one, unless one already did. */
  private forgetToken(value: string): void {
    if (this.tokens.token?.value === value) this.tokens.token = undefined;
  }

  private async fetchToken(deadline: number, signal?: AbortSignal): Promise<string> {
    const asked = this.o.tokenTtlSeconds;
    const fetchedAt = this.clock.now();
    const res = await this.http('PUT', TOKEN_PATH, { 'x-aws-ec2-metadata-token-ttl-seconds': String(asked) }, deadline, signal);
    if (res.status !== 200) {
      if (res.status === 403)
        throw new AgentError(
          'TPG_IMDS_UNAVAILABLE',
          'HTTP 403 for a session token: the instance metadata service is disabled, or the request came through a proxy',
          { retriable: false },
        );
      if (res.status === 404 || res.status === 405)
        throw new AgentError('TPG_IMDS_UNAVAILABLE', `HTTP ${res.status} for a session token: this metadata service does not speak IMDSv2`, {
          retriable: false,
        });
      throw statusError(res.status, `PUT ${TOKEN_PATH}`);
    }
    const value = res.body.toString('utf8').trim();
    if (!value) throw new AgentError('TPG_IMDS_UNAVAILABLE', 'the instance metadata service answered an empty session token');
    const granted = Number(res.headers['x-aws-ec2-metadata-token-ttl-seconds'] ?? asked);
    const ttlMs = (Number.isFinite(granted) && granted > 0 ? granted : asked) * 1000;
    // Renew a little early so a request never goes out with a token that expires in flight.
    this.tokens.token = { value, refreshAt: fetchedAt + ttlMs - Math.min(60_000, ttlMs / 10) };
    return value;
  }

  private async http(method: 'GET' | 'PUT', path: string, headers: Record<string, string>, deadline: number, signal?: AbortSignal): Promise<HttpAnswer> {
    const left = deadline - this.clock.now();
    if (left <= 0) throw new AgentError('TPG_TIMEOUT', `no time left for ${method} ${path}`, { retriable: false });
    const ms = Math.max(1, Math.min(this.o.timeoutMs, left));
    return withTimeout(
      ms,
      `instance metadata ${method} ${path}`,
      async (sig) => {
        const res = await request(`${this.o.endpoint}${path}`, {
          method,
          headers,
          signal: sig,
          dispatcher: this.dispatcher,
          headersTimeout: ms,
          bodyTimeout: ms,
        });
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const chunk of res.body) {
          size += (chunk as Buffer).length;
          if (size > MAX_ANSWER_BYTES) {
            res.body.destroy();
            throw new AgentError('TPG_IMDS_UNAVAILABLE', `the instance metadata service sent more than ${MAX_ANSWER_BYTES} bytes for ${method} ${path}`, {
              retriable: false,
            });
          }
          chunks.push(chunk as Buffer);
        }
        return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) };
      },
      signal ? { signal } : {},
    );
  }
}

function statusError(status: number, what: string): AgentError {
  // 5xx and 429 are the service being busy or restarting; 401 after a fresh token is a race with
  // a restart; anything else will not change by asking again.
  const retriable = status >= 500 || status === 429 || status === 401;
  return new AgentError('TPG_IMDS_UNAVAILABLE', `HTTP ${status} for ${what}`, { retriable });
}

/** A short reason for people: the HTTP status, the timeout, or the socket error code. */
function describe(e: unknown): string {
  if (isAgentError(e)) return e.message;
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    const inner = e.cause instanceof Error ? describe(e.cause) : undefined;
    const text = e.message || inner || e.name;
    return typeof code === 'string' && !text.includes(code) ? `${text} (${code})` : text;
  }
  return String(e);
}
