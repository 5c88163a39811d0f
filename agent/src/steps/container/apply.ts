/*! The container step's effects: trust, then pin, then run exactly the approved image.
 *
 * prepareContainer runs from the start of the boot (it needs none of the step's needs):
 * 1. Reuse the existing `taupageapp` when it was created from this plan (reboot): no trust check,
 *    no pull. 2. Otherwise ask Pier One whether the tag is approved and record the manifest digest
 *    it names; a digest pinned in `source` must match. 3. Pull that digest (never the tag) while
 *    the environment is decrypted, and check the engine recorded it; from the pull's start the
 *    other boot steps have the agent's thread (`underway`), at a lower CPU priority until the pull
 *    ends (boot.nice_during_pull), so on a small instance the engine's download goes first.
 * applyContainer runs once the volumes are mounted and the host settings, logging and credentials
 * are in place: 4. create the container from `registry/repo@digest`, so a tag moved after the
 * check cannot run (the old container is removed only now), or start the reused one. 5. Start it
 * and wait until it is healthy. Every volume it binds must be mounted before anything is created. */
import { AgentError } from '../../lib/errors.js';
import { anySignal, deadlineSignal } from '../../lib/retry.js';
import { digestRef } from '../../values/image-ref.js';
import { isKmsEncrypted } from '../../values/kms.js';
import type { BootContext } from '../context.js';
import type { AppEnv, AppSpec, PulledImage, PullProgress } from '../../ports/container-runtime.js';
import { LABELS, type ContainerPlan } from './plan.js';
import { decideContainer } from './decide.js';
import { registryCredentials } from './registry-auth.js';
import { waitHealthy } from './health.js';
import { lowerCpuPriority } from '../../lib/cpu-priority.js';

export interface ContainerOptions {
  /** At most one pull progress line this often (default 5 s). */
  progressIntervalMs?: number;
}

/** What prepareContainer hands to applyContainer: the decision, and for a new container the
 * approved image, here, and its environment. */
export type PreparedContainer =
  /** `id`: the container decided on; applyContainer starts that one or none. */
  { action: 'reuse'; id: string } | { action: 'create' | 'replace'; existing: boolean; digest: string; reference: string; env: AppEnv[] };

/**
 * What needs none of the container step's needs, so it runs from the start of the boot (steps/index.ts
 * `prepare`): the decision, and unless the container is reused, the trust check, the pull and the
 * decryption of the environment. It creates nothing: a boot that fails meanwhile aborts it
 * (`ctx.signal`), and only the pulled layers stay.
 */
