/*! Finding the block device behind a name the user data gives: the name itself or its sd/xvd
 * twin under the agent's /dev, else (Nitro instances, where EBS volumes are NVMe devices with
 * other names) the NVMe device whose serial carries the volume id; and waiting for it to appear,
 * with jittered polls, until the boot's deadline. */
import { join } from 'node:path';
import { AgentError, type ErrorCode } from '../../lib/errors.js';
import { retryCall } from '../../lib/retry.js';
import { deviceTwins, isEbsDeviceName } from '../../values/device-name.js';
import type { Paths } from '../../config/paths.js';
import type { BootContext } from '../context.js';

/** A /dev name of the user data, under the agent's root (the same path on an instance). */
function devicePath(paths: Pick<Paths, 'dev'>, name: string): string {
  return join(paths.dev, name.replace(/^\/dev\//, ''));
}

/** The block device for `name` now, or undefined. */
export async function findDevice(ctx: Pick<BootContext, 'ports' | 'paths'>, name: string, volumeId?: string): Promise<string | undefined> {
  for (const twin of deviceTwins(name)) {
    const found = await ctx.ports.blockDevices.resolve(devicePath(ctx.paths, twin));
    if (found) return found;
  }
  return volumeId ? ctx.ports.blockDevices.byEbsVolumeId(volumeId) : undefined;
}

/**
 * Poll `find` until it answers, with full-jitter backoff (100 ms doubling to 2 s), until the
 * deadline the step's signal carries (the boot's); then fail with `code` and `message`.
 */
async function waitFor<T>(
  ctx: Pick<BootContext, 'signal'>,
  what: string,
  find: () => Promise<T | undefined>,
  failure: { code: ErrorCode; message: () => string; hint?: string },
): Promise<T> {
  return retryCall(
    async () => {
      const found = await find();
      if (found === undefined) throw new AgentError(failure.code, `${what}: not yet`);
      return found;
    },
    { attempts: Number.POSITIVE_INFINITY, baseMs: 100, capMs: 2_000, signal: ctx.signal },
    {
      // Not logged per poll: a device usually appears within seconds; the caller says what it waits for.
      what,
      fail: (last) =>
        last instanceof AgentError && last.code !== failure.code
          ? last
          : new AgentError(failure.code, failure.message(), { ...(failure.hint ? { hint: failure.hint } : {}), retriable: false }),
    },
  );
}

/** Wait for the block device `name` (or, given its volume id, the NVMe device carrying it). */
export function waitForDevice(
  ctx: Pick<BootContext, 'ports' | 'paths' | 'log' | 'signal'>,
  name: string,
  volumeId?: () => Promise<string | undefined>,
): Promise<string> {
  let id: string | undefined;
  return waitFor(
    ctx,
    `waiting for ${name}`,
    async () => {
      const found = await findDevice(ctx, name, id);
      if (found || !volumeId) return found;
      id = await volumeId();
      return id ? ctx.ports.blockDevices.byEbsVolumeId(id) : undefined;
    },
    {
      code: 'TPG_VOLUME_TIMEOUT',
      message: () => `${name}${id ? ` (volume ${id})` : ''} did not appear as a block device before the boot deadline`,
      hint: 'check that the volume is attached to this instance at that device name (or that the RAID array exists); on Nitro instances the NVMe device of the volume is looked up by its serial',
    },
  );
}

/** How long "EC2 knows no volume at that name" stands before EC2 is asked again (an attach may be under way). */
const ASK_AGAIN_MS = 10_000;

/**
 * The EBS volume id behind a device name, asked of EC2 only when needed: known from this boot's
 * attach, else the volume EC2 says is attached to this instance at that name (asked again after a
 * while while there is none: CloudFormation may attach it during the boot); never for names that
 * cannot be EBS (md arrays).
 */
export function volumeLookup(ctx: Pick<BootContext, 'ports' | 'facts' | 'signal'>, name: string, known: ReadonlyMap<string, string>) {
  let id = deviceTwins(name)
    .map((n) => known.get(n))
    .find(Boolean);
  let askedAt = Number.NEGATIVE_INFINITY;
  return async (): Promise<string | undefined> => {
    if (id === undefined && isEbsDeviceName(name) && Date.now() - askedAt >= ASK_AGAIN_MS) {
      askedAt = Date.now();
      id = (await ctx.ports.ec2Volumes.attachedAt(ctx.facts.instance.instanceId, name, { signal: ctx.signal }))?.volumeId;
    }
    return id;
  };
}
