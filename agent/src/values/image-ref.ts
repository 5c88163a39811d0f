/*! Docker image references as the user-data contract accepts them:
 * `registry[:port]/org/name[/more]:tag[@sha256:<64 hex>]`, never `latest`, never a SNAPSHOT tag.
 * Pure; the one place that decides what a valid `source` is. */

export interface ImageRef {
  /** Host and optional port, e.g. `pierone.stups.zalan.do` or `127.0.0.1:5000`. */
  readonly registry: string;
  /** Path inside the registry, e.g. `team/app` (org/name, name may contain further `/`). */
  readonly repository: string;
  readonly tag: string;
  /** `sha256:<hex>` when the team pinned one. */
  readonly digest?: string;
}

export type ImageRefResult = { ok: true; ref: ImageRef } | { ok: false; reason: string };

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const HOST =
  /^(?:localhost|(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?))+|\[[0-9A-Fa-f:]+\])(?::[0-9]{1,5})?$/;

export function parseImageRef(text: string): ImageRefResult {
  const fail = (reason: string): ImageRefResult => ({ ok: false, reason });
  if (text.trim() !== text || text === '') return fail('must not be empty or carry spaces');
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) return fail(`the pinned digest "${digest}" is not sha256: followed by 64 lowercase hex digits`);
  }
  const slash = rest.indexOf('/');
  if (slash < 0) return fail('no registry: write registry/org/name:tag, e.g. pierone.stups.zalan.do/team/app:1.0');
  const registry = rest.slice(0, slash);
  let path = rest.slice(slash + 1);
  if (!HOST.test(registry) || (registry.includes(':') && !validPort(registry.slice(registry.lastIndexOf(':') + 1)))) {
    return fail(
      `no registry: "${registry}" is not a registry host name; write registry/org/name:tag, e.g. pierone.stups.zalan.do/${rest.replace(/:[^/]*$/, '')}:1.0`,
    );
  }
  const colon = path.lastIndexOf(':');
  if (colon < 0) return fail('no tag: name the exact version, e.g. :1.0 (a moving tag would run whatever is newest)');
  const tag = path.slice(colon + 1);
  path = path.slice(0, colon);
  if (tag === '') return fail('empty tag after ":"; name the exact version, e.g. :1.0');
  if (!TAG.test(tag)) return fail(`the tag "${tag}" has characters a Docker tag cannot have (letters, digits, _ . - only, at most 128)`);
  if (tag === 'latest') return fail('the tag latest is not allowed: it moves, so two instances could run different code; name the exact version');
  if (/snapshot/i.test(tag)) return fail(`the tag "${tag}" is a SNAPSHOT tag, which is not allowed for deployments; release a version and use its tag`);
  const parts = path.split('/');
  if (parts.length < 2) return fail(`the image path "${path}" needs an organization and a name: registry/org/name:tag`);
  for (const p of parts) {
    if (!COMPONENT.test(p)) return fail(`"${p}" in "${path}" is not a valid image path component (lowercase letters, digits and . _ - between them)`);
  }
  if (path.length > 255) return fail('the image path is longer than 255 characters');
  return { ok: true, ref: { registry, repository: path, tag, ...(digest ? { digest } : {}) } };
}

function validPort(p: string): boolean {
  const n = Number(p);
  return /^[0-9]{1,5}$/.test(p) && n >= 1 && n <= 65535;
}

export function formatImageRef(ref: ImageRef): string {
  return `${ref.registry}/${ref.repository}:${ref.tag}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** The reference Docker pulls when we pin by digest: `registry/repo@sha256:...`. */
export function digestRef(ref: ImageRef, digest: string): string {
  return `${ref.registry}/${ref.repository}@${digest}`;
}

/** Loopback registries may be spoken to over plain HTTP, as Docker itself allows. */
export function isLoopbackRegistry(registry: string): boolean {
  const host = registry.startsWith('[') ? registry.slice(1, registry.indexOf(']')) : registry.replace(/:\d+$/, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
