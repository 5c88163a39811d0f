/*! One image pull through the engine: follow its progress stream (layers and bytes for the
 * log), stop on its error events, and sort failures into codes people act on differently
 * (registry unreachable, auth, missing image, other). The retry and deadline are the caller's. */
import type Docker from 'dockerode';
import type { Readable } from 'node:stream';
import { AgentError, errorMessage } from '../lib/errors.js';
import type { PullProgress } from '../ports/container-runtime.js';

/** Socket errors that mean the engine (not the registry) did not answer. */
export const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'EACCES', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND']);

export function engineMessage(e: unknown): string {
  const d = e as { json?: { message?: string } | null };
  return (d?.json && typeof d.json === 'object' && d.json.message) || errorMessage(e);
}

/** One attempt: resolves when the engine reports the pull done; rejects with a coded AgentError. */
export async function pullOnce(
  docker: Docker,
  reference: string,
  auth: object | undefined,
  signal: AbortSignal,
  onProgress?: (p: PullProgress) => void,
): Promise<void> {
  let stream: Readable;
  try {
    stream = (await docker.pull(reference, { abortSignal: signal, ...(auth ? { authconfig: auth } : {}) })) as Readable;
  } catch (e) {
    throw signal.aborted ? signal.reason : classifyPullError(engineMessage(e), reference, e, (e as { code?: string }).code);
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
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
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
    stream.once('close', () =>
      fail(new AgentError('TPG_DOCKER_UNAVAILABLE', `the Docker engine closed the connection while pulling ${reference}`, { retriable: true })),
    );
  });
}

/** Sort a registry or pull failure into the codes people act on differently. */
export function classifyPullError(message: string, reference: string, cause?: unknown, code?: string): AgentError {
  const m = message.toLowerCase();
  const opts = cause === undefined ? {} : { cause };
  if (code && CONNECTION_CODES.has(code) && !/registry/.test(m)) {
    return new AgentError('TPG_DOCKER_UNAVAILABLE', `the Docker engine did not answer while pulling ${reference}: ${message}`, {
      ...opts,
      retriable: code === 'ECONNREFUSED' || code === 'ENOENT',
    });
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
  if (
    /dial tcp|connection refused|no such host|i\/o timeout|timeout|eof|connection reset|service unavailable|bad gateway|gateway timeout|too many requests|50[0-9]|429|tls handshake/.test(
      m,
    )
  ) {
    return new AgentError('TPG_REGISTRY_UNAVAILABLE', `the registry could not be reached to pull ${reference}: ${message}`, { ...opts, retriable: true });
  }
  return new AgentError('TPG_PULL_FAILED', `pulling ${reference} failed: ${message}`, { ...opts, retriable: true });
}
