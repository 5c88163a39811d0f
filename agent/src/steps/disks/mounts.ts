/*! mounts: make each volume ready and mount it at /mounts<path>, never losing data by accident.
 *
 * A path already mounted (the agent run again in the same boot) is left alone. tmpfs is mounted
 * with its options. A volume is formatted only when it is blank, when erase_on_boot is true, or
 * (erase_on_boot absent) when its EBS volume carries Taupage:erase-on-boot=True, a tag removed
 * once the format is done; otherwise its file system is checked (e2fsck -f -p, xfs_repair) and
 * grown to the device (ext before mounting, xfs after), and a device holding anything else (a
 * partition table, a RAID member, another file system than the user data names) fails the boot
 * rather than be formatted over.
 *
 * Mount points are created root-owned, never through a symbolic link, and mounted on by
 * descriptor: a mount point inside a mounted volume is in a directory the application writes
 * (and on a reboot it may be running already), so its name may become a link between the check
 * and the mount. openMountPoint walks from /mounts one component at a time (each opened
 * O_DIRECTORY|O_NOFOLLOW relative to the one before, through /proc/self/fd: Node's openat), and
 * the mount goes onto the directory that walk opened (mount's fd 3); what got mounted is then
 * found again from the parent's descriptor before anything is handed to the application. */
