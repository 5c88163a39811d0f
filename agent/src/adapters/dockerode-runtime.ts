/*! ContainerRuntime over dockerode: the only file that speaks to the Docker engine.
 *
 * Every call has a timeout and an AbortSignal; calls that are safe to repeat are retried with
 * full-jitter backoff (lib/retry). Engine and registry errors become AgentErrors with stable codes
 * (TPG_DOCKER_UNAVAILABLE, TPG_REGISTRY_*, TPG_IMAGE_NOT_FOUND, TPG_PULL_*, TPG_CONTAINER_FAILED).
 * Secrets (registry password, secret environment values) are revealed here and only here, in
 * the request to the engine. */
import Docker from 'dockerode';
import { AgentError, type ErrorCode } from '../lib/errors.js';
import { gaveUp, retry, retryCall, type RetryPolicy } from '../lib/retry.js';
import type { Logger } from '../lib/log.js';
import { isSecret } from '../lib/secret.js';
import type { AppSpec, AppState, ContainerRuntime, PulledImage, PullOptions } from '../ports/container-runtime.js';
import { CONNECTION_CODES, engineMessage, pullOnce } from './docker-pull.js';

export interface DockerRuntimeOptions {
  /** DOCKER_HOST form: unix:///path, tcp://host:port, or a socket path. */
  host: string;
  /** Bound for every call except pull (its deadline) and wait (its signal). */
  requestTimeoutMs: number;
  /** Attempts for calls that may be repeated when no deadline bounds them (in a boot: until the boot deadline, which the step's signal carries). */
  attempts?: number;
  baseMs?: number;
  capMs?: number;
  /** Each retry is logged here (lib/retry retryCall). */
  log?: Logger;
}

/** dockerode connection options for a DOCKER_HOST value. */
export function dockerConnection(host: string): Docker.DockerOptions {
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  if (host.startsWith('/')) return { socketPath: host };
  const m = /^(tcp|http|https):\/\/([^/:]+|\[[^\]]+\]):?(\d+)?\/?$/.exec(host);
  if (!m)
    throw new AgentError('TPG_CONFIG_INVALID', `cannot use Docker host ${host}`, {
      hint: 'set docker.host (or DOCKER_HOST) to unix:///path/to/docker.sock or tcp://host:port',
    });
  return { protocol: m[1] === 'https' ? 'https' : 'http', host: m[2]!, port: Number(m[3] ?? (m[1] === 'https' ? 2376 : 2375)) };
}

interface DockerError extends Error {
  statusCode?: number;
  json?: { message?: string } | null;
  code?: string;
}

export class DockerodeRuntime implements ContainerRuntime {
  readonly docker: Docker;
  private readonly options: Required<Omit<DockerRuntimeOptions, 'log'>> & Pick<DockerRuntimeOptions, 'log'>;

  constructor(options: DockerRuntimeOptions) {
    this.options = { attempts: 5, baseMs: 250, capMs: 5_000, ...options };
    this.docker = new Docker(dockerConnection(options.host));
  }

  /** One engine call: timeout, retry when repeating it is safe (lib/retry retryCall), errors mapped to codes. */
  private async call<T>(
    what: string,
    fn: (signal: AbortSignal) => Promise<T>,
    opts: { signal?: AbortSignal; idempotent: boolean; failCode?: ErrorCode },
  ): Promise<T> {
    const failCode = opts.failCode ?? 'TPG_CONTAINER_FAILED';
    return retryCall(
      async (_attempt, s) => {
        try {
          return await fn(s!);
        } catch (e) {
          throw this.mapEngineError(e, what, failCode, opts.idempotent, s!);
        }
      },
      this.policy(opts.signal),
      {
        what: `Docker engine (${what})`,
        timeoutMs: this.options.requestTimeoutMs,
        timeoutCode: 'TPG_DOCKER_UNAVAILABLE',
        timeoutHint: `check that the Docker engine at ${this.options.host} is running`,
        ...this.logged(what),
        fail: (last, tally) => gaveUp(last, tally, failCode),
      },
    );
  }

  /** Only errors marked retriable are repeated: a create that timed out may have happened. */
  private policy(signal: AbortSignal | undefined): RetryPolicy {
    return {
      attemptsWithoutDeadline: this.options.attempts,
      baseMs: this.options.baseMs,
      capMs: this.options.capMs,
      ...(signal ? { signal } : {}),
      isRetriable: (e) => e instanceof AgentError && e.retriable === true,
    };
  }

  private logged(what: string): { log?: Logger; fields: Record<string, unknown> } {
    return { ...(this.options.log ? { log: this.options.log } : {}), fields: { call: what } };
  }

