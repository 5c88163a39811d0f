/*! The disks step's effects, in order: attach the EBS volumes (concurrently), assemble or create
 * the RAID arrays, mount every path (parents first), make the container's custom log directory.
 * Any failure fails the step, and with it the container (which needs disks): the application
 * never starts on a mount path that is not mounted. */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { makeParents } from '../../lib/make-dir.js';
import { AgentError, toAgentError } from '../../lib/errors.js';
import { lastWords } from '../../lib/run-tool.js';
import type { BootContext } from '../context.js';
import type { StepReport } from '../step.js';
import type { DisksPlan, Owner, RaidPlan } from './plan.js';
import { attachEbs } from './ebs.js';
import { handOver, mountOne, type MountOutcome } from './mounts.js';
import { decideRaid, mdadmCommands } from './raid.js';
import { volumeLookup, waitForDevice } from './devices.js';

export async function applyDisks(plan: DisksPlan, ctx: BootContext): Promise<StepReport> {
  try {
    const settled = await Promise.allSettled(plan.ebs.map((e) => attachEbs(e, ctx)));
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const attached = settled.map((r) => (r as PromiseFulfilledResult<Awaited<ReturnType<typeof attachEbs>>>).value);
    const known = new Map(attached.filter((a) => a.volumeId).map((a) => [a.device, a.volumeId!]));
    const arrays: string[] = [];
    for (const r of plan.raid) arrays.push(`${r.device} ${await assembleRaid(r, ctx, known)}`);
    const mounted: MountOutcome[] = [];
    for (const m of plan.mounts) mounted.push(await mountOne(m, ctx, known));
    if (plan.customLogDir) await ownedDirectory(plan.customLogDir.path, plan.customLogDir.owner);
    const parts = [
      ...attached.map((a) => `${a.device} ${a.how}`),
      ...arrays,
      ...mounted.map((m) => `${m.path} ${m.done}`),
      ...(plan.customLogDir ? [`${plan.customLogDir.path} ready`] : []),
    ];
    return { note: parts.join('; ') };
  } catch (e) {
    throw toAgentError(e, 'TPG_DISK_FAILED'); // a file system call's error is a disk failure, not a bug
  }
}

/** Leave an active array alone, assemble one whose members carry it, create it only when none does. */
async function assembleRaid(r: RaidPlan, ctx: BootContext, known: ReadonlyMap<string, string>): Promise<string> {
  const members = await Promise.all(r.devices.map((d) => waitForDevice(ctx, d, volumeLookup(ctx, d, known))));
  // The array's name is the kernel's (mdadm makes its node); its members are the block devices found.
  const c = mdadmCommands({ device: r.device, level: r.level, devices: members });
  const run = async (args: string[]) => ctx.ports.raid.mdadm(args, { signal: ctx.signal });
  const active = (await run(c.detail)).code === 0;
  const withSuperblock: string[] = [];
  const heldBy = new Set<string>();
  if (!active) {
    for (const [i, args] of c.examine.entries()) if ((await run(args)).code === 0) withSuperblock.push(members[i]!);
    for (const m of members) for (const md of await ctx.ports.blockDevices.holders(m)) heldBy.add(md);
  }
  const action = decideRaid(c, { active, withSuperblock, heldBy: [...heldBy].sort() });
  ctx.log.info({ array: r.device, members, action: action.action, reason: action.reason }, `${r.device}: ${action.action} (${action.reason})`);
  if (action.action === 'keep') return 'active';
  for (const args of action.args) {
    const result = await run(args);
    if (result.code === 0) continue;
    throw new AgentError('TPG_DISK_FAILED', `mdadm ${args.join(' ')} failed (exit ${result.code}): ${lastWords(result)}`, {
      hint:
        action.action === 'assemble'
          ? 'the members carry an array that does not assemble (missing or foreign members); it was not re-created, so its data is intact'
          : 'check the member devices and the RAID level',
    });
  }
  return action.action === 'assemble' ? 'assembled' : 'created';
}

/**
 * A directory root creates for the container's user: made if missing, then owned by `owner`,
 * mode 0755, changed through a descriptor opened without following links (the directory belongs
 * to the application, which may have replaced it with a link to somewhere else).
 */
async function ownedDirectory(path: string, owner: Owner): Promise<void> {
  await makeParents(dirname(path));
  await mkdir(path, { mode: 0o755 }).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  await handOver(path, owner);
}
