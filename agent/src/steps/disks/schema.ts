/*! User-data keys for EBS volumes, RAID arrays and mounts. */
import { t, INVALID, error, warning } from '../../lib/schema/types.js';
import { absolutePath, singleLine } from '../../values/text.js';

export const FILESYSTEMS = ['ext4', 'ext3', 'ext2', 'xfs', 'tmpfs'] as const;

/** /dev/NAME[/NAME...]: no empty, `.` or `..` segments, so a name never leaves /dev. */
const DEVICE = String.raw`\/dev(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9_.-]+)+`;

const devicePath = t.string({
  singleLine: true,
  pattern: new RegExp(`^${DEVICE}$`),
  patternMessage: 'must be a device path such as /dev/xvdf or /dev/md/data',
});

/** What the original wrote as a tmpfs mount's partition: a source name, not a device. */
export const NO_DEVICE = 'none';

const partition = t.string({
  singleLine: true,
  pattern: new RegExp(`^(?:${NO_DEVICE}|${DEVICE})$`),
  patternMessage: 'must be a device path such as /dev/xvdf or /dev/md/data (or none, for tmpfs)',
});

const mount = t
  .object(
    {
      partition: partition.describe(
        'Device to mount: an EBS device name as attached (/dev/xvdf or /dev/sdf; on Nitro instances the NVMe device carrying that volume is found), or a RAID array of volumes.raid. tmpfs has no device: leave it out or write none.',
      ),
      filesystem: t
        .enum(FILESYSTEMS)
        .default('ext4')
        .describe(
          'File system. ext2/3/4 and xfs: created when the volume is formatted, otherwise checked (e2fsck -f -p or xfs_repair) and grown to the device before mounting. tmpfs: memory, empty at every boot.',
        ),
      erase_on_boot: t
        .boolean()
        .describe(
          'true: format at every boot (all data lost). false: never format a volume that holds a file system. Absent: format once when the EBS volume carries the tag Taupage:erase-on-boot=True, and remove the tag. A blank volume is formatted in every case. Must be a real boolean (a string such as "false" is an error).',
        ),
      options: singleLine({ maxLength: 512 })
        .refine<string>((v, path, ctx) => {
          if (!/^[A-Za-z0-9_=.,:/+-]+$/.test(v)) {
            ctx.report(error(path, 'TPG_UD_PATTERN', 'mount options are comma-separated words such as noatime,size=1g (no spaces)'));
            return INVALID;
          }
          return v;
        })
        .describe(
          "Mount options (comma separated, e.g. noatime or size=1g for tmpfs). Every volume and tmpfs is mounted nodev,nosuid before these (what the application writes there is the host's too: a device node or set-user-id program made there would serve every host user); write dev or suid here to allow them.",
        ),
    },
    { unknownKeys: 'error' },
  )
  .refine((m, path, ctx) => {
    if (m.filesystem === 'tmpfs') {
      if (m.partition !== undefined && m.partition !== NO_DEVICE) {
        ctx.report(
          error(
            [...path, 'partition'],
            'TPG_UD_TMPFS_DEVICE',
            `tmpfs lives in memory and uses no device: remove partition (or write none); to keep data on ${m.partition}, choose filesystem ext4 or xfs`,
          ),
        );
        return INVALID;
      }
      // The original mounted these (Senza templates write erase_on_boot: false everywhere).
      if (m.erase_on_boot === false)
        ctx.report(
          warning(
            [...path, 'erase_on_boot'],
            'TPG_UD_TMPFS_ERASE',
            'tmpfs is empty at every boot, whatever erase_on_boot says: it is mounted as tmpfs and keeps nothing over a reboot; remove erase_on_boot, or use a volume to keep data',
          ),
        );
      return m;
    }
    if (m.partition === NO_DEVICE) {
      ctx.report(
        error(
          [...path, 'partition'],
          'TPG_UD_PATTERN',
          `partition none names no device: ${m.filesystem} needs the device of a volume (e.g. /dev/xvdf); for scratch space in memory, write filesystem: tmpfs`,
        ),
      );
      return INVALID;
    }
    // The original skipped such a mount and bound /mounts<path>, a directory of the root disk, into
    // the container. Kept (documents that booted for years still do), and said plainly.
    if (m.partition === undefined)
      ctx.report(
        warning(
          path,
          'TPG_UD_NO_DEVICE',
          `no partition: nothing is mounted here; the container gets /mounts${String(path.at(-1))}, a directory of the root disk (as the original did), whose data is lost with the instance. Give partition to mount a volume, or write filesystem: tmpfs for scratch space`,
          'key',
        ),
      );
    return m;
  });