  private mapEngineError(e: unknown, what: string, failCode: ErrorCode, idempotent: boolean, signal: AbortSignal): unknown {
    if (e instanceof AgentError) return e;
    if (signal.aborted) return signal.reason instanceof AgentError ? signal.reason : e;
    const d = e as DockerError;
    if (d?.code && CONNECTION_CODES.has(d.code)) {
      // Only a refused or missing socket proves the request never reached the engine: safe to repeat.
      const neverSent = d.code === 'ECONNREFUSED' || d.code === 'ENOENT';
      return new AgentError('TPG_DOCKER_UNAVAILABLE', `the Docker engine at ${this.options.host} did not answer (${what}): ${d.code}`, {
        cause: e,
        retriable: idempotent || neverSent,
        hint: 'check that dockerd is running and that DOCKER_HOST / docker.host points at it',
      });
    }
    const status = d?.statusCode;
    return new AgentError(failCode, `Docker engine refused ${what}${status ? ` (${status})` : ''}: ${engineMessage(e)}`, {
      cause: e,
      retriable: idempotent && status !== undefined && status >= 500 && !/logging driver|syslog/i.test(engineMessage(e)),
      ...(/logging driver|syslog/i.test(engineMessage(e))
        ? {
            hint: 'the syslog log driver could not reach its address: set docker.syslog_address in the agent config (e.g. udp://127.0.0.1:514) or make sure rsyslog listens on /dev/log',
          }
        : {}),
    });
  }

  async inspectApp(name: string, signal?: AbortSignal): Promise<AppState | undefined> {
    const info = await this.call(
      `inspect ${name}`,
      async (s) => {
        try {
          return await this.docker.getContainer(name).inspect({ abortSignal: s });
        } catch (e) {
          if ((e as DockerError).statusCode === 404) return undefined;
          throw e;
        }
      },
      { idempotent: true, ...(signal ? { signal } : {}) },
    );
    if (!info) return undefined;
    const st = info.State as Docker.ContainerInspectInfo['State'] & { Error?: string };
    const health = st.Health as { Status?: string; Log?: Array<{ Output?: string }> } | undefined;
    return {
      id: info.Id,
      image: info.Config.Image,
      imageId: info.Image,
      labels: info.Config.Labels ?? {},
      status: st.Status as AppState['status'],
      running: st.Running,
      exitCode: st.ExitCode,
      restartCount: info.RestartCount ?? 0,
      ...(st.Error ? { error: st.Error } : {}),
      ...(health?.Status && health.Status !== 'none'
        ? {
            health: {
              status: health.Status as 'starting' | 'healthy' | 'unhealthy',
              ...(health.Log?.length ? { lastOutput: (health.Log[health.Log.length - 1]!.Output ?? '').trim().slice(0, 500) } : {}),
            },
          }
        : {}),
    };
  }

