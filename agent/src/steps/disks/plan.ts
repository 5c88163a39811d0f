/*! Volumes to attach, arrays to assemble and file systems to mount, in that order, and the
 * directories the container's log mount needs; decided from the user data alone. */
import { applicationOwner, type Owner, type PlanInput, type StepPlan, type PlanNote } from '../step.js';
import { mdadmCommands, type MdadmCommands } from './raid.js';
import type { FileSystemType } from '../../ports/block-devices.js';

export type { Owner };

export interface EbsPlan {
  device: string;
  /** The Name tag, with ${local_ipv4} and ${public_ipv4} expanded at boot. */
  nameTag: string;
}

export interface RaidPlan {
  device: string;
  level: number;
  devices: string[];
  /** What runs: `detail` tells whether it is active; else `examine` each member; then `assemble` or `create`. */
  commands: MdadmCommands;
}

export type MountPlan =
  | {
      /** No partition: a directory of the root disk, bound into the container (the original's way). */
      kind: 'directory';
      path: string;
      hostPath: string;
      /** Owner of the directory when it is made. */
      owner: Owner;
    }
  | {
      kind: 'tmpfs';
      path: string;
      hostPath: string;
      /** nodev,nosuid; mode, uid and gid of its root unless the user data's options set them; then those options. */
      options: string;
    }
  | {
      kind: 'volume';
      path: string;
      hostPath: string;
      device: string;
      filesystem: FileSystemType;
      /** always: format at every boot; never: keep data; if-tagged: format once when the volume's tag says so. Blank devices are formatted in every case. */
      erase: 'always' | 'never' | 'if-tagged';
      /** nodev,nosuid, then the user data's options. */
      options: string;
      /** Owner of the root directory of a file system made here (the container's user). */
      owner: Owner;
    };

export interface DisksPlan extends StepPlan {
  ebs: EbsPlan[];
  raid: RaidPlan[];
  mounts: MountPlan[];
  /** mount_custom_log: the directory the container's /var/log is, writable by its user. */
  customLogDir?: { path: string; owner: Owner };
}

export function planDisks({ settings: s, config, paths }: PlanInput): DisksPlan | null {
  const owner = applicationOwner({ settings: s, config });
  const notes: PlanNote[] = [];
  const ebs = Object.entries(s.volumes?.ebs ?? {}).map(([device, nameTag]) => ({ device, nameTag }));
  const raid = Object.entries(s.volumes?.raid ?? {}).map(([device, r]) => ({
    device,
    level: r.level,
    devices: r.devices,
    commands: mdadmCommands({ device, level: r.level, devices: r.devices }),
  }));
  // Parents before children: /data is mounted before /data/logs.
  const mounts = Object.entries(s.mounts ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([path, m]): MountPlan => {
      const hostPath = `${paths.mounts}${path}`;
      if (m.filesystem === 'tmpfs') return { kind: 'tmpfs', path, hostPath, options: [...HOST_SAFE, tmpfsOptions(m.options, owner)].join(',') };
      if (m.partition === undefined) {
        notes.push({
          level: 'warning',
          message: `${path}: no partition: ${hostPath} is a directory of the root disk, not a volume; its data is lost with the instance`,
        });
        return { kind: 'directory', path, hostPath, owner };
      }
      const erase = m.erase_on_boot === true ? 'always' : m.erase_on_boot === false ? 'never' : 'if-tagged';
      if (erase === 'always')
        notes.push({ level: 'warning', message: `${path}: erase_on_boot is true: ${m.partition} is formatted at every boot, its data lost` });
      return {
        kind: 'volume',
        path,
        hostPath,
        device: m.partition!,
        filesystem: m.filesystem,
        erase,
        options: [...HOST_SAFE, ...(m.options ? [m.options] : [])].join(','),
        owner,
      };
    });
  const customLogDir = s.mount_custom_log ? { path: paths.varLogCustom, owner } : undefined;
  if (!ebs.length && !raid.length && !mounts.length && !customLogDir) return null;
  return { ebs, raid, mounts, ...(customLogDir ? { customLogDir } : {}), ...(notes.length ? { notes } : {}) };
}

/** What the application writes into a volume or tmpfs is the host's too: a device node made there (by
 * a `root: true` container: one of the host's disk, 0666) or a set-user-id program would serve every
 * host user, a person logged in through Even included. So neither works there; `dev` or `suid` in the
 * user data's options (later words win) turns them back on. */
const HOST_SAFE = ['nodev', 'nosuid'];

/** A tmpfs root owned by the container's user (0755) unless the options say otherwise. */
function tmpfsOptions(options: string | undefined, owner: Owner): string {
  const given = (options ?? '').split(',').filter(Boolean);
  const has = (k: string) => given.some((o) => o.startsWith(`${k}=`));
  const defaults = [has('mode') ? '' : 'mode=0755', has('uid') ? '' : `uid=${owner.uid}`, has('gid') ? '' : `gid=${owner.gid}`].filter(Boolean);
  return [...defaults, ...given].join(',');
}
