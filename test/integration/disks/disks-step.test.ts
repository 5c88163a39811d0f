// The disks step on real block devices, as root: the local EC2 attaches sparse files as loop
// devices, and the step formats, checks, grows and mounts them with the real mkfs, e2fsck,
// xfs_repair, resize2fs, xfs_growfs and mount, under a scratch root. Reboots are the mounts
// going away while the volumes stay attached, then the step running again.
import { describe, it, expect, beforeEach } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { constants } from 'node:fs';
import { chmod, mkdir, open, readFile, rename, rm, rmdir, stat, statfs, symlink, writeFile } from 'node:fs/promises';
import { useVolumeLab, AZ } from '../../harness/volumes.js';
import { INSTANCE_ID, testBoot, type TestBoot } from '../../harness/boot-context.js';
import { userData } from '../../harness/user-data.js';
import { mountsUnder } from '../../harness/mounts.js';
import { planDisks, type DisksPlan } from '../../../agent/src/steps/disks/plan.js';
import { applyDisks } from '../../../agent/src/steps/disks/apply.js';
import { ERASE_TAG } from '../../../agent/src/steps/disks/mounts.js';
import { blockDevices } from '../../../agent/src/adapters/block-devices.js';
import type { BlockDevices } from '../../../agent/src/ports/block-devices.js';
import type { BootPorts } from '../../../agent/src/ports/index.js';

const run = promisify(execFile);
const lab = useVolumeLab('disks');
const cloud = lab.cloud;
const SOURCE = 'pierone.stups.zalan.do/team/my-app:1.0';
let root: string;

beforeEach(() => {
  root = lab.root;
});

function boot(fields: Record<string, unknown>, o: { deadlineMs?: number; ports?: Partial<BootPorts>; metadata?: Record<string, string> } = {}): TestBoot {
  return testBoot({
    userData: userData({ source: SOURCE, ...fields }),
    config: { root, aws: { endpoints: { ec2: cloud.ec2.url }, retry_base_ms: 5, request_timeout_ms: 2_000 } },
    deadlineMs: o.deadlineMs ?? 60_000,
    ...(o.ports ? { ports: o.ports } : {}),
    ...(o.metadata ? { metadata: o.metadata } : {}),
  });
}

async function applyAgain(b: TestBoot, o: { deadlineMs?: number; ports?: Partial<BootPorts> } = {}) {
  const plan = planDisks({ settings: b.settings, config: b.config, paths: b.paths }) as DisksPlan;
  return applyDisks(plan, b.context(o));
}

/** What a reboot does to the disks: mounts gone, EBS volumes still attached. A container another
 * test file starts meanwhile copies the mount table into its namespace and may hold a file system
 * of ours for a moment after the umount (e2fsck: "is in use"), which no real reboot does: so this
 * waits until each attached device can be opened exclusively. */