import { lstat, mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import { dirname, relative, sep } from 'node:path';
import { AgentError } from '../../lib/errors.js';
import { DIRECTORY_NO_FOLLOW, inDirectory } from '../../lib/open-flags.js';
import type { BootContext } from '../context.js';
import type { BlockDevices } from '../../ports/block-devices.js';
import type { MountPlan, Owner } from './plan.js';
import { volumeLookup, waitForDevice } from './devices.js';

export const ERASE_TAG = 'Taupage:erase-on-boot';

export interface MountOutcome {
  path: string;
  /** What was done, for the status note. */
  done: 'left alone (already mounted)' | 'tmpfs' | 'formatted' | 'checked' | 'erased (tagged)' | 'directory of the root disk';
}

/** Volumes attached in this boot: device name → volume id (for the erase tag). */
type KnownVolumes = ReadonlyMap<string, string>;

export async function mountOne(m: MountPlan, ctx: BootContext, known: KnownVolumes): Promise<MountOutcome> {
  const { log } = ctx;
  const already = await ctx.ports.blockDevices.mountedAt(m.hostPath);
  if (already) {
    // The agent run again in the same boot finds its own mount; anything else there is not what
    // the user data asked for, and is not reported as done.
    const wanted = m.kind === 'tmpfs' ? 'tmpfs' : m.kind === 'volume' ? m.filesystem : undefined;
    if (wanted !== undefined && already.fsType !== wanted)
      throw new AgentError(
        'TPG_DISK_FAILED',
        `${m.hostPath} is already mounted, but with ${already.fsType} from ${already.source}, not ${wanted}; nothing was mounted`,
        {
          hint: `unmount ${m.hostPath} (it is not this boot's) and run the boot again, or reboot`,
        },
      );
    log.info({ path: m.path, hostPath: m.hostPath, source: already.source }, `${m.hostPath} is already mounted (${already.source}); left alone`);
    return { path: m.path, done: 'left alone (already mounted)' };
  }
  // From here the mount point is a descriptor: the name may be swapped for a link at any time.
  const point = await openMountPoint(ctx.paths.mounts, m.hostPath);
  try {
    return await mountOn(point, m, ctx, known);
  } finally {
    await point.close();
  }
}

async function mountOn(point: MountPointHandle, m: MountPlan, ctx: BootContext, known: KnownVolumes): Promise<MountOutcome> {
  const { log, signal } = ctx;
  const bd = ctx.ports.blockDevices;
  const at = { path: m.hostPath, fd: point.dir.fd };
  if (m.kind === 'directory') {
    // Made once, then handed to the application's user; an existing one is left as it is (its
    // owner may have changed it, and root changes nothing by name inside it).
    if (point.made) await handOverOpen(point.dir, m.owner);
    log.warn({ path: m.path, hostPath: m.hostPath }, `${m.path} has no partition: the container gets ${m.hostPath}, a directory of the root disk`);
    return { path: m.path, done: 'directory of the root disk' };
  }
  if (m.kind === 'tmpfs') {
    await bd.mount('tmpfs', at, { type: 'tmpfs', options: m.options, signal });
    await (await mountedRoot(point, bd, undefined)).close();
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
    if (format === 'tagged') {
      // Right after the format, before anything is mounted: the tag's request is done. Were the
      // delete to fail, the boot fails with nothing mounted, so a run again (or the next boot)
      // formats the still empty file system again and loses nothing; removed only after the
      // mount, a run again in the same boot would find the path mounted, leave it alone, and the
      // next reboot would erase what the application wrote meanwhile.
      await ctx.ports.ec2Volumes.deleteTag(volume!, ERASE_TAG, { signal });
      log.info({ volumeId: volume, tag: ERASE_TAG }, `removed ${ERASE_TAG} from ${volume}`);
    }
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
  await bd.mount(device, at, { type: m.filesystem, options: m.options, signal });
  const root = await mountedRoot(point, bd, (await stat(device)).rdev);
  try {
    // mkfs.xfs has no root_owner: the root of the new, empty file system is ours to hand over,
    // through the descriptor just checked to be that file system's root.
    if (format && m.filesystem === 'xfs') await handOverOpen(root, m.owner);
  } finally {
    await root.close();
  }
  if (!format && m.filesystem === 'xfs') await bd.growMounted(m.hostPath, 'xfs', { signal });
  log.info({ path: m.path, hostPath: m.hostPath, device, filesystem: m.filesystem }, `mounted ${where} at ${m.hostPath}`);
  return { path: m.path, done: format === 'tagged' ? 'erased (tagged)' : format ? 'formatted' : 'checked' };
}

const REASON = { blank: 'the device is blank', erase: 'erase_on_boot is true', tagged: `its volume is tagged ${ERASE_TAG}=True` } as const;

/** `path` opened as a directory without following a link (at its last component) or blocking
 * on a FIFO; undefined when there is nothing there; `refused` says why when it is a link or no directory. */
async function openDir(path: string, refused: (what: string) => AgentError): Promise<FileHandle | undefined> {
  try {
    return await open(path, DIRECTORY_NO_FOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code !== 'ENOTDIR' && code !== 'ELOOP') throw e;
    // Refused by the open itself; lstat only says what it was, for the message.
    const link = (await lstat(path).catch(() => undefined))?.isSymbolicLink();
    throw refused(link ? 'a symbolic link' : 'not a directory');
  }
}

/**
 * Give the directory at `path` to `owner`, mode 0755, through a descriptor opened without
 * following a link (O_NOFOLLOW) or blocking on a FIFO (O_NONBLOCK), and only if it is a directory
 * (O_DIRECTORY): root never changes by name what the application could have replaced.
 */
export async function handOver(path: string, owner: Owner): Promise<void> {
  const refused = (what: string) =>
    new AgentError('TPG_DISK_FAILED', `${path} is ${what}; refusing to hand it to the application`, {
      hint: `remove ${path} (something other than taupage put it there); the boot creates it`,
    });
  const dir = await openDir(path, refused);
  if (!dir) throw refused('gone');
  try {
    await handOverOpen(dir, owner);
  } finally {
    await dir.close();
  }
}

/** Give the open directory `dir` to `owner`, mode 0755. */
async function handOverOpen(dir: FileHandle, owner: Owner): Promise<void> {
  await dir.chown(owner.uid, owner.gid);
  await dir.chmod(0o755);
}

/** A mount point opened by openMountPoint; close() closes its descriptors. */
interface MountPointHandle {
  /** The mount point itself: what a mount goes onto. */
  dir: FileHandle;
  /** Its parent and its name there: how what is mounted on it is found again. */
  parent: FileHandle;
  name: string;
  path: string;
  /** It was made now (it or a directory above it did not exist). */
  made: boolean;
  close(): Promise<void>;
}

/**
 * Open the mount point `target` under `root` by a walk of descriptors from `root`, making what
 * is missing (root-owned, 0755): each component is opened O_DIRECTORY|O_NOFOLLOW relative to the
 * descriptor of the one before, so a symbolic link or anything not a directory anywhere on the way
 * is refused, and a name swapped once the walk passed it changes nothing. The mount point must be
 * a directory of the file system that holds it (nothing mounted there since mountedAt said so).
 */
async function openMountPoint(root: string, target: string): Promise<MountPointHandle> {
  await mkdir(root, { recursive: true, mode: 0o755 });
  const rel = relative(root, target);
  if (!rel || rel.startsWith('..')) throw new AgentError('TPG_INTERNAL', `mount point ${target} is outside ${root}`);
  const parts = rel.split(sep);
  let parent = await open(root, DIRECTORY_NO_FOLLOW);
  let path = root;
  let made = false;
  try {
    for (const [i, name] of parts.entries()) {
      path = `${path}${sep}${name}`;
      const at = path;
      const refused = (what: string) =>
        new AgentError('TPG_DISK_FAILED', `${at} is ${what}; refusing to mount ${target} through it`, {
          hint: `remove ${at} (something other than taupage created it${dirname(at) !== root ? ', perhaps inside a mounted volume' : ''})`,
        });
      let dir = await openDir(inDirectory(parent, name), refused);
      if (!dir) {
        await mkdir(inDirectory(parent, name), { mode: 0o755 }).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'EEXIST') throw e;
        });
        made = true;
        dir = await openDir(inDirectory(parent, name), refused);
        if (!dir) throw refused('gone as soon as it was made');
      }
      if (i < parts.length - 1) {
        await parent.close();
        parent = dir;
        continue;
      }
      const [st, up] = await Promise.all([dir.stat(), parent.stat()]);
      if (st.dev !== up.dev) {
        await dir.close();
        throw new AgentError(
          'TPG_DISK_FAILED',
          `${target} is not a directory of the file system that holds it (something is mounted there); refusing to mount on it`,
          {
            hint: 'something else mounted it while the boot ran; unmount it and boot again',
          },
        );
      }
      const handle = dir;
      const last = parent;
      return { dir: handle, parent: last, name, path: target, made, close: async () => void (await Promise.allSettled([handle.close(), last.close()])) };
    }
  } catch (e) {
    await parent.close().catch(() => undefined);
    throw e;
  }
  throw new AgentError('TPG_INTERNAL', `no mount point in ${target}`);
}

