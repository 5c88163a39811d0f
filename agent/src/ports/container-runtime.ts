/*! The Docker engine as the container step needs it: a few calls in domain words, each taking an
 * AbortSignal and each bounded in time by the adapter (adapters/dockerode-runtime.ts); calls that
 * are retried retry until the deadline the signal carries (a boot's). */
import type { Secret } from '../lib/secret.js';
import type { PortMapping } from '../values/network-port.js';
import type { RegistryCredentials } from './registry-trust.js';

export interface Bind {
  host: string;
  container: string;
  readOnly: boolean;
}

/** How the application container is set up, apart from its image and environment: what the
 * container step plans (steps/container/plan.ts) and the runtime creates, field for field. */
export interface ContainerSetup {
  name: string;
  ports: PortMapping[];
  binds: Bind[];
  /** Numeric uid:gid, or undefined for the image's own USER (root: true). */
  user?: string;
  capAdd: string[];
  capDrop: string[];
  hostname?: string;
  networkMode: string;
  privileged: boolean;
  readOnlyRootfs: boolean;
  shmSizeBytes?: number;
  restartPolicy: { name: 'on-failure'; maximumRetryCount: number };
  logConfig: { type: 'syslog'; config: Record<string, string> };
  labels: Record<string, string>;
}

/** What `inspectApp` tells about the application container. */
export interface AppState {
  id: string;
  /** The reference the container was created from (we create from `registry/repo@sha256:...`). */
  image: string;
  /** Local image id (sha256 of the image config). */
  imageId: string;
  labels: Record<string, string>;
  status: 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';
  running: boolean;
  exitCode: number;
  restartCount: number;
  /** Docker's own error for the last start (e.g. a logging driver that could not start). */
  error?: string;
  /** Present when the image (or container) has a Docker HEALTHCHECK. */
  health?: { status: 'starting' | 'healthy' | 'unhealthy'; lastOutput?: string };
}

export interface PullProgress {
  /** Layers seen so far, and how many are downloaded and extracted (or already present). */
  layers: number;
  layersDone: number;
  bytesDone: number;
  bytesTotal: number;
}

export interface PulledImage {
  id: string;
  /** `registry/repo@sha256:...` entries the engine recorded for the image. */
  repoDigests: string[];
}

export interface AppEnv {
  name: string;
  /** Plaintext only inside a Secret; the adapter reveals it when handing the container to Docker. */
  value: string | Secret;
}

/** A container to create: the container plan with the image pinned and the environment resolved. */
export interface AppSpec extends ContainerSetup {
  /** Always by digest: `registry/repo@sha256:...`. */
  image: string;
  env: AppEnv[];
}

export interface PullOptions {
  credentials?: RegistryCredentials;
  /** Cancels the pull. The deadline it carries (lib/retry deadlineSignal) bounds it: no attempt
   * starts after it, and the one running then ends with the signal's reason (TPG_PULL_TIMEOUT). */
  signal: AbortSignal;
  onProgress?: (progress: PullProgress) => void;
}

export interface ContainerRuntime {
  /** The container named `name` (or with that id), or undefined when there is none. */
  inspectApp(name: string, signal?: AbortSignal): Promise<AppState | undefined>;
  /** Pull `reference` (by digest), retrying with backoff until the deadline its signal carries. */
  pullImage(reference: string, options: PullOptions): Promise<PulledImage>;
  /** Create (not start) the container; fails if the name is taken. Returns its id. */
  createApp(spec: AppSpec, signal?: AbortSignal): Promise<string>;
  /** Start the container `name` (or id: only that container, whatever holds the name by then); starting a running container is not an error. */
  startApp(name: string, signal?: AbortSignal): Promise<void>;
  /** Stop (SIGTERM, then SIGKILL after 10 s) and start it again; by name or id as startApp. */
  restartApp(name: string, signal?: AbortSignal): Promise<void>;
  /** Remove it, running or not; a missing container is not an error. */
  removeApp(name: string, signal?: AbortSignal): Promise<void>;
  /** Wait until it is not running; its exit code. */
  waitForExit(name: string, signal?: AbortSignal): Promise<number>;
}
