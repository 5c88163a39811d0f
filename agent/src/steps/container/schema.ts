/*! User-data keys that shape the application container: identity, image, environment, ports,
 * mounts, privileges and health check. */
import { t, INVALID, error, type CheckContext, type Path } from '../../lib/schema/types.js';
import { parseImageRef, type ImageRef } from '../../values/image-ref.js';
import { environmentValue, envName } from '../../values/environment.js';
import { parsePort, portSpec, PORT_PATTERN, type PortMapping, type PortSpec } from '../../values/network-port.js';
import { httpUrl, singleLine } from '../../values/text.js';

export const KIO_ID = /^[a-z][a-z0-9-]*[a-z0-9]$/;

/** Where the image binds a host path into the container when a key asks for it. */
export const FLAG_BINDS = {
  mount_custom_log: '/var/log',
  mount_var_log: '/var/log-host',
  docker_daemon_access: '/var/run/docker.sock',
} as const;

/**
 * A `mounts` entry at a path one of those keys also binds would be a second mount on the same
 * container path, which Docker refuses only when the boot creates the container: refused here, at
 * the mount's key, before anyone deploys. (`/meta` and `/etc` cannot be mount paths at all.)
 */
export function mountsAvoidFlagBinds(doc: Readonly<Record<string, unknown>>, path: Path, ctx: CheckContext): boolean {
  const mounts = (doc.mounts ?? {}) as Readonly<Record<string, unknown>>;
  let ok = true;
  for (const [key, target] of Object.entries(FLAG_BINDS)) {
    if (doc[key] !== true || !Object.hasOwn(mounts, target)) continue;
    ok = false;
    ctx.report(
      error(
        [...path, 'mounts', target],
        'TPG_UD_DUPLICATE',
        `${target} is where ${key}: true mounts in the container already; Docker would refuse the container at boot. Give this mount another path, or drop ${key}`,
        'key',
      ),
    );
  }
  return ok;
}

const hostPortKey = t.string({ acceptNumbers: true }).refine<string>((key, path, ctx) => {
  const host = parsePort(key, 'host port');
  if (typeof host === 'string') {
    ctx.report(error(path, 'TPG_UD_PORT', host, 'key'));
    return INVALID;
  }
  return key;
});

const portMappings = t.map(hostPortKey, portSpec, { keyJson: { pattern: PORT_PATTERN } }).refine<PortMapping[]>((ports, path, ctx) => {
  const out: PortMapping[] = [];
  let ok = true;
  const seen = new Set<string>();
  for (const [key, target] of Object.entries(ports)) {
    const host = parsePort(key, 'host port') as PortSpec;
    if (host.protocol && target.protocol && host.protocol !== target.protocol) {
      ctx.report(
        error(
          [...path, key],
          'TPG_UD_PORT',
          `host port says /${host.protocol} but container port says /${target.protocol}; use the same protocol on both sides`,
        ),
      );
      ok = false;
      continue;
    }
    const protocol = host.protocol ?? target.protocol ?? 'tcp';
    const id = `${host.port}/${protocol}`;
    if (seen.has(id)) {
      ctx.report(error([...path, key], 'TPG_UD_DUPLICATE', `host port ${id} is mapped twice`, 'key'));
      ok = false;
    }
    seen.add(id);
    out.push({ hostPort: host.port, containerPort: target.port, protocol });
  }
  return ok ? out.sort((a, b) => a.hostPort - b.hostPort || a.protocol.localeCompare(b.protocol)) : INVALID;
});

const imageRef = t.string({ acceptNumbers: false, singleLine: true, minLength: 1 }).refine<ImageRef>((v, path, ctx) => {
  const r = parseImageRef(v);
  if (!r.ok) {
    ctx.report(error(path, 'TPG_UD_IMAGE_REF', `invalid image reference: ${r.reason}`));
    return INVALID;
  }
  return r.ref;
});

const capability = t.string({
  pattern: /^(?:ALL|(?:CAP_)?[A-Z][A-Z0-9_]*)$/,
  patternMessage: 'must be a Linux capability name in upper case, e.g. NET_ADMIN or SYS_PTRACE (or ALL)',
});

/** Environment names Taupage sets itself (container plan); the team's values for them are ignored. */
export const RESERVED_ENV: readonly string[] = ['APPLICATION_ID', 'APPLICATION_VERSION', 'CREDENTIALS_DIR'];