export async function prepareContainer(
  plan: ContainerPlan,
  ctx: BootContext,
  underway: () => void = () => undefined,
  options: ContainerOptions = {},
): Promise<PreparedContainer> {
  const { log, signal } = ctx;
  const { containerRuntime: runtime, registryTrust: trust } = ctx.ports;
  const existing = await runtime.inspectApp(plan.name, signal);
  const decision = decideContainer(plan, existing, ctx.paths.mounts);
  if (decision.action === 'reuse') return { action: 'reuse', id: existing!.id };

  if (decision.action === 'replace') log.info({ container: plan.name }, `replacing ${plan.name}: ${decision.reason}`);
  const credentials = await registryCredentials(plan.image.registry, ctx);
  const approved = await trust.approve(plan.image, { ...(credentials ? { credentials } : {}), signal });
  if (plan.image.digest && plan.image.digest !== approved.digest) {
    throw new AgentError(
      'TPG_IMAGE_DIGEST_MISMATCH',
      `${plan.reference} pins ${plan.image.digest}, but the registry's ${plan.image.tag} is ${approved.digest}`,
      {
        hint: 'the tag was re-pushed or the pinned digest is wrong: pin the digest of the approved image, or drop the @sha256 part',
        details: { pinned: plan.image.digest, registry: approved.digest },
      },
    );
  }
  log.info({ image: plan.reference, digest: approved.digest, mediaType: approved.mediaType }, 'image approved by Pier One');
  const reference = digestRef(plan.image, approved.digest);

  const pullStarted = Date.now();
  const progress = progressLogger(ctx, options.progressIntervalMs ?? 5_000);
  // Decrypt while the image downloads; a failed decryption stops the pull. The pull is the
  // engine's work from here: the other boot steps may have the agent's thread. Its signal
  // carries its deadline: docker.pull_timeout_seconds, or the boot's if that comes first.
  underway();
  const stopPull = new AbortController();
  const pullTimeout = ctx.config.docker.pull_timeout_seconds;
  const pull = deadlineSignal(pullStarted + pullTimeout * 1000, {
    parent: anySignal([signal, stopPull.signal]),
    reason: () =>
      new AgentError('TPG_PULL_TIMEOUT', `pulling ${reference} did not finish within docker.pull_timeout_seconds (${pullTimeout} s)`, {
        hint: 'raise docker.pull_timeout_seconds in the agent config, or check the network path to the registry',
      }),
  });
  // While the engine downloads, the agent's other work yields the CPU to it (boot.nice_during_pull).
  const restorePriority = lowerCpuPriority(ctx.config.boot.nice_during_pull, log, 'while the image downloads');
  let pulled: PulledImage;
  let env: AppEnv[];
  try {
    [pulled, env] = await Promise.all([
      runtime.pullImage(reference, { ...(credentials ? { credentials } : {}), signal: pull.signal, onProgress: progress.update }).finally(pull.dispose),
      resolveEnv(plan, ctx).catch((e: unknown) => {
        stopPull.abort(e);
        throw e;
      }),
    ]);
  } finally {
    restorePriority();
  }
  if (!pulled.repoDigests.includes(reference)) {
    throw new AgentError('TPG_IMAGE_DIGEST_MISMATCH', `the engine pulled ${reference} but records ${pulled.repoDigests.join(', ') || 'no digest'} for it`, {
      hint: 'the registry served different content than it approved; report this to the Pier One team',
    });
  }
  log.info({ image: reference, imageId: pulled.id, durationMs: Date.now() - pullStarted, ...progress.summary() }, 'image pulled');
  return { action: decision.action, existing: existing !== undefined, digest: approved.digest, reference, env };
}

/**
 * Once the container's needs succeeded (volumes mounted, host settings, logging, credentials):
 * start the container found (reuse), or create it from the image prepareContainer pulled, replacing
 * the old one; then wait until it is healthy.
 */
