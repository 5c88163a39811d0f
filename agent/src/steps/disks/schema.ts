/*! User-data keys for EBS volumes, RAID arrays and mounts. */
import { t, INVALID, error } from '../../lib/schema/types.js';
import { absolutePath, singleLine } from '../../values/text.js';

export const FILESYSTEMS = ['ext4', 'ext3', 'ext2', 'xfs', 'tmpfs'] as const;

const devicePath = t.string({
  singleLine: true,
  pattern: /^\/dev\/[A-Za-z0-9][A-Za-z0-9/_.-]*$/,
  patternMessage: 'must be a device path such as /dev/xvdf or /dev/md/data',
});

const mount = t
  .object(
    {
      partition: devicePath.describe('Device to mount (not needed for tmpfs).'),
      filesystem: t.enum(FILESYSTEMS).default('ext4').describe('Filesystem; created when the volume is formatted.'),
      erase_on_boot: t
        .boolean()
        .describe(
          'true: format on every boot. false: never format. Absent: format only when the volume carries the tag Taupage:erase-on-boot=True. Must be a real boolean.',
        ),
      options: singleLine({ maxLength: 512 })
        .refine<string>((v, path, ctx) => {
          if (!/^[A-Za-z0-9_=.,:/+-]+$/.test(v)) {
            ctx.report(error(path, 'TPG_UD_PATTERN', 'mount options are comma-separated words such as noatime,size=1g (no spaces)'));
            return INVALID;
          }
          return v;
        })
        .describe('Mount options (comma separated, e.g. noatime or size=1g for tmpfs).'),
    },
    { unknownKeys: 'error' },
  )
  .refine((m, path, ctx) => {
    if (m.filesystem !== 'tmpfs' && !m.partition) {
      ctx.report(error(path, 'TPG_UD_REQUIRED', `missing required key partition (needed for ${m.filesystem})`));
      return INVALID;
    }
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
    .describe('Volumes to prepare and mount: the host mounts them at /mounts<path> and the container sees them at <path>.'),
  volumes: t
    .object(
      {
        ebs: t
          .map(devicePath, singleLine({ maxLength: 255 }))
          // biome-ignore lint/suspicious/noTemplateCurlyInString: the placeholders users write, shown literally.
          .describe('EBS volumes to attach, device → volume Name tag (${local_ipv4} and ${public_ipv4} are expanded).'),
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
          .describe('Software RAID arrays to assemble, md device → level and member devices.'),
      },
      { unknownKeys: 'error' },
    )
    .describe('Block devices to attach or assemble before mounting.'),
};
