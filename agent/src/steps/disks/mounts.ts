/*! mounts: make each volume ready and mount it at /mounts<path>, never losing data by accident.
 *
 * A path already mounted (the agent run again in the same boot) is left alone. tmpfs is mounted
 * with its options. A volume is formatted only when it is blank, when erase_on_boot is true, or
 * (erase_on_boot absent) when its EBS volume carries Taupage:erase-on-boot=True, a tag removed
 * once the format is done; otherwise its file system is checked (e2fsck -f -p, xfs_repair) and
 * grown to the device (ext before mounting, xfs after), and a device holding anything else (a
 * partition table, a RAID member, another file system than the user data names) fails the boot
 * rather than be formatted over. Mount points are created root-owned and never through a
 * symbolic link. */
import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, stat } from 'node:fs/promises';
import { dirname, relative, sep } from 'node:path';
import { AgentError } from '../../lib/errors.js';
import type { BootContext } from '../context.js';
import type { MountPlan, Owner } from './plan.js';
import { volumeLookup, waitForDevice } from './devices.js';

export const ERASE_TAG = 'Taupage:erase-on-boot';

export interface MountOutcome {
  path: string;
  /** What was done, for the status note. */
  done: 'left alone (already mounted)' | 'tmpfs' | 'formatted' | 'checked' | 'erased (tagged)' | 'directory of the root disk';
}

/** Volumes attached in this boot: device name → volume id (for the erase tag). */
export type KnownVolumes = ReadonlyMap<string, string>;

export async function mountOne(m: MountPlan, ctx: BootContext, known: KnownVolumes): Promise<MountOutcome> {
  const { log, signal } = ctx;
  const bd = ctx.ports.blockDevices;
  const already = await bd.mountedAt(m.hostPath);
  if (already) {
    log.info({ path: m.path, hostPath: m.hostPath, source: already.source }, `${m.hostPath} is already mounted (${already.source}); left alone`);
    return { path: m.path, done: 'left alone (already mounted)' };
  }
  if (m.kind === 'directory') {
    // Made once, then handed to the application's user; an existing one is left as it is (its
    // owner may have changed it, and root changes nothing by name inside it).
    // On a descriptor: a parent may be a volume the application owns, where the name could be
    // swapped for a link between mkdir and this.
    if (await mountPoint(ctx.paths.mounts, m.hostPath)) await handOver(m.hostPath, m.owner);
    log.warn({ path: m.path, hostPath: m.hostPath }, `${m.path} has no partition: the container gets ${m.hostPath}, a directory of the root disk`);
    return { path: m.path, done: 'directory of the root disk' };
  }
  await mountPoint(ctx.paths.mounts, m.hostPath);
  if (m.kind === 'tmpfs') {
    await bd.mount('tmpfs', m.hostPath, { type: 'tmpfs', options: m.options, signal });
    log.info({ path: m.path, hostPath: m.hostPath, options: m.options }, `mounted tmpfs at ${m.hostPath}`);
    return { path: m.path, done: 'tmpfs' };
  }

  const volumeId = volumeLookup(ctx, m.device, known);
  const device = await waitForDevice(ctx, m.device, volumeId);
  const content = await bd.content(device, { signal });
  const where = `${m.path} (${m.device}${device !== m.device ? ` = ${device}` : ''})`;
  if (content.kind === 'other')
    throw new AgentError('TPG_DISK_FAILED', `${where} holds ${content.type}, not a file system; nothing was formatted or mounted`, {
      hint: 'name the partition or array that holds the file system (e.g. /dev/xvdf1), or wipe the device yourself if it is meant to be formatted',
    });

  // The tag is read (and, once acted on, removed) even on a blank volume: left in place, it would
  // erase the data of the next boot.
  const volume = m.erase === 'if-tagged' ? await volumeId() : undefined;
  const tagged = volume !== undefined && (await ctx.ports.ec2Volumes.tag(volume, ERASE_TAG, { signal }))?.toLowerCase() === 'true';
  const format = m.erase === 'always' ? 'erase' : tagged ? 'tagged' : content.kind === 'blank' ? 'blank' : undefined;

  if (format) {
    log.info({ path: m.path, device, filesystem: m.filesystem, why: format }, `formatting ${where} as ${m.filesystem} (${REASON[format]})`);
    await bd.format(device, m.filesystem, { rootOwner: m.owner, signal });
  } else {
    if (content.kind === 'filesystem' && content.type !== m.filesystem)
      throw new AgentError('TPG_DISK_FAILED', `${where} holds ${content.type}, but the user data says ${m.filesystem}; it was not formatted`, {
        hint: `write filesystem: ${content.type} to keep the data, or erase_on_boot: true once to reformat it as ${m.filesystem} (its data is lost)`,
      });
    const checked = await bd.check(device, m.filesystem, { signal });
    if (checked.repaired) log.warn({ path: m.path, device }, `the file system check repaired ${where}`);
    if (checked.replayOnMount) log.warn({ path: m.path, device }, `${where} was not cleanly unmounted; mounting replays its log`);
    await bd.growUnmounted(device, m.filesystem, { signal });
  }
  await bd.mount(device, m.hostPath, { type: m.filesystem, ...(m.options ? { options: m.options } : {}), signal });
  if (format && m.filesystem === 'xfs') {
    // mkfs.xfs has no root_owner: the root of the new, empty file system is ours to hand over. On a
    // descriptor, and only if it is that file system's: the name is in a directory the application
    // may see, and could be a link (to /etc/shadow) by now.
    const dev = (await stat(device)).rdev;
    await handOver(m.hostPath, m.owner, (st) =>
      st.dev === dev ? undefined : `${m.hostPath} is no longer the root of the file system just made on ${device}; its owner was not changed`,
    );
  }
  if (!format && m.filesystem === 'xfs') await bd.growMounted(m.hostPath, 'xfs', { signal });
  log.info({ path: m.path, hostPath: m.hostPath, device, filesystem: m.filesystem }, `mounted ${where} at ${m.hostPath}`);
  if (format === 'tagged') {
    // After the format: were this to fail, the boot fails before the application wrote anything,
    // so the format the tag asks for again next boot loses nothing.
    await ctx.ports.ec2Volumes.deleteTag(volume!, ERASE_TAG, { signal });
    log.info({ volumeId: volume, tag: ERASE_TAG }, `removed ${ERASE_TAG} from ${volume}`);
  }
  return { path: m.path, done: format === 'tagged' ? 'erased (tagged)' : format ? 'formatted' : 'checked' };
}

