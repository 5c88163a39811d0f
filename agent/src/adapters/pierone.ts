/*! RegistryTrust over undici: ask Pier One whether an image is approved, and which manifest
 * digest its tag names right now.
 *
 * GET /v2/{repository}/manifests/{tag} (HTTPS; plain HTTP only for loopback registries, as Docker
 * allows), accepting Docker v2 and OCI manifests and indexes. Approved only if
 * X-Production-Ready-Taupage (when present) else X-Trusted is exactly "true". Everything else
 * fails closed: a missing header, an unexpected status, a body whose digest differs from
 * Docker-Content-Digest. Transport problems, timeouts and 5xx/429 are retried with full-jitter
 * backoff until the deadline the caller's signal carries (the boot's), through lib/retry's
 * retryCall like every other client: each retry logged, the give-up saying what was tried.
 *
 * Only Pier One may approve: an image whose registry is not in pierone.registries is refused
 * before any request, whatever that registry would say (a team's own registry can answer
 * `X-Trusted: true` for anything). */
import { createHash } from 'node:crypto';
import { request } from './http/undici.js';
import { AgentError, errorMessage } from '../lib/errors.js';
import { gaveUp, retryCall } from '../lib/retry.js';
import type { Logger } from '../lib/log.js';
import { isLoopbackRegistry, type ImageRef } from '../values/image-ref.js';
import type { ApprovedImage, RegistryCredentials, RegistryTrust } from '../ports/registry-trust.js';

export const MANIFEST_MEDIA_TYPES = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
] as const;

/** Manifests are small; anything bigger is not one. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface PierOneTrustOptions {
  /** pierone.registries: the only registries whose approval counts. */
  registries: readonly string[];
  /** Per request. */
  timeoutMs: number;
  /** Attempts when no deadline bounds the check; at boot it retries until the boot deadline. */
  attemptsWithoutDeadline: number;
  baseMs?: number;
  capMs?: number;
  random?: () => number;
  /** Each retry is logged here (lib/retry retryCall). */
  log?: Logger;
}

type Headers = Record<string, string | string[] | undefined>;