export const containerKeys = {
  application_id: t
    .string({
      singleLine: true,
      maxLength: 100,
      pattern: KIO_ID,
      patternMessage: 'must be a Kio application id: lowercase letters, digits and dashes, starting with a letter and not ending with a dash (e.g. my-app)',
      acceptNumbers: false,
    })
    .required()
    .whenMissing('the Kio application id, e.g. my-app (in a Senza TaupageConfig Senza fills it in from the stack name: check those with --senza)')
    .describe('Kio application id. Given to the container as APPLICATION_ID; names the Mint credentials folder and log attributes.')
    .examples('my-app'),
  application_version: singleLine({ maxLength: 256 })
    .required()
    .whenMissing(
      'the application version, e.g. "1.0"; the original Taupage booted without it and gave the container APPLICATION_VERSION=None (in a Senza TaupageConfig Senza fills it in from the stack version: check those with --senza)',
    )
    .describe('Application version (Kio). Given to the container as APPLICATION_VERSION; written as typed (1.10 stays "1.10").')
    .examples('1.0.3'),
  runtime: t.enum(['Docker']).required().describe('Runtime that runs the application. Only Docker exists.'),
  source: imageRef
    .required()
    .describe('Docker image: registry/org/name:tag, optionally @sha256:<digest>. Must be approved in Pier One; `latest` and SNAPSHOT tags are refused.')
    .examples('pierone.stups.zalan.do/team/my-app:1.0.3'),
  root: t.boolean().default(false).describe("Run the container as the image's own user instead of the `application` user (uid 999)."),
  ports: portMappings.describe('Published ports, host port → container port. Add /udp for UDP on either side (e.g. "53/udp": 53).').examples({ 80: 8080 }),
  environment: t
    .map(envName, environmentValue)
    .refine((env, path, ctx) => {
      for (const k of Object.keys(env)) {
        if (RESERVED_ENV.includes(k))
          ctx.report({
            path: [...path, k],
            code: 'TPG_UD_RESERVED_ENV',
            message: `${k} is set by Taupage; your value is ignored`,
            severity: 'warning',
            at: 'key',
          });
      }
      return env;
    })
    .default({})
    .describe(
      'Environment variables for the container. Values are used as written; `aws:kms:<base64>` values are decrypted with KMS at boot. Keys containing pass/secret/private are never logged.',
    ),
  health_check_path: t
    .string({ singleLine: true, pattern: /^\/[^\s]*$/, patternMessage: 'must be an HTTP path starting with /, e.g. /health' })
    .describe('HTTP path polled on localhost until it answers 200; the boot fails if it does not within health_check_timeout_seconds.'),
  health_check_port: t.integer({ min: 1, max: 65535 }).describe('Port for the health check. Default: the lowest TCP host port in `ports`.'),
  health_check_timeout_seconds: t.integer({ min: 1, max: 86_400 }).default(60).describe('How long to wait for the health check to answer 200.'),
  capabilities_add: t.list(capability, { unique: true }).default([]).describe('Linux capabilities added to the container (docker --cap-add).'),
  capabilities_drop: t.list(capability, { unique: true }).default([]).describe('Linux capabilities dropped from the container (docker --cap-drop).'),
  hostname: t
    .string({
      singleLine: true,
      maxLength: 63,
      pattern: /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/,
      patternMessage: 'must be a host name label (letters, digits, dashes; at most 63)',
    })
    .describe("The container's host name (not the instance's)."),
  networking: t
    .string({
      singleLine: true,
      pattern: /^(?:bridge|host|none|container:[A-Za-z0-9][A-Za-z0-9_.-]*)$/,
      patternMessage: 'must be bridge, host, none or container:<name>',
    })
    .default('bridge')
    .describe('Docker network mode of the container.'),
  privileged: t.boolean().default(false).describe('Run the container privileged (docker --privileged).'),
  read_only: t.boolean().default(false).describe("Mount the container's root filesystem read-only."),
  shm_size: t
    .string({ singleLine: true, pattern: /^[0-9]+[bkmgBKMG]?$/, patternMessage: 'must be a size such as 64m or 1g' })
    .describe('Size of /dev/shm in the container (Docker default 64m).'),
  docker_daemon_access: t.boolean().default(false).describe('Mount the Docker socket into the container (gives the application control of the host).'),
  mount_var_log: t.boolean().default(false).describe("Mount the host's /var/log read-only at /var/log-host."),
  mount_custom_log: t
    .boolean()
    .default(false)
    .describe(
      "Mount /var/log-custom at /var/log (read-write); the boot creates it, writable by the application user. Its *.log files are shipped, read as the application's user (never root: a link there leads nowhere the application could not read). On the image /var/log-custom is mounted nosymfollow, nodev, nosuid and noexec, and the boot fails with TPG_CUSTOM_LOG_UNPROTECTED when it is not (docs/logging.md).",
    ),
  mount_certs: t.boolean().default(false).describe("Mount the host's /etc/ssl/certs read-only."),
  tokeninfo_url: httpUrl().describe('OAuth token info URL given to the container as TOKENINFO_URL (your environment may override it).'),
  dockercfg: t
    .map(t.string(), t.any({ type: 'object' }, 'mapping'))
    .secret()
    .describe('Registry credentials (Docker config `auths` entries) for pulling from private registries other than Pier One.'),
};