const REASON = { blank: 'the device is blank', erase: 'erase_on_boot is true', tagged: `its volume is tagged ${ERASE_TAG}=True` } as const;

/**
 * Give the directory at `path` to `owner`, mode 0755, through a descriptor opened without
 * following a link (O_NOFOLLOW) or blocking on a FIFO (O_NONBLOCK), and only if it is a directory
 * (O_DIRECTORY): root never changes by name what the application could have replaced. `refuse`
 * sees what was opened and returns why it must not be changed, if so.
 */
export async function handOver(path: string, owner: Owner, refuse?: (st: Stats) => string | undefined): Promise<void> {
  const dir = await open(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(
    async (e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOTDIR' && e.code !== 'ELOOP') throw e;
      // Refused by the open itself; lstat only says what it was, for the message.
      const link = (await lstat(path).catch(() => undefined))?.isSymbolicLink();
      throw new AgentError('TPG_DISK_FAILED', `${path} is ${link ? 'a symbolic link' : 'not a directory'}; refusing to hand it to the application`, {
        hint: `remove ${path} (something other than taupage put it there); the boot creates it`,
      });
    },
  );
  try {
    const why = refuse?.(await dir.stat());
    if (why) throw new AgentError('TPG_DISK_FAILED', why, { hint: 'something changed the mount point while the boot mounted it; boot again' });
    await dir.chown(owner.uid, owner.gid);
    await dir.chmod(0o755);
  } finally {
    await dir.close();
  }
}

/**
 * Create the mount point under `root` (root-owned, 0755), refusing to pass through a symbolic
 * link or anything not a directory: a volume mounted earlier (its owner, the application, may
 * have planted links in it) must not redirect a mount elsewhere on the host. True when it made
 * the target itself.
 */
export async function mountPoint(root: string, target: string): Promise<boolean> {
  await mkdir(root, { recursive: true, mode: 0o755 });
  const rel = relative(root, target);
  if (!rel || rel.startsWith('..')) throw new AgentError('TPG_INTERNAL', `mount point ${target} is outside ${root}`);
  let at = root;
  let made = false;
  for (const part of rel.split(sep)) {
    at = `${at}${sep}${part}`;
    const st = await lstat(at).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
    if (!st) {
      await mkdir(at, { mode: 0o755 });
      made = true;
      continue;
    }
    if (st.isSymbolicLink() || !st.isDirectory())
      throw new AgentError(
        'TPG_DISK_FAILED',
        `${at} is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}; refusing to mount ${target} through it`,
        { hint: `remove ${at} (something other than taupage created it${dirname(at) !== root ? ', perhaps inside a mounted volume' : ''})` },
      );
  }
  return made;
}