  async pullImage(reference: string, options: PullOptions): Promise<PulledImage> {
    const auth = options.credentials
      ? { username: options.credentials.username, password: options.credentials.password.reveal(), serveraddress: reference.slice(0, reference.indexOf('/')) }
      : undefined;
    // The pull's only bound is the deadline its signal carries: each attempt is cut by the signal.
    await retryCall((_attempt, s) => pullOnce(this.docker, reference, auth, s!, options.onProgress), this.policy(options.signal), {
      what: `pull of ${reference}`,
      ...this.logged(`pull ${reference}`),
      fail: (last, tally) => gaveUp(last, tally, 'TPG_PULL_FAILED'),
    });
    const image = await this.call(`inspect image ${reference}`, (s) => this.inspectImage(reference, s), {
      idempotent: true,
      failCode: 'TPG_PULL_FAILED',
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return { id: image.Id, repoDigests: image.RepoDigests ?? [] };
  }

  /** dockerode's image inspect takes no AbortSignal, so dial the engine directly. */
  private inspectImage(reference: string, signal: AbortSignal): Promise<Docker.ImageInspectInfo> {
    return new Promise((resolve, reject) => {
      this.docker.modem.dial(
        {
          path: `/images/${reference}/json`,
          method: 'GET',
          abortSignal: signal,
          statusCodes: { 200: true, 404: 'no such image', 500: 'server error' },
        } as never,
        (err: unknown, data: unknown) => (err ? reject(err) : resolve(data as Docker.ImageInspectInfo)),
      );
    });
  }

  async createApp(spec: AppSpec, signal?: AbortSignal): Promise<string> {
    // dockerode would also copy the whole body into the query string (so the environment would
    // land in URLs the engine logs at debug level); _query/_body keep it in the request body.
    const { name, ...body } = containerBody(spec);
    const request = { _query: { name }, _body: body };
    const c = await this.call(
      `create ${spec.name}`,
      (s) => this.docker.createContainer({ ...request, abortSignal: s } as unknown as Docker.ContainerCreateOptions),
      {
        idempotent: false,
        ...(signal ? { signal } : {}),
      },
    );
    return c.id;
  }

  async startApp(name: string, signal?: AbortSignal): Promise<void> {
    await this.call(
      `start ${name}`,
      async (s) => {
        try {
          await this.docker.getContainer(name).start({ abortSignal: s });
        } catch (e) {
          if ((e as DockerError).statusCode === 304) return; // already running
          throw e;
        }
      },
      { idempotent: true, ...(signal ? { signal } : {}) },
    );
  }

  async restartApp(name: string, signal?: AbortSignal): Promise<void> {
    await this.call(`restart ${name}`, (s) => this.docker.getContainer(name).restart({ t: 10, abortSignal: s }), {
      idempotent: true,
      ...(signal ? { signal } : {}),
    });
  }

  async removeApp(name: string, signal?: AbortSignal): Promise<void> {
    await this.call(
      `remove ${name}`,
      async (s) => {
        try {
          await this.docker.getContainer(name).remove({ force: true, abortSignal: s });
        } catch (e) {
          const status = (e as DockerError).statusCode;
          if (status === 404) return;
          // 409 "removal already in progress": wait for it to be gone.
          if (status === 409 && /in progress/.test(engineMessage(e))) {
            await this.docker
              .getContainer(name)
              .wait({ condition: 'removed', abortSignal: s })
              .catch(() => undefined);
            return;
          }
          throw e;
        }
      },
      { idempotent: true, ...(signal ? { signal } : {}) },
    );
  }

  async waitForExit(name: string, signal?: AbortSignal): Promise<number> {
    // Until it ends for good: an exit that the restart policy answers with a restart is not the end.
    for (;;) {
      const code = await this.waitNotRunning(name, signal);
      const state = await this.inspectApp(name, signal);
      if (!state || (state.status !== 'restarting' && !state.running)) return code;
    }
  }

  private waitNotRunning(name: string, signal?: AbortSignal): Promise<number> {
    // Unbounded by design (an application may run for months); the signal ends it. A dropped
    // connection (engine restart) is retried with backoff rather than taken as an exit.
    return retry(
      async () => {
        try {
          const res = (await this.docker.getContainer(name).wait({ condition: 'not-running', ...(signal ? { abortSignal: signal } : {}) })) as {
            StatusCode: number;
          };
          return res.StatusCode;
        } catch (e) {
          if (signal?.aborted) throw signal.reason;
          const d = e as DockerError;
          if (d.statusCode === 404) throw new AgentError('TPG_CONTAINER_FAILED', `there is no container ${name} to wait for`, { cause: e, retriable: false });
          throw new AgentError('TPG_DOCKER_UNAVAILABLE', `waiting for ${name} failed: ${engineMessage(e)}`, { cause: e, retriable: true });
        }
      },
      { attempts: 1_000, baseMs: this.options.baseMs, capMs: 30_000, ...(signal ? { signal } : {}) },
    );
  }
}

/** The Docker Engine API body for an AppSpec (the one place plaintext env is revealed). */
export function containerBody(spec: AppSpec): Record<string, unknown> {
  // Published ports only make sense on a network the container owns; the engine refuses them
  // for container:<name> and none, and discards them for host.
  const publish = spec.networkMode === 'bridge' || !/^(host|none|container:)/.test(spec.networkMode);
  const key = (p: AppSpec['ports'][number]) => `${p.containerPort}/${p.protocol}`;
  const exposed: Record<string, object> = {};
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  if (publish) {
    for (const p of spec.ports) {
      exposed[key(p)] = {};
      bindings[key(p)] = [...(bindings[key(p)] ?? []), { HostIp: '', HostPort: String(p.hostPort) }];
    }
  }
  return {
    name: spec.name,
    Image: spec.image,
    Env: spec.env.map((e) => `${e.name}=${isSecret(e.value) ? e.value.reveal() : e.value}`),
    Labels: spec.labels,
    ...(spec.user ? { User: spec.user } : {}),
    ...(spec.hostname ? { Hostname: spec.hostname } : {}),
    ExposedPorts: exposed,
    HostConfig: {
      Binds: spec.binds.map((b) => `${b.host}:${b.container}${b.readOnly ? ':ro' : ''}`),
      PortBindings: bindings,
      RestartPolicy: { Name: spec.restartPolicy.name, MaximumRetryCount: spec.restartPolicy.maximumRetryCount },
      CapAdd: spec.capAdd,
      CapDrop: spec.capDrop,
      NetworkMode: spec.networkMode,
      Privileged: spec.privileged,
      ReadonlyRootfs: spec.readOnlyRootfs,
      ...(spec.shmSizeBytes !== undefined ? { ShmSize: spec.shmSizeBytes } : {}),
      LogConfig: { Type: spec.logConfig.type, Config: spec.logConfig.config },
    },
  };
}