export const disksKeys = {
  mounts: t
    .map(
      absolutePath('mount path').refine<string>((p, path, ctx) => {
        if (p === '/' || /^\/(?:meta|proc|sys|dev|run|etc|usr|boot)(?:\/|$)/.test(p)) {
          ctx.report(error(path, 'TPG_UD_PATH', `${p} cannot be a mount path: it would shadow a system directory`));
          return INVALID;
        }
        return p;
      }),
      mount,
    )
    .refine((mounts, path, ctx) => {
      // Inside a directory of the root disk the application owns (a mount without a partition),
      // a mount point's name can be swapped for a link to /etc: root mounts through descriptors,
      // but Docker binds the mount into the container by name. Mounts inside volumes and tmpfs are
      // not refused.
      const directories = Object.entries(mounts)
        .filter(([, m]) => m.partition === undefined && m.filesystem !== 'tmpfs')
        .map(([p]) => p);
      let ok = true;
      for (const p of Object.keys(mounts)) {
        const parent = directories.find((d) => p.startsWith(`${d}/`));
        if (parent === undefined) continue;
        ok = false;
        ctx.report(
          error(
            [...path, p],
            'TPG_UD_MOUNT_IN_DIRECTORY',
            `${parent} is a directory the application owns (it has no partition); a mount inside it would be made on a path the application can change: give ${parent} a partition or move ${p} out of it`,
            'key',
          ),
        );
      }
      return ok ? mounts : INVALID;
    })
    .describe(
      'Volumes to prepare and mount: the host mounts them at /mounts<path> and the container sees them at <path>, mounted before the container starts; a mount that fails fails the boot, so the application never starts on an unmounted path. A path already mounted (the agent run again in the same boot) is left alone. The root of a new file system belongs to the application user (root with root: true), mode 0755. Differences from the original, which bound an empty root-disk directory into the container whenever a mount was skipped: a mount without a partition gives the container a directory of the root disk, as the original did, with a warning that says so (and the plan shows it), and no other mount may lie inside it (the application owns that directory and could turn the path into a link elsewhere on the host), while every other bind under /mounts must be mounted before the container starts; tmpfs is mounted with partition none or without a partition (the original mounted only partition: none), and erase_on_boot: false on tmpfs is a warning (tmpfs keeps nothing); a device holding another file system than filesystem, a partition table or a RAID member fails the boot rather than be checked with the wrong tool or formatted over; mounts are no longer made 0777 at every boot. A mount at a container path that mount_custom_log (/var/log), mount_var_log (/var/log-host) or docker_daemon_access (/var/run/docker.sock) binds is refused (TPG_UD_DUPLICATE): Docker would refuse the container at boot.',
    ),
  volumes: t
    .object(
      {
        ebs: t.map(devicePath, singleLine({ maxLength: 255 })).describe(
          // biome-ignore lint/suspicious/noTemplateCurlyInString: the placeholders users write, shown literally.
          "EBS volumes to attach, device → volume Name tag (${local_ipv4} and ${public_ipv4} are expanded). An available volume with that Name in the instance's availability zone is attached at the device (the lowest id of several) and waited for, also on Nitro instances where it appears as an NVMe device under another name (found by the volume id in its serial). One already attached to this instance is used as it is. Until the boot's deadline the search is repeated while no such volume is available (still being created, or still attached to the instance it belonged to); then the boot fails with TPG_VOLUME_NOT_FOUND or TPG_VOLUME_IN_USE, and with TPG_VOLUME_TIMEOUT when an attached volume does not appear. The instance role needs ec2:DescribeVolumes, ec2:AttachVolume (and for erase_on_boot's tag ec2:DescribeTags, ec2:DeleteTags).",
        ),
        raid: t
          .map(
            devicePath,
            t.object(
              {
                level: t.integer({ min: 0, max: 10 }).required().describe('RAID level (mdadm --level).'),
                devices: t.list(devicePath, { minItems: 2, unique: true }).required().describe('Member devices (at least two).'),
              },
              { unknownKeys: 'error' },
            ),
          )
          .describe(
            'Software RAID arrays (mdadm), md device → level and member devices, made after the EBS volumes are attached. An active array is left alone; one the system assembled under another name as its volumes attached (e.g. /dev/md127, on an instance with another host name) is stopped and assembled under this name; when any member carries an md superblock the array is assembled (never created again: that would overwrite its data); only when no member carries one is it created (mdadm --create --run). A member that does not appear fails the boot with TPG_VOLUME_TIMEOUT.',
          ),
      },
      { unknownKeys: 'error' },
    )
    .describe('Block devices to attach or assemble before mounting.'),
};