/**
 * The root of what was just mounted on `point`, found again from its parent's descriptor (so a
 * link at the name is refused) and checked to be that mount: a file system on `device` (its
 * rdev), or for tmpfs any other than the directory it covers; and the kernel's mount table must
 * have it at the mount point's path. Otherwise the mount point (or a directory above it) was
 * moved before the mount, and the mount went with it, inside the volume: the boot fails, and the
 * container, which binds the path, is not started.
 */
async function mountedRoot(point: MountPointHandle, bd: BlockDevices, device: number | undefined): Promise<FileHandle> {
  const moved = () =>
    new AgentError(
      'TPG_DISK_FAILED',
      `${point.path} was moved or replaced while the boot mounted it; the file system went onto the directory that was there, not onto what the path names now`,
      { hint: 'something changed the mount point while the boot mounted it (inside a volume: the application?); boot again once it is left alone' },
    );
  const refused = (what: string) =>
    new AgentError('TPG_DISK_FAILED', `${point.path} is ${what}; refusing to hand it to the application`, {
      hint: 'something changed the mount point while the boot mounted it; boot again',
    });
  const root = await openDir(inDirectory(point.parent, point.name), refused);
  if (!root) throw refused('gone');
  try {
    const [st, covered] = await Promise.all([root.stat(), point.dir.stat()]);
    if (device !== undefined ? st.dev !== device : st.dev === covered.dev) throw moved();
    if (!(await bd.mountedAt(point.path))) throw moved();
    return root;
  } catch (e) {
    await root.close();
    throw e;
  }
}