export async function applyContainer(plan: ContainerPlan, ctx: BootContext, ready: PreparedContainer): Promise<void> {
  const { log, signal } = ctx;
  const { containerRuntime: runtime, httpProbe: probe } = ctx.ports;
  await mountsReady(plan, ctx);

  // The container this boot started (or decided to keep): started and watched by its id.
  let started: string;
  if (ready.action === 'reuse') {
    // Decided again on what is there now: Docker may have started it since (before the volumes
    // were mounted), or something removed or replaced it; then nothing is started. The one found
    // is started by its id, so a container put in its place after this look is not.
    const now = await runtime.inspectApp(plan.name, signal);
    const decision = now?.id === ready.id ? decideContainer(plan, now, ctx.paths.mounts) : undefined;
    if (decision?.action !== 'reuse') {
      const why = !now ? 'it was removed' : now.id !== ready.id ? `it was replaced (${now.id.slice(0, 12)}, not ${ready.id.slice(0, 12)})` : decision!.reason;
      throw new AgentError('TPG_CONTAINER_FAILED', `${plan.name} changed while the boot waited for its volumes and settings: ${why}; nothing was started`, {
        hint: 'something else manages the application container; run taupage boot again (a reboot) once it is left alone',
        details: { container: plan.name, decided: ready.id, found: now?.id ?? null },
      });
    }
    log.info({ container: plan.name, id: ready.id.slice(0, 12), digest: decision.digest, start: decision.start }, `reusing ${plan.name}: ${decision.reason}`);
    if (decision.start === 'start') await runtime.startApp(ready.id, signal);
    if (decision.start === 'restart') {
      log.info('restarting it: Docker started it before the volumes were mounted');
      await runtime.restartApp(ready.id, signal);
    }
    started = ready.id;
    ctx.record('imageDigest', decision.digest);
    ctx.record('container', 'reused');
  } else {
    if (ready.existing) await runtime.removeApp(plan.name, signal);
    const spec = appSpec(plan, ready.reference, ready.env, ready.digest, ctx.facts.bootId);
    // Started (or removed) and watched by the id just created: not whatever holds the name by then.
    const id = await runtime.createApp(spec, signal);
    try {
      await runtime.startApp(id, signal);
    } catch (e) {
      // A container that never started is removed, so the next boot creates it afresh.
      await runtime.removeApp(id).catch(() => undefined);
      throw e;
    }
    started = id;
    log.info({ container: plan.name, id: id.slice(0, 12), image: ready.reference }, `${plan.name} started`);
    ctx.record('imageDigest', ready.digest);
    ctx.record('container', ready.action === 'replace' ? 'replaced' : 'created');
  }

  await waitHealthy(plan, started, { runtime, probe }, ctx);
}

/**
 * Every volume and tmpfs bind (under /mounts) must be a mount point: the disks step mounted it
 * before this step may run, and were it not, the application would write to an empty directory of
 * the root disk, which is worse than not starting. (A mount without a partition is such a
 * directory by the user data's own choice, warned about at validation: not in plan.mountPoints.)
 */
async function mountsReady(plan: ContainerPlan, ctx: BootContext): Promise<void> {
  for (const host of plan.mountPoints) {
    const b = plan.binds.find((x) => x.host === host)!;
    if (!(await ctx.ports.blockDevices.mountedAt(host)))
      throw new AgentError('TPG_CONTAINER_FAILED', `${host} (${b.container} in the container) is not mounted; the container was not started`, {
        hint: 'the disks step mounts it first; see its outcome in taupage status',
      });
  }
}

/** Decrypt aws:kms: values; plaintext stays in Secrets until the adapter hands it to Docker. */
async function resolveEnv(plan: ContainerPlan, ctx: BootContext): Promise<AppEnv[]> {
  return Promise.all(plan.env.map(async (e) => ({ name: e.name, value: isKmsEncrypted(e.value) ? await ctx.decrypt(e.value) : e.value })));
}

export function appSpec(plan: ContainerPlan, reference: string, env: AppEnv[], digest: string, bootId: string): AppSpec {
  const { image: _image, reference: _reference, env: _env, health: _health, configHash: _hash, notes: _notes, mountPoints: _mountPoints, ...setup } = plan;
  return { ...setup, image: reference, env, labels: { ...plan.labels, [LABELS.imageDigest]: digest, [LABELS.bootId]: bootId } };
}

/** Pull progress in the log: bytes and layers, at most once per interval. */
function progressLogger(ctx: Pick<BootContext, 'log'>, intervalMs: number) {
  let last: PullProgress = { layers: 0, layersDone: 0, bytesDone: 0, bytesTotal: 0 };
  let loggedAt = Date.now();
  return {
    update(p: PullProgress) {
      last = p;
      if (Date.now() - loggedAt < intervalMs) return;
      loggedAt = Date.now();
      ctx.log.info(
        { layers: p.layers, layersDone: p.layersDone, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal },
        `pulling: ${p.layersDone}/${p.layers} layers, ${mb(p.bytesDone)} of ${mb(p.bytesTotal)} MB`,
      );
    },
    summary: () => ({ layers: last.layers, bytes: last.bytesTotal }),
  };
}

function mb(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}