async function reboot(): Promise<void> {
  for (const p of await mountsUnder(root)) await run('umount', [p]);
  for (const v of cloud.ec2.volumes.values()) {
    const loop = v.attachment?.loop;
    for (let tries = 0; loop && tries < 100; tries++) {
      const fh = await open(loop, constants.O_RDONLY | constants.O_EXCL).catch((e: NodeJS.ErrnoException) => (e.code === 'EBUSY' ? undefined : null));
      if (fh !== undefined) {
        await fh?.close();
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

const mounted = (path: string) => blockDevices().mountedAt(join(root, 'mounts', path));
const sizeOf = async (path: string) => {
  const s = await statfs(join(root, 'mounts', path));
  return s.blocks * s.bsize;
};
const actions = () => cloud.ec2.calls.map((c) => c.action);

/** /data mounted from a volume, and in it `name`: a link the application (owner of /data's root)
 * planted to a host directory holding a precious file. Returns that directory. */
async function volumeWithPlantedLink(name: string): Promise<string> {
  await cloud.ec2.createVolume({ name: 'data' });
  const victim = join(root, 'victim');
  await mkdir(victim);
  await writeFile(join(victim, 'precious'), 'x');
  await applyAgain(boot({ volumes: { ebs: { '/dev/sdf': 'data' } }, mounts: { '/data': { partition: '/dev/xvdf' } } }));
  await symlink(victim, join(root, 'mounts/data', name));
  return victim;
}

describe('disks step: EBS volumes on real loop devices', () => {
  it('attaches the volume named in volumes.ebs, formats it because it is blank, mounts it owned by the application user', async () => {
    const v = await cloud.ec2.createVolume({ name: 'my-app-data' });
    const b = boot({ volumes: { ebs: { '/dev/sdf': 'my-app-data' } }, mounts: { '/data': { partition: '/dev/xvdf' } } });
    const report = await applyAgain(b);
    expect(report.note).toBe('/dev/sdf attached; /data formatted');
    expect(await mounted('data')).toMatchObject({ fsType: 'ext4', source: expect.stringMatching(/^\/dev\/loop\d+$/) });
    const st = await stat(join(root, 'mounts/data'));
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([999, 999, 0o755]);
    expect(cloud.ec2.volumes.get(v.volumeId)!.attachment).toMatchObject({ instanceId: INSTANCE_ID, device: '/dev/sdf', state: 'attached' });
    // Found by Name tag in the instance's zone, attached, then asked for the erase tag (erase_on_boot absent).
    expect(actions()).toEqual(['DescribeVolumes', 'AttachVolume', 'DescribeTags']);
    expect(cloud.ec2.calls[0]!.params).toMatchObject({ 'Filter.1.Name': 'tag:Name', 'Filter.1.Value.1': 'my-app-data', 'Filter.2.Value.1': AZ });
  });

  it('expands the local_ipv4 placeholder in the Name tag from the metadata service: each instance its own volume', async () => {
    await cloud.ec2.createVolume({ name: 'db-10.0.1.23' });
    await cloud.ec2.createVolume({ name: 'db-10.0.1.99' });
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the placeholder users write.
    const b = boot({ volumes: { ebs: { '/dev/sdf': 'db-${local_ipv4}' } } }, { metadata: { 'local-ipv4': '10.0.1.23' } });
    expect((await applyAgain(b)).note).toBe('/dev/sdf attached');
    expect(cloud.ec2.calls[0]!.params).toMatchObject({ 'Filter.1.Value.1': 'db-10.0.1.23' });
    expect([...cloud.ec2.volumes.values()].filter((v) => v.attachment).map((v) => v.tags.get('Name'))).toEqual(['db-10.0.1.23']);
  });

  it('never formats a volume with a file system: a file written survives a reboot; the file system is checked first', async () => {
    await cloud.ec2.createVolume({ name: 'my-app-data' });
    const b = boot({ volumes: { ebs: { '/dev/sdf': 'my-app-data' } }, mounts: { '/data': { partition: '/dev/xvdf', erase_on_boot: false } } });
    await applyAgain(b);
    await writeFile(join(root, 'mounts/data/orders.db'), 'order 1\n');
    await reboot();
    expect(await mounted('data')).toBeUndefined();
    cloud.ec2.calls.length = 0;
    const logged = b.logs().length;
    const report = await applyAgain(b);
    expect(report.note).toBe('/dev/sdf already there; /data checked');
    expect(await readFile(join(root, 'mounts/data/orders.db'), 'utf8')).toBe('order 1\n');
    expect(actions()).toEqual([]); // erase_on_boot: false asks EC2 nothing; the device was there
    expect(
      b
        .logs()
        .slice(logged)
        .some((l) => /formatting/.test(String(l.msg))),
    ).toBe(false);
  });

  it('checks a file system before mounting it: one marked with errors is mounted clean', async () => {
    await cloud.ec2.createVolume({ name: 'data' });
    const b = boot({ volumes: { ebs: { '/dev/sdf': 'data' } }, mounts: { '/data': { partition: '/dev/xvdf', erase_on_boot: false } } });
    await applyAgain(b);
    const device = (await mounted('data'))!.source;
    await reboot();
    await run('tune2fs', ['-E', 'force_fsck', device]);
    const state = async () => (await run('dumpe2fs', ['-h', device])).stdout.match(/^Filesystem state:\s+(.*)$/m)?.[1];
    expect(await state()).toBe('clean with errors');
    await applyAgain(b);
    expect(await state()).toBe('clean');
  });

  it('grows ext4 to a larger volume before mounting, and xfs once mounted', async () => {
    const ext = await cloud.ec2.createVolume({ name: 'ext', sizeMiB: 64 });
    const xfs = await cloud.ec2.createVolume({ name: 'xfs', sizeMiB: 320 });
    const b = boot({
      volumes: { ebs: { '/dev/sdf': 'ext', '/dev/sdg': 'xfs' } },
      mounts: { '/ext': { partition: '/dev/xvdf', erase_on_boot: false }, '/xfs': { partition: '/dev/xvdg', filesystem: 'xfs', erase_on_boot: false } },
    });
    await applyAgain(b);
    const made = await stat(join(root, 'mounts/xfs'));
    expect([made.uid, made.gid, made.mode & 0o777]).toEqual([999, 999, 0o755]); // mkfs.xfs has no root_owner: handed over once mounted
    await writeFile(join(root, 'mounts/xfs/kept'), 'x');
    const [ext1, xfs1] = [await sizeOf('ext'), await sizeOf('xfs')];
    expect(await mounted('xfs')).toMatchObject({ fsType: 'xfs' });
    await reboot();
    await cloud.ec2.resize(ext.volumeId, 128);
    await cloud.ec2.resize(xfs.volumeId, 640);
    await applyAgain(b);
    expect(await sizeOf('ext')).toBeGreaterThan(ext1 * 1.8);
    expect(await sizeOf('xfs')).toBeGreaterThan(xfs1 * 1.8);
    expect(await readFile(join(root, 'mounts/xfs/kept'), 'utf8')).toBe('x');
    const st = await stat(join(root, 'mounts/xfs'));
    expect([st.uid, st.gid]).toEqual([999, 999]); // set when it was formatted (mkfs.xfs has no root_owner)
  });

  it('erase_on_boot: true formats at every boot', async () => {
    await cloud.ec2.createVolume({ name: 'scratch' });
    const b = boot({ volumes: { ebs: { '/dev/sdf': 'scratch' } }, mounts: { '/scratch': { partition: '/dev/xvdf', erase_on_boot: true } } });
    await applyAgain(b);
    await writeFile(join(root, 'mounts/scratch/old'), 'x');
    await reboot();
    expect((await applyAgain(b)).note).toBe('/dev/sdf already there; /scratch formatted');
    await expect(stat(join(root, 'mounts/scratch/old'))).rejects.toThrow(/ENOENT/);
  });

  it('the Taupage:erase-on-boot=True tag formats once and is removed; the next boot keeps the data', async () => {
    const v = await cloud.ec2.createVolume({ name: 'restored' });
    const b = boot({ volumes: { ebs: { '/dev/sdf': 'restored' } }, mounts: { '/data': { partition: '/dev/xvdf' } } });
    await applyAgain(b);
    await writeFile(join(root, 'mounts/data/from-snapshot'), 'stale');
    await reboot();
    cloud.ec2.volumes.get(v.volumeId)!.tags.set(ERASE_TAG, 'True');
    cloud.ec2.calls.length = 0;
    expect((await applyAgain(b)).note).toBe('/dev/sdf already there; /data erased (tagged)');
    await expect(stat(join(root, 'mounts/data/from-snapshot'))).rejects.toThrow(/ENOENT/);
    expect(cloud.ec2.volumes.get(v.volumeId)!.tags.has(ERASE_TAG)).toBe(false);
    // The device was there already: EC2 says which volume is attached at /dev/xvdf, then its tag.
    expect(actions()).toEqual(['DescribeVolumes', 'DescribeTags', 'DeleteTags']);
    expect(cloud.ec2.calls[0]!.params).toMatchObject({ 'Filter.1.Name': 'attachment.instance-id', 'Filter.2.Name': 'attachment.device' });
    await writeFile(join(root, 'mounts/data/new'), 'kept');
    await reboot();
    expect((await applyAgain(b)).note).toBe('/dev/sdf already there; /data checked');
    expect(await readFile(join(root, 'mounts/data/new'), 'utf8')).toBe('kept');
  });

  it('the erase tag on a blank volume is removed too (left, it would erase the next boot)', async () => {
    const v = await cloud.ec2.createVolume({ name: 'fresh', tags: { [ERASE_TAG]: 'true' } });
    const b = boot({ volumes: { ebs: { '/dev/sdf': 'fresh' } }, mounts: { '/data': { partition: '/dev/xvdf' } } });
    expect((await applyAgain(b)).note).toBe('/dev/sdf attached; /data erased (tagged)');
    expect(cloud.ec2.volumes.get(v.volumeId)!.tags.has(ERASE_TAG)).toBe(false);
  });

  it('the erase tag is removed right after the format, before the mount: a run again after a failed removal formats only the empty file system', async () => {
    const v = await cloud.ec2.createVolume({ name: 'fresh', tags: { [ERASE_TAG]: 'true' } });
    const b = boot({ volumes: { ebs: { '/dev/sdf': 'fresh' } }, mounts: { '/data': { partition: '/dev/xvdf' } } });
    const real = blockDevices();
    let tagAtMount: boolean | undefined;
    const watching: BlockDevices = {
      ...real,
      mount: async (source, at, o) => {
        tagAtMount = cloud.ec2.volumes.get(v.volumeId)!.tags.has(ERASE_TAG);
        return real.mount(source, at, o);
      },
    };
    expect((await applyAgain(b, { ports: { blockDevices: watching } })).note).toBe('/dev/sdf attached; /data erased (tagged)');
    expect(tagAtMount).toBe(false);
  });

  it('a path already mounted with something else than the user data asks for is not reported as done', async () => {
    await mkdir(join(root, 'mounts/data'), { recursive: true });
    await run('mount', ['-t', 'tmpfs', 'other', join(root, 'mounts/data')]);
    await cloud.ec2.createVolume({ name: 'data' });
    const b = boot({ volumes: { ebs: { '/dev/sdf': 'data' } }, mounts: { '/data': { partition: '/dev/xvdf' } } });
    await expect(applyAgain(b)).rejects.toMatchObject({
      code: 'TPG_DISK_FAILED',
      message: `${join(root, 'mounts/data')} is already mounted, but with tmpfs from other, not ext4; nothing was mounted`,
    });
  });

  it('a path already mounted is left alone', async () => {
    await cloud.ec2.createVolume({ name: 'data' });
    const b = boot({ volumes: { ebs: { '/dev/sdf': 'data' } }, mounts: { '/data': { partition: '/dev/xvdf' } } });
    await applyAgain(b);
    await writeFile(join(root, 'mounts/data/x'), 'x');
    expect((await applyAgain(b)).note).toBe('/dev/sdf already there; /data left alone (already mounted)');
    expect((await mountsUnder(join(root, 'mounts/data'))).length).toBe(1);
    expect(await readFile(join(root, 'mounts/data/x'), 'utf8')).toBe('x');
  });

  it('tmpfs: with partition none or without a partition, with its options, owned by the application user', async () => {
    const b = boot({
      mounts: { '/cache': { filesystem: 'tmpfs' }, '/scratch': { partition: 'none', filesystem: 'tmpfs', options: 'size=1m,mode=0700' } },
    });
    expect((await applyAgain(b)).note).toBe('/cache tmpfs; /scratch tmpfs');
    expect(await mounted('cache')).toMatchObject({ fsType: 'tmpfs' });
    expect(await mounted('scratch')).toMatchObject({ fsType: 'tmpfs' });
    expect(await sizeOf('scratch')).toBe(1024 * 1024);
    const [cache, scratch] = [await stat(join(root, 'mounts/cache')), await stat(join(root, 'mounts/scratch'))];
    expect([cache.uid, cache.mode & 0o777, scratch.uid, scratch.mode & 0o777]).toEqual([999, 0o755, 999, 0o700]);
    expect(actions()).toEqual([]);
  });

  it('volumes and tmpfs are nodev,nosuid (a device node or set-user-id program the application leaves there serves nobody on the host), unless the options say dev or suid', async () => {
    await cloud.ec2.createVolume({ name: 'data' });
    const b = boot({
      volumes: { ebs: { '/dev/sdf': 'data' } },
      mounts: { '/data': { partition: '/dev/xvdf' }, '/cache': { filesystem: 'tmpfs' }, '/tools': { filesystem: 'tmpfs', options: 'suid,dev' } },
    });
    await applyAgain(b);
    const options = async (p: string) => (await blockDevices().mountOf(join(root, 'mounts', p))).options;
    for (const p of ['data', 'cache']) expect(await options(p)).toEqual(expect.arrayContaining(['nodev', 'nosuid']));
    expect(await options('tools')).not.toContain('nodev');
    expect(await options('tools')).not.toContain('nosuid');
    // What the kernel then does: the device node of a disk, made in the volume, does not open.
    await run('mknod', ['-m', '0666', join(root, 'mounts/data/disk'), 'b', '7', '0']);
    await expect(open(join(root, 'mounts/data/disk'), 'r')).rejects.toMatchObject({ code: 'EACCES' });
  });

  it('a mount without a partition: a directory of the root disk for the container, made once for the application user, nothing mounted', async () => {
    const b = boot({ mounts: { '/tmp': { erase_on_boot: false } } });
    expect((await applyAgain(b)).note).toBe('/tmp directory of the root disk');
    expect(await mounted('tmp')).toBeUndefined();
    const st = await stat(join(root, 'mounts/tmp'));
    expect([st.isDirectory(), st.uid, st.gid, st.mode & 0o777]).toEqual([true, 999, 999, 0o755]);
    // A reboot: the directory and what the application put there stay as they are.
    await writeFile(join(root, 'mounts/tmp/kept'), 'x');
    expect((await applyAgain(b)).note).toBe('/tmp directory of the root disk');
    expect(await readFile(join(root, 'mounts/tmp/kept'), 'utf8')).toBe('x');
    expect(actions()).toEqual([]);
  });

  it('a mount without a partition inside a volume the application owns: a link planted there is refused, its target untouched', async () => {
    const victim = await volumeWithPlantedLink('spool');
    const b = boot({ volumes: { ebs: { '/dev/sdf': 'data' } }, mounts: { '/data': { partition: '/dev/xvdf' }, '/data/spool': { erase_on_boot: false } } });
    await expect(applyAgain(b)).rejects.toMatchObject({ code: 'TPG_DISK_FAILED', message: expect.stringMatching(/is a symbolic link; refusing/) });
    expect((await stat(victim)).uid).toBe(0);
    expect(await readFile(join(victim, 'precious'), 'utf8')).toBe('x');
  });

  it('root: true makes new file systems root-owned', async () => {
    await cloud.ec2.createVolume({ name: 'data' });
    const b = boot({
      root: true,
      volumes: { ebs: { '/dev/sdf': 'data' } },
      mounts: { '/data': { partition: '/dev/xvdf', erase_on_boot: false }, '/tmp': { filesystem: 'tmpfs' } },
    });
    await applyAgain(b);
    expect((await stat(join(root, 'mounts/data'))).uid).toBe(0);
    expect((await stat(join(root, 'mounts/tmp'))).uid).toBe(0);
  });
});

describe('disks step: NVMe (Nitro) device names', () => {
  it('finds the volume by the serial of its NVMe device when the requested name does not exist', async () => {
    cloud.ec2.instance(INSTANCE_ID, { availabilityZone: AZ, dev: join(root, 'dev'), nvme: { sys: join(root, 'sys') } });
    await cloud.ec2.createVolume({ name: 'data' });
    const b = boot({ volumes: { ebs: { '/dev/sdf': 'data' } }, mounts: { '/data': { partition: '/dev/xvdf' } } });
    await applyAgain(b);
    await expect(stat(join(root, 'dev/xvdf'))).rejects.toThrow(/ENOENT/);
    expect(await mounted('data')).toMatchObject({ fsType: 'ext4' });
    expect(b.logs().some((l) => /^\/dev\/sdf is \/dev\/loop\d+$/.test(String(l.msg)))).toBe(true);
    // Reboot on Nitro: the name is still absent; the volume is found attached, by its serial.
    await writeFile(join(root, 'mounts/data/x'), 'x');
    await reboot();
    cloud.ec2.calls.length = 0;
    expect((await applyAgain(b)).note).toBe('/dev/sdf attached before; /data checked');
    expect(await readFile(join(root, 'mounts/data/x'), 'utf8')).toBe('x');
    expect(actions()).toEqual(['DescribeVolumes', 'DescribeTags']);
  });

  it('a mount of a volume attached outside volumes.ebs is found through EC2 and the NVMe lookup port (stand-in)', async () => {
    // No links at all: the instance's /dev is elsewhere, so only the lookup by volume id finds it.
    cloud.ec2.instance(INSTANCE_ID, { availabilityZone: AZ, dev: join(root, 'elsewhere') });
    const v = await cloud.ec2.createVolume({ name: 'data' });
    const a = await cloud.ec2.attachNow(v.volumeId, INSTANCE_ID, '/dev/sdh');
    const real = blockDevices({ dev: join(root, 'dev'), sys: join(root, 'sys') });
    const asked: string[] = [];
    const nvme: BlockDevices = {
      ...real,
      byEbsVolumeId: async (id) => {
        asked.push(id);
        return id === v.volumeId ? a.loop : undefined;
      },
    };
    const b = boot({ mounts: { '/data': { partition: '/dev/xvdh', erase_on_boot: false } } }, { ports: { blockDevices: nvme } });
    expect((await applyAgain(b)).note).toBe('/data formatted');
    expect(asked).toContain(v.volumeId);
    expect((await mounted('data'))?.source).toBe(a.loop);
    expect(actions()).toEqual(['DescribeVolumes']);
  });
});

describe('disks step: failures fail the step, name the volume and change nothing', () => {
  it('a device blkid finds nothing on but that cannot be read is not blank: never formatted', async () => {
    // A loop device with nothing attached: blkid -p says "nothing found" (exit 2), reads give 0 bytes.
    const empty = join(root, 'loop-unattached');
    await run('mknod', [empty, 'b', '7', '250']);
    await expect(blockDevices().content(empty)).rejects.toMatchObject({
      code: 'TPG_DISK_FAILED',
      message: `blkid found nothing on ${empty}, and ${empty} cannot be read: it is not treated as blank, nothing was formatted`,
    });
  });

  it('no volume by that name: TPG_VOLUME_NOT_FOUND after searching until the deadline', async () => {
    const b = boot({ volumes: { ebs: { '/dev/sdf': 'missing' } }, mounts: { '/data': { partition: '/dev/xvdf' } } }, { deadlineMs: 2_500 });
    const err = await applyAgain(b, { deadlineMs: 2_500 }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'TPG_VOLUME_NOT_FOUND',
      message: expect.stringMatching(
        new RegExp(`^there is no EBS volume named missing in ${AZ} \\(\\d+ attempts in \\d+\\.\\d s, stopped by the deadline\\)$`),
      ),
    });
    expect(actions().filter((a) => a === 'DescribeVolumes').length).toBeGreaterThan(1);
    expect(await mountsUnder(root)).toEqual([]);
  });

  it('a volume attached to another instance: TPG_VOLUME_IN_USE naming it', async () => {
    const v = await cloud.ec2.createVolume({ name: 'data', attachedTo: 'i-0old' });
    const b = boot({ volumes: { ebs: { '/dev/sdf': 'data' } } }, { deadlineMs: 1_500 });
    const err = await applyAgain(b, { deadlineMs: 1_500 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TPG_VOLUME_IN_USE' });
    expect((err as Error).message).toMatch(
      new RegExp(`^the EBS volume named data in ${AZ} is attached to i-0old \\(${v.volumeId}\\) \\(\\d+ attempts in \\d+\\.\\d s, stopped by the deadline\\)$`),
    );
  });

  it('once the old instance lets go, the volume is attached (the search retries)', async () => {
    const v = await cloud.ec2.createVolume({ name: 'data', attachedTo: 'i-0old' });
    setTimeout(() => void cloud.ec2.detach(v.volumeId), 1_000);
    const b = boot({ volumes: { ebs: { '/dev/sdf': 'data' } } }, { deadlineMs: 20_000 });
    expect((await applyAgain(b, { deadlineMs: 20_000 })).note).toBe('/dev/sdf attached');
    expect(b.logs().some((l) => l.level === 'warn' && /retrying/.test(String(l.msg)))).toBe(true);
  });

  it('attached, but no block device appears: TPG_VOLUME_TIMEOUT', async () => {
    await cloud.ec2.createVolume({ name: 'data' });
    cloud.ec2.delayAttach(60_000);
    const b = boot({ volumes: { ebs: { '/dev/sdf': 'data' } } }, { deadlineMs: 1_500 });
    const err = await applyAgain(b, { deadlineMs: 1_500 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TPG_VOLUME_TIMEOUT' });
    expect((err as Error).message).toMatch(/^\/dev\/sdf \(volume vol-[0-9a-f]+\) did not appear as a block device before the boot deadline$/);
  });

  it('a file system other than the user data says is neither formatted nor mounted', async () => {
    await cloud.ec2.createVolume({ name: 'data' });
    const first = boot({ volumes: { ebs: { '/dev/sdf': 'data' } }, mounts: { '/data': { partition: '/dev/xvdf', filesystem: 'ext4' } } });
    await applyAgain(first);
    await writeFile(join(root, 'mounts/data/keep'), 'x');
    await reboot();
    const b = boot({ volumes: { ebs: { '/dev/sdf': 'data' } }, mounts: { '/data': { partition: '/dev/xvdf', filesystem: 'xfs', erase_on_boot: false } } });
    const err = await applyAgain(b).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TPG_DISK_FAILED' });
    expect((err as Error).message).toMatch(/^\/data \(\/dev\/xvdf = \/dev\/loop\d+\) holds ext4, but the user data says xfs; it was not formatted$/);
    expect(await mounted('data')).toBeUndefined();
    await applyAgain(first);
    expect(await readFile(join(root, 'mounts/data/keep'), 'utf8')).toBe('x');
  });

  it('a device with a partition table is not formatted over', async () => {
    const v = await cloud.ec2.createVolume({ name: 'data' });
    await cloud.ec2.attachNow(v.volumeId, INSTANCE_ID, '/dev/sdf');
    // A DOS partition table with one Linux partition, as a disk partitioned elsewhere has.
    const mbr = Buffer.alloc(512);
    mbr.writeUInt32LE(0x12345678, 440);
    mbr[450] = 0x83;
    mbr.writeUInt32LE(2048, 454);
    mbr.writeUInt32LE(100_000, 458);
    mbr.writeUInt16LE(0xaa55, 510);
    const fh = await open(cloud.ec2.volumes.get(v.volumeId)!.file, 'r+');
    await fh.write(mbr, 0, 512, 0);
    await fh.close();
    const b = boot({ mounts: { '/data': { partition: '/dev/xvdf', erase_on_boot: true } } });
    const err = await applyAgain(b).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TPG_DISK_FAILED' });
    expect((err as Error).message).toMatch(/holds a dos partition table, not a file system; nothing was formatted or mounted$/);
  });

  it('a mount the kernel refuses fails the step with the mount error', async () => {
    await cloud.ec2.createVolume({ name: 'data' });
    const b = boot({ volumes: { ebs: { '/dev/sdf': 'data' } }, mounts: { '/data': { partition: '/dev/xvdf', options: 'no_such_option' } } });
    const err = await applyAgain(b).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TPG_DISK_FAILED' });
    expect((err as Error).message).toMatch(/^mount -t ext4 -o nodev,nosuid,no_such_option \/dev\/loop\d+ \S+\/mounts\/data failed \(exit 32\)/);
    expect(await mounted('data')).toBeUndefined();
  });
});

describe('disks step: root code against what the application can write', () => {
  it('refuses to mount through a symbolic link planted in a mounted volume', async () => {
    const victim = await volumeWithPlantedLink('cache');
    await reboot();
    const b = boot({ volumes: { ebs: { '/dev/sdf': 'data' } }, mounts: { '/data': { partition: '/dev/xvdf' }, '/data/cache': { filesystem: 'tmpfs' } } });
    const err = await applyAgain(b).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TPG_DISK_FAILED' });
    expect((err as Error).message).toBe(
      `${join(root, 'mounts/data/cache')} is a symbolic link; refusing to mount ${join(root, 'mounts/data/cache')} through it`,
    );
    expect(await mountsUnder(victim)).toEqual([]);
    expect(await readFile(join(victim, 'precious'), 'utf8')).toBe('x');
  });

  it('a mount point in a volume swapped for a link after it was checked: the mount never lands on the link target', async () => {
    // The application (owner of /data's root) swaps a name on the way between the step's check
    // of the mount point and the mount itself; deterministic: the swap runs as the mount is called.
    await cloud.ec2.createVolume({ name: 'data' });
    const victim = join(root, 'victim');
    await mkdir(join(victim, 'b'), { recursive: true });
    await writeFile(join(victim, 'precious'), 'x');
    await writeFile(join(victim, 'b', 'precious'), 'x');
    const real = blockDevices({ dev: join(root, 'dev'), sys: join(root, 'sys') });
    const swapOn = (name: string): BlockDevices => ({
      ...real,
      mount: async (source, at, o) => {
        if (o.type === 'tmpfs') {
          const swapped = join(root, 'mounts/data', name);
          await rename(swapped, `${swapped}.moved`);
          await symlink(victim, swapped);
        }
        return real.mount(source, at, o);
      },
    });
    const disks = (tmpfs: string) => ({
      volumes: { ebs: { '/dev/sdf': 'data' } },
      mounts: { '/data': { partition: '/dev/xvdf' }, [tmpfs]: { filesystem: 'tmpfs' } },
    });

    // The mount point itself.
    const itself = await applyAgain(boot(disks('/data/cache'), { ports: { blockDevices: swapOn('cache') } })).catch((e: unknown) => e);
    expect(itself).toMatchObject({
      code: 'TPG_DISK_FAILED',
      message: `${join(root, 'mounts/data/cache')} is a symbolic link; refusing to hand it to the application`,
    });
    expect(await mountsUnder(victim)).toEqual([]);
    expect(await readFile(join(victim, 'precious'), 'utf8')).toBe('x');

    // A directory above it, inside the volume: /data/a of /data/a/b.
    await reboot();
    const above = await applyAgain(boot(disks('/data/a/b'), { ports: { blockDevices: swapOn('a') } })).catch((e: unknown) => e);
    expect(above).toMatchObject({
      code: 'TPG_DISK_FAILED',
      message: `${join(root, 'mounts/data/a/b')} was moved or replaced while the boot mounted it; the file system went onto the directory that was there, not onto what the path names now`,
    });
    expect(await mountsUnder(victim)).toEqual([]);
    expect(await readFile(join(victim, 'b', 'precious'), 'utf8')).toBe('x');
    // It went onto the directory the step checked, which the swap moved inside the volume.
    expect(await mountsUnder(join(root, 'mounts/data/a.moved'))).toEqual([join(root, 'mounts/data/a.moved/b')]);
  });

  it('a new xfs whose mount point became a link by the time root hands its root to the application: refused, the target untouched', async () => {
    await cloud.ec2.createVolume({ name: 'xfs', sizeMiB: 320 }); // mkfs.xfs wants 300 MiB
    const victim = join(root, 'victim');
    await mkdir(victim);
    await chmod(victim, 0o700);
    const real = blockDevices({ dev: join(root, 'dev'), sys: join(root, 'sys') });
    // The application swaps the name between the mount and the hand-over (here: instead of the mount).
    const swapped: BlockDevices = {
      ...real,
      mount: async (source, at, o) => {
        if (o.type !== 'xfs') return real.mount(source, at, o);
        await rmdir(at.path);
        await symlink(victim, at.path);
      },
    };
    const b = boot(
      { volumes: { ebs: { '/dev/sdf': 'xfs' } }, mounts: { '/xfs': { partition: '/dev/xvdf', filesystem: 'xfs' } } },
      { ports: { blockDevices: swapped } },
    );
    const err = await applyAgain(b).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TPG_DISK_FAILED' });
    expect((err as Error).message).toBe(`${join(root, 'mounts/xfs')} is a symbolic link; refusing to hand it to the application`);
    const st = await stat(victim);
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([0, 0, 0o700]);
  });

  it('mount_custom_log: /var/log-custom exists, owned by the application user; a link there is refused, its target untouched', async () => {
    const b = boot({ mount_custom_log: true });
    expect((await applyAgain(b)).note).toBe(`${join(root, 'var/log-custom')} ready`);
    const st = await stat(join(root, 'var/log-custom'));
    expect([st.isDirectory(), st.uid, st.gid, st.mode & 0o777]).toEqual([true, 999, 999, 0o755]);

    await rm(join(root, 'var/log-custom'), { recursive: true });
    const victim = join(root, 'etc');
    await mkdir(victim);
    await symlink(victim, join(root, 'var/log-custom'));
    const err = await applyAgain(b).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TPG_DISK_FAILED' });
    expect((err as Error).message).toMatch(/var\/log-custom is a symbolic link; refusing to hand it to the application$/);
    expect((await stat(victim)).uid).toBe(0);
  });
});
