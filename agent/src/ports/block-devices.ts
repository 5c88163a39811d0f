/*! The machine's block devices, file systems and mounts, in the words the disks step uses.
 * Implemented over the kernel's files and util-linux, e2fsprogs, xfsprogs in
 * adapters/block-devices.ts. Device paths are the machine's own (/dev/...); mount points are
 * absolute paths (under the agent's root). Each call that runs a tool fails with
 * TPG_DISK_FAILED naming the command and its last words. */

export type FileSystemType = 'ext2' | 'ext3' | 'ext4' | 'xfs';

/** What a device holds, from its signatures (blkid -p). */
export type DeviceContent =
  | { kind: 'blank' }
  | { kind: 'filesystem'; type: string }
  /** A partition table, a RAID member, LVM, swap, ...: not a file system to mount, never formatted over. */
  | { kind: 'other'; type: string };

export interface Mounted {
  source: string;
  fsType: string;
}

/** A mount point as the disks step opened it (steps/disks/mounts.ts openMountPoint). */
export interface MountTarget {
  /** Where it was when opened: for messages. */
  path: string;
  /** An open descriptor of the directory: the mount goes there. */
  fd: number;
}

export interface ToolOptions {
  signal?: AbortSignal;
}

export interface BlockDevices {
  /** The block device at `path` (following symbolic links), or undefined when there is none. */
  resolve(path: string): Promise<string | undefined>;
  /** The md arrays (as /dev/mdN) that hold this device as a member. */
  holders(device: string): Promise<string[]>;
  /** The block device whose NVMe serial carries this EBS volume id (Nitro instances), if any. */
  byEbsVolumeId(volumeId: string): Promise<string | undefined>;
  content(device: string, options?: ToolOptions): Promise<DeviceContent>;
  /** mkfs: a new, empty file system; the ext family's root directory owned by `rootOwner`. */
  format(device: string, type: FileSystemType, options?: ToolOptions & { rootOwner?: { uid: number; gid: number } }): Promise<void>;
  /** fsck before mounting; `{ replayOnMount: true }` when xfs has a log only a mount replays. */
  check(device: string, type: FileSystemType, options?: ToolOptions): Promise<{ repaired: boolean; replayOnMount?: boolean }>;
  /** Grow an unmounted ext file system to its device (after check; ext grows unmounted, which needs no CAP_SYS_RESOURCE). No-op for xfs. */
  growUnmounted(device: string, type: FileSystemType, options?: ToolOptions): Promise<void>;
  /** Grow a mounted xfs to its device (xfs grows only mounted). */
  growMounted(mountPoint: string, type: FileSystemType, options?: ToolOptions): Promise<void>;
  /** Mount `source` on the directory `at.fd` is open on, never on what `at.path` names by then
   * (a name in a volume the application writes may have become a link since it was checked). */
  mount(source: string, at: MountTarget, o: ToolOptions & { type: FileSystemType | 'tmpfs'; options?: string }): Promise<void>;
  /** What is mounted exactly at `mountPoint` (the kernel's mount table), if anything. */
  mountedAt(mountPoint: string): Promise<Mounted | undefined>;
  /** The mount the directory `dir` lies on, as a path lookup reaches it now (the topmost mount, also
   * one over a parent): its mount point and per-mount options (nosymfollow, nodev, ...). Found
   * through a descriptor opened without following a link; fails when `dir` is missing, a link or
   * not a directory. */
  mountOf(dir: string): Promise<MountOf>;
}

export interface MountOf {
  mountPoint: string;
  /** The per-mount options (/proc/self/mountinfo's sixth field), e.g. rw, nosuid, nosymfollow. */
  options: string[];
}

/** mdadm, run with exactly the arguments the disks step planned (steps/disks/raid.ts). */
export interface Raid {
  mdadm(args: readonly string[], options?: ToolOptions): Promise<{ code: number; stdout: string; stderr: string }>;
}
