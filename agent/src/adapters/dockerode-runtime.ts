/*! ContainerRuntime over dockerode: the only file that speaks to the Docker engine.
 *
 * Every call has a timeout and an AbortSignal; calls that are safe to repeat are retried with
 * full-jitter backoff (lib/retry). Engine and registry errors become AgentErrors with stable codes
 * (TPG_DOCKER_UNAVAILABLE, TPG_REGISTRY_*, TPG_IMAGE_NOT_FOUND, TPG_PULL_*, TPG_CONTAINER_FAILED).
 * Secrets (registry password, secret environment values) are revealed here and only here, in
 * the request to the engine. */
import Docker from 'dockerode';
import type { Readable } from 'node:stream';
import { AgentError, errorMessage, type ErrorCode } from '../lib/errors.js';
import { retry, withTimeout } from '../lib/retry.js';
import { isSecret } from '../lib/secret.js';
import type { AppSpec, AppState, ContainerRuntime, PulledImage, PullOptions, PullProgress } from '../ports/container-runtime.js';
import type { AppContainer } from '../ports/app-container.js';

export interface DockerRuntimeOptions {
  /** DOCKER_HOST form: unix:///path, tcp://host:port, or a socket path. */
  host: string;
  /** Bound for every call except pull (its deadline) and wait (its signal). */
  requestTimeoutMs: number;
  /** Attempts for calls that may be repeated, and for the pull. */
  attempts?: number;
  baseMs?: number;
  capMs?: number;
}

/** dockerode connection options for a DOCKER_HOST value. */
export function dockerConnection(host: string): Docker.DockerOptions {
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  if (host.startsWith('/')) return { socketPath: host };
  const m = /^(tcp|http|https):\/\/([^/:]+|\[[^\]]+\]):?(\d+)?\/?$/.exec(host);
  if (!m) throw new AgentError('TPG_CONFIG_INVALID', `cannot use Docker host ${host}`, { hint: 'set docker.host (or DOCKER_HOST) to unix:///path/to/docker.sock or tcp://host:port' });
  return { protocol: m[1] === 'https' ? 'https' : 'http', host: m[2]!, port: Number(m[3] ?? (m[1] === 'https' ? 2376 : 2375)) };
}

interface DockerError extends Error {
  statusCode?: number;
  json?: { message?: string } | null;
  code?: string;
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'EACCES', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND']);

function engineMessage(e: unknown): string {
  const d = e as DockerError;
  return (d?.json && typeof d.json === 'object' && d.json.message) || errorMessage(e);
}

export class DockerodeRuntime implements ContainerRuntime {
  readonly docker: Docker;
  private readonly options: Required<DockerRuntimeOptions>;

  constructor(options: DockerRuntimeOptions) {
    this.options = { attempts: 5, baseMs: 250, capMs: 5_000, ...options };
    this.docker = new Docker(dockerConnection(options.host));
  }