function header(h: Headers, name: string): string | undefined {
  const v = h[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

export function basicAuth(c: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password.reveal()}`).toString('base64')}`;
}

/** The trust verdict from the response headers (pure; exported for unit tests). */
export function trustVerdict(h: Headers): { trusted: boolean; reason: string } {
  const ready = header(h, 'x-production-ready-taupage');
  const trusted = header(h, 'x-trusted');
  const reason = header(h, 'x-production-ready-reason')?.trim();
  if (ready !== undefined) return { trusted: ready.trim() === 'true', reason: reason || `X-Production-Ready-Taupage is "${ready}"` };
  if (trusted !== undefined) return { trusted: trusted.trim() === 'true', reason: reason || `X-Trusted is "${trusted}"` };
  return { trusted: false, reason: 'the registry sent no X-Production-Ready-Taupage or X-Trusted header, so it is not Pier One or does not know the image' };
}

export class PierOneTrust implements RegistryTrust {
  constructor(private readonly options: PierOneTrustOptions) {}

  async approve(image: ImageRef, options: { credentials?: RegistryCredentials; signal?: AbortSignal }): Promise<ApprovedImage> {
    if (!this.options.registries.includes(image.registry)) {
      const listed = this.options.registries.length ? this.options.registries.join(', ') : 'none';
      throw new AgentError(
        'TPG_IMAGE_UNTRUSTED',
        `${image.registry} is not Pier One: only registries in pierone.registries (${listed}) may approve an image to run`,
        {
          retriable: false,
          hint: 'push the image to Pier One and use that source; an operator who runs another Pier One adds it to pierone.registries in the agent config',
          details: { registry: image.registry },
        },
      );
    }
    const scheme = isLoopbackRegistry(image.registry) ? 'http' : 'https';
    const url = `${scheme}://${image.registry}/v2/${image.repository}/manifests/${encodeURIComponent(image.tag)}`;
    const { signal } = options;
    return retryCall(
      (_attempt, s) => this.checkOnce(url, image, options.credentials, s!),
      {
        attemptsWithoutDeadline: this.options.attemptsWithoutDeadline,
        baseMs: this.options.baseMs ?? 250,
        capMs: this.options.capMs ?? 5_000,
        ...(signal ? { signal } : {}),
        ...(this.options.random ? { random: this.options.random } : {}),
      },
      {
        what: `registry ${image.registry}`,
        timeoutMs: this.options.timeoutMs,
        timeoutCode: 'TPG_REGISTRY_UNAVAILABLE',
        timeoutHint: `check that ${image.registry} is reachable from the instance (security groups, NAT, DNS)`,
        ...(this.options.log ? { log: this.options.log } : {}),
        fields: { registry: image.registry, image: `${image.repository}:${image.tag}` },
        fail: (last, tally) => gaveUp(last, tally, 'TPG_REGISTRY_UNAVAILABLE'),
      },
    );
  }

  private async checkOnce(url: string, image: ImageRef, credentials: RegistryCredentials | undefined, signal: AbortSignal): Promise<ApprovedImage> {
    const registry = image.registry;
    const name = `${registry}/${image.repository}:${image.tag}`;
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(url, {
        method: 'GET',
        signal,
        headers: { accept: MANIFEST_MEDIA_TYPES.join(', '), ...(credentials ? { authorization: basicAuth(credentials) } : {}) },
      });
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      const code = (e as { code?: string }).code ?? '';
      const tls = /CERT|TLS|SSL/i.test(code + errorMessage(e));
      throw new AgentError('TPG_REGISTRY_UNAVAILABLE', `registry ${registry} could not be reached: ${errorMessage(e)}${code ? ` (${code})` : ''}`, {
        cause: e,
        retriable: !tls,
        hint: tls
          ? `the TLS certificate of ${registry} is not trusted by this instance`
          : `check that ${registry} is reachable from the instance (security groups, NAT, DNS)`,
      });
    }
    const status = res.statusCode;
    const h = res.headers as Headers;
    const body = await readLimited(res.body, signal);
    if (status === 401 || status === 403) {
      throw new AgentError(
        'TPG_REGISTRY_AUTH',
        `registry ${registry} refused ${credentials ? 'the instance identity' : 'an anonymous request'} for ${name} (HTTP ${status})`,
        {
          retriable: false,
          hint: credentials
            ? 'Pier One did not accept this instance identity document; check that the account is allowed to pull from this team'
            : `${registry} requires a login: list it in pierone.registries (agent config) if it is Pier One`,
        },
      );
    }
    if (status === 404) {
      const code = registryErrorCode(body);
      // docker-registry answers MANIFEST_UNKNOWN for a missing repository too; Pier One may say NAME_UNKNOWN.
      const what =
        code === 'NAME_UNKNOWN'
          ? `repository ${image.repository} does not exist in ${registry}`
          : `${name} does not exist in the registry (no such tag or repository)`;
      throw new AgentError('TPG_IMAGE_NOT_FOUND', what, {
        retriable: false,
        hint: 'check the source in your user data: registry, team, artifact and tag as pushed',
      });
    }
    if (status === 408 || status === 429 || status >= 500) {
      const after = Number(header(h, 'retry-after'));
      throw new AgentError('TPG_REGISTRY_UNAVAILABLE', `registry ${registry} answered HTTP ${status} for ${name}`, {
        retriable: true,
        ...(Number.isFinite(after) && after > 0 ? { retryAfterMs: Math.min(after, 60) * 1000 } : {}),
      });
    }
    if (status !== 200) {
      throw new AgentError('TPG_IMAGE_UNTRUSTED', `cannot confirm that ${name} is approved: registry ${registry} answered HTTP ${status}`, {
        retriable: false,
      });
    }
    const verdict = trustVerdict(h);
    if (!verdict.trusted) {
      throw new AgentError('TPG_IMAGE_UNTRUSTED', `${name} is not approved for production: ${verdict.reason}`, {
        retriable: false,
        hint: 'get the image approved in Pier One (production-ready), or deploy an approved version',
        details: { image: name, reason: verdict.reason },
      });
    }
    const mediaType = (header(h, 'content-type') ?? '').split(';')[0]!.trim();
    if (!(MANIFEST_MEDIA_TYPES as readonly string[]).includes(mediaType)) {
      throw new AgentError('TPG_IMAGE_UNTRUSTED', `cannot pin ${name}: the registry answered with manifest type "${mediaType || 'none'}"`, {
        retriable: false,
        hint: 'push the image as a Docker v2 (schema 2) or OCI image',
      });
    }
    const computed = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    const announced = header(h, 'docker-content-digest');
    if (announced !== undefined && announced !== computed) {
      throw new AgentError(
        'TPG_IMAGE_DIGEST_MISMATCH',
        `registry ${registry} announced digest ${announced} for ${name} but sent a manifest with digest ${computed}`,
        { retriable: true },
      );
    }
    return { digest: announced ?? computed, mediaType };
  }
}

async function readLimited(body: AsyncIterable<Buffer> & { destroy?: () => void }, signal: AbortSignal): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > MAX_MANIFEST_BYTES) {
      body.destroy?.();
      throw new AgentError('TPG_IMAGE_UNTRUSTED', `the registry sent more than ${MAX_MANIFEST_BYTES} bytes for a manifest`, { retriable: false });
    }
    chunks.push(chunk);
    if (signal.aborted) throw signal.reason;
  }
  return Buffer.concat(chunks);
}

function registryErrorCode(body: Buffer): string | undefined {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { errors?: Array<{ code?: string }> };
    return parsed.errors?.[0]?.code;
  } catch {
    return undefined;
  }
}
