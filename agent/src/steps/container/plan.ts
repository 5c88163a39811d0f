/*! The application container, decided by pure code: everything the original's `docker run` had,
 * shaped by the user data and the agent config. The container step creates exactly this. */
import { createHash } from 'node:crypto';
import type { PlanInput, StepPlan, PlanNote } from '../step.js';
import { formatImageRef, type ImageRef } from '../../values/image-ref.js';
import { isKmsEncrypted } from '../../values/kms.js';
import { parseSize } from '../../values/size.js';
import type { EnvValue } from '../../values/environment.js';
import { isSecret } from '../../lib/secret.js';
import type { Bind, ContainerSetup } from '../../ports/container-runtime.js';
import { FLAG_BINDS, RESERVED_ENV } from './schema.js';
import { applicationTag, containerSyslogAddress } from '../logging/plan.js';

export const CONTAINER_NAME = 'taupageapp';
/** Where the container sees the credentials directory and the config. */
export const CONTAINER_META = '/meta';
export const CONTAINER_CREDENTIALS_DIR = '/meta/credentials';

export const LABELS = {
  applicationId: 'org.taupage.application-id',
  applicationVersion: 'org.taupage.application-version',
  configHash: 'org.taupage.config-hash',
  imageDigest: 'org.taupage.image-digest',
  bootId: 'org.taupage.boot-id',
} as const;

export interface EnvEntry {
  name: string;
  value: EnvValue;
}

/** How the boot decides the application is up: an HTTP check when health_check_path is set, and
 * the image's own Docker HEALTHCHECK when it has one; both within `timeoutSeconds`. */
export interface HealthCheckPlan {
  http?: { url: string; port: number; path: string; requestTimeoutMs: number };
  timeoutSeconds: number;
  /** Longest pause between two polls (they start at 100 ms and back off to this). */
  intervalMs: number;
}

export interface ContainerPlan extends StepPlan, ContainerSetup {
  image: ImageRef;
  /** `source` as written. */
  reference: string;
  env: EnvEntry[];
  health: HealthCheckPlan;
  /** Hash of the container's configuration (with ciphertexts, never plaintext; not the health
   * check, which is not part of the container): a changed plan replaces the container. */
  configHash: string;
  /** Host paths that must be mount points before the container starts (every bind under /mounts
   * but those of mounts without a partition, which are directories of the root disk). */
  mountPoints: string[];
}

export function planContainer({ settings: s, config, paths }: PlanInput): ContainerPlan {
  const notes: PlanNote[] = [];
  const env: EnvEntry[] = [];
  if (s.tokeninfo_url) env.push({ name: 'TOKENINFO_URL', value: s.tokeninfo_url });
  for (const [name, value] of Object.entries(s.environment)) {
    if (RESERVED_ENV.includes(name)) continue;
    const at = env.findIndex((e) => e.name === name);
    if (at >= 0) env.splice(at, 1); // the team's TOKENINFO_URL wins over the baked one
    env.push({ name, value });
  }
  env.push(
    { name: 'APPLICATION_ID', value: s.application_id },
    { name: 'APPLICATION_VERSION', value: s.application_version },
    { name: 'CREDENTIALS_DIR', value: CONTAINER_CREDENTIALS_DIR },
  );

  const binds: Bind[] = [];
  const mountPoints: string[] = [];
  for (const [path, m] of Object.entries(s.mounts ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    binds.push({ host: `${paths.mounts}${path}`, container: path, readOnly: false });
    if (m.partition !== undefined || m.filesystem === 'tmpfs') mountPoints.push(`${paths.mounts}${path}`);
  }
  binds.push({ host: paths.meta, container: CONTAINER_META, readOnly: true });
  if (s.mount_var_log) binds.push({ host: paths.varLog, container: FLAG_BINDS.mount_var_log, readOnly: true });
  if (s.mount_custom_log) binds.push({ host: paths.varLogCustom, container: FLAG_BINDS.mount_custom_log, readOnly: false });
  if (s.mount_certs) binds.push({ host: paths.certs, container: '/etc/ssl/certs', readOnly: true });
  if (s.docker_daemon_access) {
    binds.push({ host: paths.dockerSocket, container: FLAG_BINDS.docker_daemon_access, readOnly: false });
    notes.push({
      level: 'warning',
      message:
        'docker_daemon_access gives the application control of the Docker engine (and so of the host); only the socket is mounted, bring your own docker client in the image',
    });
  }

  const ports = s.ports ?? [];
  if (s.networking === 'host' && ports.length)
    notes.push({ level: 'warning', message: 'networking: host ignores ports; the application listens on the host directly' });

  const health: HealthCheckPlan = { timeoutSeconds: s.health_check_timeout_seconds, intervalMs: 2_000 };
  if (s.health_check_path) {
    const port =
      s.health_check_port ??
      ports
        .filter((p) => p.protocol === 'tcp')
        .map((p) => p.hostPort)
        .sort((a, b) => a - b)[0];
    if (port === undefined)
      notes.push({
        level: 'warning',
        message: 'health_check_path is set but there is no health_check_port and no TCP port in ports: the health check is skipped',
      });
    else health.http = { url: `http://127.0.0.1:${port}${s.health_check_path}`, port, path: s.health_check_path, requestTimeoutMs: 5_000 };
  }

  // Docker's syslog driver to the rsyslog input the logging step sets up (it runs first).
  const logConfig: ContainerPlan['logConfig'] = {
    type: 'syslog',
    config: { tag: applicationTag(s), 'syslog-address': containerSyslogAddress({ config, paths }) },
  };

  const base = {
    name: CONTAINER_NAME,
    image: s.source,
    reference: formatImageRef(s.source),
    env,
    ports,
    binds,
    ...(s.root ? {} : { user: `${config.application_user.uid}:${config.application_user.gid}` }),
    capAdd: s.capabilities_add,
    capDrop: s.capabilities_drop,
    ...(s.hostname ? { hostname: s.hostname } : {}),
    networkMode: s.networking,
    privileged: s.privileged,
    readOnlyRootfs: s.read_only,
    ...(s.shm_size ? { shmSizeBytes: parseSize(s.shm_size) } : {}),
    restartPolicy: { name: 'on-failure' as const, maximumRetryCount: 10 },
    logConfig,
  };
  const configHash = hashPlan(base);
  const labels = {
    [LABELS.applicationId]: s.application_id,
    [LABELS.applicationVersion]: s.application_version,
    [LABELS.configHash]: configHash,
  };
  return { ...base, labels, health, configHash, mountPoints, ...(notes.length ? { notes } : {}) };
}

/** sha256 over the plan with ciphertexts and secret values in (never printed; a change must show). */
function hashPlan(plan: object): string {
  const json = JSON.stringify(plan, (_k, v: unknown) => {
    if (isKmsEncrypted(v)) return { kms: v.ciphertext.reveal() };
    if (isSecret(v)) return { secret: createHash('sha256').update(v.reveal()).digest('hex') };
    return v;
  });
  return `sha256:${createHash('sha256').update(json).digest('hex')}`;
}
