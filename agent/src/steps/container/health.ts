/*! Wait until the application is up: its HTTP health check answers 200 and, when the image has a
 * Docker HEALTHCHECK, Docker reports it healthy. The wait between polls is a tenth of the time
 * waited so far (at least 50 ms, at most the plan's interval): an application that is up after 3 s
 * is seen within 0.3 s of it, and one that needs a minute is not polled hundreds of times. The
 * step fails with TPG_HEALTH_TIMEOUT and the last thing seen, or at once when the container stops
 * for good. */
import { AgentError, errorMessage } from '../../lib/errors.js';
import { retry } from '../../lib/retry.js';
import type { ContainerRuntime, AppState } from '../../ports/container-runtime.js';
import type { HttpProbe } from '../../ports/http-probe.js';
import type { Logger } from '../../lib/log.js';
import type { ContainerPlan } from './plan.js';

export interface HealthDeps {
  runtime: ContainerRuntime;
  probe: HttpProbe;
}

export interface HealthContext {
  log: Logger;
  signal: AbortSignal;
  /** Epoch ms: the boot's own deadline caps the health timeout. */
  deadline: number;
}

/** Wait until the container `id` (the plan's, started by this boot) is healthy. */
export async function waitHealthy(plan: ContainerPlan, id: string, deps: HealthDeps, ctx: HealthContext, now = Date.now): Promise<void> {
  const { http } = plan.health;
  const started = now();
  const deadline = Math.min(started + plan.health.timeoutSeconds * 1000, ctx.deadline);
  let last = 'no answer yet';
  let usedDocker = false;
  let checked = false;
  const notYet = (what: string) => {
    last = what;
    return new AgentError('TPG_HEALTH_TIMEOUT', what, { retriable: true });
  };
  try {
    await retry(
      async () => {
        const state = await deps.runtime.inspectApp(id, ctx.signal);
        if (!state)
          throw new AgentError('TPG_CONTAINER_FAILED', `container ${plan.name} disappeared while waiting for it to become healthy`, { retriable: false });
        if (!http && !state.health) return; // nothing to wait for (a batch job may even be done already)
        checked = true;
        stoppedForGood(plan, state);
        if (state.status === 'restarting' || !state.running)
          throw notYet(`container ${state.status} (exit code ${state.exitCode}, ${state.restartCount} restarts)`);
        if (http) {
          const left = deadline - now();
          if (left < 100) throw notYet(last); // too late for a fair request; keep what we saw last
          let status: number;
          try {
            status = await deps.probe.status(http.url, { timeoutMs: Math.min(http.requestTimeoutMs, left), signal: ctx.signal });
          } catch (e) {
            throw notYet(`no HTTP answer from ${http.url} (${errorMessage(e)})`);
          }
          if (status !== 200) throw notYet(`HTTP ${status} from ${http.url}`);
        }
        if (state.health) {
          usedDocker = true;
          if (state.health.status !== 'healthy')
            throw notYet(`Docker HEALTHCHECK ${state.health.status}${state.health.lastOutput ? `: ${state.health.lastOutput}` : ''}`);
        }
      },
      {
        attempts: Number.MAX_SAFE_INTEGER,
        baseMs: 50,
        capMs: plan.health.intervalMs,
        delayMs: () => Math.min(plan.health.intervalMs, Math.max(50, (now() - started) / 10)),
        deadline,
        signal: ctx.signal,
        isRetriable: (e) => e instanceof AgentError && e.retriable === true,
      },
    );
  } catch (e) {
    if (e instanceof AgentError && e.code !== 'TPG_HEALTH_TIMEOUT') throw e;
    const checks = [http ? `HTTP 200 from ${http.url}` : '', usedDocker ? 'the Docker HEALTHCHECK' : ''].filter(Boolean).join(' and ');
    throw new AgentError(
      'TPG_HEALTH_TIMEOUT',
      `the application did not become healthy (${checks}) within ${Math.round((now() - started) / 1000)} s; last: ${last}`,
      {
        cause: e,
        hint: `look at the application's output (docker logs ${plan.name}); raise health_check_timeout_seconds if it needs longer to start`,
        details: { last },
      },
    );
  }
  if (checked) ctx.log.info({ durationMs: now() - started, http: http?.url, dockerHealthcheck: usedDocker }, 'application is healthy');
  else ctx.log.info('no health check: neither health_check_path nor a Docker HEALTHCHECK in the image');
}

/** A container that exited and will not be restarted cannot become healthy: fail now. */
function stoppedForGood(plan: ContainerPlan, state: AppState): void {
  if (state.running || state.status === 'restarting') return;
  const retriesLeft = state.exitCode !== 0 && state.restartCount < plan.restartPolicy.maximumRetryCount;
  if (state.status === 'exited' && retriesLeft) return; // Docker is about to restart it
  if (state.status === 'exited' || state.status === 'dead') {
    throw new AgentError(
      'TPG_CONTAINER_FAILED',
      `container ${plan.name} exited with code ${state.exitCode} before it was healthy${state.error ? `: ${state.error}` : ''}`,
      {
        retriable: false,
        hint: `look at the application's output: docker logs ${plan.name}`,
      },
    );
  }
}
