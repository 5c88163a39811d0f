/*! volumes.ebs: attach the application's EBS volume, found by its Name tag in the instance's
 * availability zone, at the device the user data names, and wait for its block device.
 *
 * A volume already attached to this instance (a reboot) is only waited for. When no volume by
 * that name is available yet (CloudFormation still creating it, or the instance it belonged to
 * still releasing it) the search is repeated with jittered backoff until the boot's deadline,
 * then fails with TPG_VOLUME_NOT_FOUND or TPG_VOLUME_IN_USE; a device that does not appear after
 * the attach fails with TPG_VOLUME_TIMEOUT. Of several available volumes the lowest id is taken,
 * as the original did. */
import { AgentError } from '../../lib/errors.js';
import { gaveUp, retryCall } from '../../lib/retry.js';
import type { EbsVolume } from '../../ports/ec2-volumes.js';
import type { BootContext } from '../context.js';
import type { EbsPlan } from './plan.js';
import { findDevice, waitForDevice } from './devices.js';

interface Attached {
  device: string;
  /** The block device it is, e.g. /dev/xvdf or /dev/nvme1n1. */
  blockDevice: string;
  volumeId?: string;
  how: 'already there' | 'attached' | 'attached before';
}

export async function attachEbs(e: EbsPlan, ctx: BootContext): Promise<Attached> {
  const { log, facts } = ctx;
  const here = await findDevice(ctx, e.device);
  if (here) {
    log.info({ device: e.device, blockDevice: here }, `${e.device} is already here (${here})`);
    return { device: e.device, blockDevice: here, how: 'already there' };
  }
  const name = await expandName(e.nameTag, ctx);
  const me = facts.instance.instanceId;
  const az = facts.instance.availabilityZone;
  const call = { signal: ctx.signal };

  const volume = await retryCall(
    async () => {
      const volumes = await ctx.ports.ec2Volumes.findByName(name, az, call);
      const mine = volumes.find((v) => v.attachments.some((a) => a.instanceId === me));
      if (mine) return { volume: mine, attach: false };
      const available = volumes.filter((v) => v.state === 'available');
      if (!available.length) throw unavailable(name, az, volumes);
      return { volume: available[0]!, attach: true };
    },
    { attempts: Number.POSITIVE_INFINITY, baseMs: 1_000, capMs: 30_000, signal: ctx.signal },
    {
      what: `finding the EBS volume named ${name} in ${az}`,
      log,
      fail: gaveUp,
    },
  ).then(async (found) => {
    if (found.attach) {
      try {
        await ctx.ports.ec2Volumes.attach(found.volume.volumeId, me, e.device, call);
      } catch (err) {
        // Another instance took it between the search and the attach: say so as such.
        if (err instanceof AgentError && ['VolumeInUse', 'IncorrectState'].includes(String(err.details?.error)))
          throw new AgentError('TPG_VOLUME_IN_USE', `${found.volume.volumeId} (${name}) was attached elsewhere while this instance attached it`, {
            cause: err,
            hint: `two instances compete for one named volume: give each instance its own volume name (e.g. with ${PLACEHOLDERS[0][0]})`,
          });
        throw err;
      }
      log.info({ device: e.device, volumeId: found.volume.volumeId, name }, `attaching ${found.volume.volumeId} (${name}) at ${e.device}`);
    } else {
      log.info({ device: e.device, volumeId: found.volume.volumeId, name }, `${found.volume.volumeId} (${name}) is attached to this instance already`);
    }
    return found;
  });

  const blockDevice = await waitForDevice(ctx, e.device, async () => volume.volume.volumeId);
  log.info({ device: e.device, blockDevice, volumeId: volume.volume.volumeId }, `${e.device} is ${blockDevice}`);
  return { device: e.device, blockDevice, volumeId: volume.volume.volumeId, how: volume.attach ? 'attached' : 'attached before' };
}

function unavailable(name: string, az: string, volumes: EbsVolume[]): AgentError {
  const elsewhere = volumes.filter((v) => v.attachments.length);
  if (elsewhere.length)
    return new AgentError(
      'TPG_VOLUME_IN_USE',
      `the EBS volume named ${name} in ${az} is attached to ${elsewhere.map((v) => `${v.attachments.map((a) => a.instanceId).join(', ')} (${v.volumeId})`).join('; ')}`,
      {
        hint: 'the instance it belonged to has not released it (still running or terminating): terminate it, or detach the volume',
        details: { volumes: elsewhere.map((v) => v.volumeId) },
      },
    );
  return new AgentError(
    'TPG_VOLUME_NOT_FOUND',
    volumes.length
      ? `no EBS volume named ${name} in ${az} is available (${volumes.map((v) => `${v.volumeId} is ${v.state}`).join(', ')})`
      : `there is no EBS volume named ${name} in ${az}`,
    { hint: "create the volume with that Name tag in the instance's availability zone, or fix the name in volumes.ebs" },
  );
}

/** What a Name tag may hold, and the meta-data path each is replaced with. */
const PLACEHOLDERS = [
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the placeholders users write, literally.
  ['${local_ipv4}', 'local-ipv4'],
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the placeholders users write, literally.
  ['${public_ipv4}', 'public-ipv4'],
] as const;

/** ${local_ipv4} and ${public_ipv4} in a Name tag, from the metadata service (as the original's safe_substitute). */
async function expandName(template: string, ctx: BootContext): Promise<string> {
  let name = template;
  for (const [placeholder, path] of PLACEHOLDERS) {
    if (!name.includes(placeholder)) continue;
    const value = await ctx.ports.imds.metadata(path, ctx.signal);
    if (!value)
      throw new AgentError('TPG_VOLUME_NOT_FOUND', `volumes.ebs names ${template}, but this instance has no ${path}`, {
        hint: `${placeholder} needs an instance with a ${path.replace('-', ' ')} address`,
      });
    name = name.split(placeholder).join(value);
  }
  return name;
}