  /** One engine call: timeout, retry when repeating it is safe, errors mapped to codes. */
  private async call<T>(what: string, fn: (signal: AbortSignal) => Promise<T>, opts: { signal?: AbortSignal; idempotent: boolean; failCode?: ErrorCode }): Promise<T> {
    return retry(
      () =>
        withTimeout(this.options.requestTimeoutMs, `Docker engine (${what})`, async (s) => {
          try {
            return await fn(s);
          } catch (e) {
            throw this.mapEngineError(e, what, opts.failCode ?? 'TPG_CONTAINER_FAILED', opts.idempotent, s);
          }
        }, { code: 'TPG_DOCKER_UNAVAILABLE', ...(opts.signal ? { signal: opts.signal } : {}), hint: `check that the Docker engine at ${this.options.host} is running` }),
      {
        attempts: this.options.attempts,
        baseMs: this.options.baseMs,
        capMs: this.options.capMs,
        ...(opts.signal ? { signal: opts.signal } : {}),
        isRetriable: (e) => e instanceof AgentError && e.retriable === true,
      },
    );
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
        ? { hint: 'the syslog log driver could not reach its address: set docker.syslog_address in the agent config (e.g. udp://127.0.0.1:514) or make sure rsyslog listens on /dev/log' }
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
        ? { health: { status: health.Status as 'starting' | 'healthy' | 'unhealthy', ...(health.Log?.length ? { lastOutput: (health.Log[health.Log.length - 1]!.Output ?? '').trim().slice(0, 500) } : {}) } }
        : {}),
    };
  }

  async pullImage(reference: string, options: PullOptions): Promise<PulledImage> {
    const auth = options.credentials ? { username: options.credentials.username, password: options.credentials.password.reveal(), serveraddress: reference.slice(0, reference.indexOf('/')) } : undefined;
    await retry(
      async () => {
        const left = options.deadline - Date.now();
        if (left <= 0) throw new AgentError('TPG_PULL_TIMEOUT', `pulling ${reference} did not finish before its deadline`, { retriable: false });
        return withTimeout(left, `pull of ${reference}`, (s) => this.pullOnce(reference, auth, s, options.onProgress), {
          code: 'TPG_PULL_TIMEOUT',
          ...(options.signal ? { signal: options.signal } : {}),
          hint: 'raise docker.pull_timeout_seconds in the agent config, or check the network path to the registry',
        });
      },
      {
        attempts: this.options.attempts,
        baseMs: this.options.baseMs,
        capMs: this.options.capMs,
        deadline: options.deadline,
        ...(options.signal ? { signal: options.signal } : {}),
        isRetriable: (e) => e instanceof AgentError && e.retriable === true,
      },
    );
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
        { path: `/images/${reference}/json`, method: 'GET', abortSignal: signal, statusCodes: { 200: true, 404: 'no such image', 500: 'server error' } } as never,
        (err: unknown, data: unknown) => (err ? reject(err) : resolve(data as Docker.ImageInspectInfo)),
      );
    });
  }

  private async pullOnce(reference: string, auth: object | undefined, signal: AbortSignal, onProgress?: (p: PullProgress) => void): Promise<void> {
    let stream: Readable;
    try {
      stream = (await this.docker.pull(reference, { abortSignal: signal, ...(auth ? { authconfig: auth } : {}) })) as Readable;
    } catch (e) {
      throw signal.aborted ? signal.reason : classifyPullError(engineMessage(e), reference, e, (e as DockerError).code);
    }
    const layers = new Map<string, { current: number; total: number; done: boolean }>();
    const report = () => {
      if (!onProgress) return;
      let bytesDone = 0;
      let bytesTotal = 0;
      let layersDone = 0;
      for (const l of layers.values()) {
        bytesDone += l.current;
        bytesTotal += l.total;
        if (l.done) layersDone++;
      }
      onProgress({ layers: layers.size, layersDone, bytesDone, bytesTotal });
    };
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      let settled = false;
      const fail = (e: unknown) => {
        if (settled) return;
        settled = true;
        stream.destroy();
        reject(e);
      };
      const onAbort = () => fail(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      stream.on('data', (chunk: Buffer) => {
        buf += chunk.toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          let ev: { status?: string; id?: string; error?: string; errorDetail?: { message?: string }; progressDetail?: { current?: number; total?: number } };
          try {
            ev = JSON.parse(line);
          } catch {
            continue;
          }
          if (ev.error || ev.errorDetail) return fail(classifyPullError(ev.errorDetail?.message ?? ev.error ?? 'pull failed', reference));
          // Layer events carry a short layer id; "Pulling from <repo>" carries the reference.
          if (!ev.id || !ev.status || ev.status.startsWith('Pulling from')) continue;
          const layer = layers.get(ev.id) ?? { current: 0, total: 0, done: false };
          layers.set(ev.id, layer);
          if (ev.status === 'Downloading' && ev.progressDetail) {
            layer.current = ev.progressDetail.current ?? layer.current;
            layer.total = ev.progressDetail.total ?? layer.total;
          } else if (ev.status === 'Download complete' || ev.status === 'Verifying Checksum') {
            layer.current = Math.max(layer.current, layer.total);
          } else if (ev.status === 'Pull complete' || ev.status === 'Already exists') {
            layer.done = true;
            layer.current = Math.max(layer.current, layer.total);
          }
          report();
        }
      });
      stream.once('error', (e) => fail(signal.aborted ? signal.reason : classifyPullError(errorMessage(e), reference, e)));
      stream.once('end', () => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) return fail(signal.reason);
        if (settled) return;
        settled = true;
        resolve();
      });
      // A connection to the engine that closes without an end (engine restarted) is no success.
      stream.once('close', () => fail(new AgentError('TPG_DOCKER_UNAVAILABLE', `the Docker engine closed the connection while pulling ${reference}`, { retriable: true })));
    });
  }

  async createApp(spec: AppSpec, signal?: AbortSignal): Promise<string> {
    // dockerode would also copy the whole body into the query string (so the environment would
    // land in URLs the engine logs at debug level); _query/_body keep it in the request body.
    const { name, ...body } = containerBody(spec);
    const request = { _query: { name }, _body: body };
    const c = await this.call(`create ${spec.name}`, (s) => this.docker.createContainer({ ...request, abortSignal: s } as unknown as Docker.ContainerCreateOptions), {
      idempotent: false,
      ...(signal ? { signal } : {}),
    });
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
    await this.call(`restart ${name}`, (s) => this.docker.getContainer(name).restart({ t: 10, abortSignal: s }), { idempotent: true, ...(signal ? { signal } : {}) });
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
            await this.docker.getContainer(name).wait({ condition: 'removed', abortSignal: s }).catch(() => undefined);
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
          const res = (await this.docker.getContainer(name).wait({ condition: 'not-running', ...(signal ? { abortSignal: signal } : {}) })) as { StatusCode: number };
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
      (bindings[key(p)] ??= []).push({ HostIp: '', HostPort: String(p.hostPort) });
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

/** Sort a registry or pull failure into the codes people act on differently. */
export function classifyPullError(message: string, reference: string, cause?: unknown, code?: string): AgentError {
  const m = message.toLowerCase();
  const opts = cause === undefined ? {} : { cause };
  if ((code && CONNECTION_CODES.has(code)) && !/registry/.test(m)) {
    return new AgentError('TPG_DOCKER_UNAVAILABLE', `the Docker engine did not answer while pulling ${reference}: ${message}`, { ...opts, retriable: code === 'ECONNREFUSED' || code === 'ENOENT' });
  }
  if (/unauthorized|authentication required|no basic auth credentials|denied|forbidden|401|403/.test(m)) {
    return new AgentError('TPG_REGISTRY_AUTH', `the registry refused to let the engine pull ${reference}: ${message}`, {
      ...opts,
      retriable: false,
      hint: 'for Pier One, the registry must be listed in pierone.registries so the instance identity is sent; otherwise add credentials to dockercfg',
    });
  }
  if (/manifest unknown|not found|does not exist|name unknown|404/.test(m) && !/dial tcp|no such host/.test(m)) {
    return new AgentError('TPG_IMAGE_NOT_FOUND', `the registry has no ${reference}: ${message}`, { ...opts, retriable: false });
  }
  if (/dial tcp|connection refused|no such host|i\/o timeout|timeout|eof|connection reset|service unavailable|bad gateway|gateway timeout|too many requests|50[0-9]|429|tls handshake/.test(m)) {
    return new AgentError('TPG_REGISTRY_UNAVAILABLE', `the registry could not be reached to pull ${reference}: ${message}`, { ...opts, retriable: true });
  }
  return new AgentError('TPG_PULL_FAILED', `pulling ${reference} failed: ${message}`, { ...opts, retriable: true });
}

/** The application container as the shutdown step waits on it. */
export function appContainer(runtime: ContainerRuntime, name: string): AppContainer {
  return { waitForExit: (signal) => runtime.waitForExit(name, signal) };
}
