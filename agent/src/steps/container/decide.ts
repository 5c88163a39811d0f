/*! Known vs desired: what to do with the container found on the host (pure).
 *
 * A container created from this very plan (same config hash, and a recorded image digest that the
 * user data's pinned digest, if any, agrees with) is reused: no trust check, no pull, as the
 * original did on reboot. Anything else is replaced by a fresh one. */
import { digestRef } from '../../values/image-ref.js';
import type { AppState } from '../../ports/container-runtime.js';
import { LABELS, type ContainerPlan } from './plan.js';

export type ContainerAction =
  | { action: 'create'; reason: string }
  | { action: 'replace'; reason: string }
  | { action: 'reuse'; reason: string; digest: string; start: 'start' | 'restart' | 'none' };

export function decideContainer(plan: ContainerPlan, existing: AppState | undefined, mountsRoot: string): ContainerAction {
  if (!existing) return { action: 'create', reason: `there is no container ${plan.name} yet` };
  const digest = existing.labels[LABELS.imageDigest];
  if (existing.labels[LABELS.configHash] !== plan.configHash)
    return { action: 'replace', reason: 'the user data or agent config changed since it was created' };
  if (!digest) return { action: 'replace', reason: 'it does not record the image digest it was created from' };
  if (plan.image.digest && plan.image.digest !== digest) return { action: 'replace', reason: `it runs ${digest}, the user data pins ${plan.image.digest}` };
  if (existing.image !== digestRef(plan.image, digest))
    return { action: 'replace', reason: `it was created from ${existing.image}, not from the approved digest` };
  if (existing.status === 'dead' || existing.status === 'removing') return { action: 'replace', reason: `it is ${existing.status}` };
  // Docker starts an on-failure container by itself when the engine comes up after a crash or
  // reboot, before the volumes are mounted; its bind mounts then show the empty directories. Once
  // the volumes are ready (this step runs after the disks step), a restart makes them visible.
  const mountsVolumes = plan.binds.some((b) => b.host === mountsRoot || b.host.startsWith(`${mountsRoot}/`));
  const start = existing.running ? (mountsVolumes ? 'restart' : 'none') : 'start';
  return { action: 'reuse', reason: 'it was created from this plan and the approved image', digest, start };
}
