// volumes.raid with mdadm. This machine's kernel has no md driver, so the proof is in two parts:
// the exact mdadm commands the step runs for each case (members are real loop devices attached
// by the local EC2; mdadm is a stand-in that records its arguments and answers as mdadm does),
// and one test with the real mdadm and real md arrays that runs where /proc/mdstat exists and
// reports itself skipped, with the reason, where it does not.
import { describe, it, expect, beforeEach } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { useVolumeLab } from '../../harness/volumes.js';
import { testBoot } from '../../harness/boot-context.js';
import { userData } from '../../harness/user-data.js';
import { mountsUnder } from '../../harness/mounts.js';
import { planDisks, type DisksPlan } from '../../../agent/src/steps/disks/plan.js';
import { applyDisks } from '../../../agent/src/steps/disks/apply.js';
import type { Raid } from '../../../agent/src/ports/block-devices.js';

const run = promisify(execFile);
const lab = useVolumeLab('raid');
const cloud = lab.cloud;
let root: string;

beforeEach(() => {
  root = lab.root;
});

/** mdadm as a stand-in: records each call, answers with `exit(args)`. */
function recordingMdadm(exit: (args: readonly string[]) => number): Raid & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    mdadm: async (args) => {
      calls.push([...args]);
      const code = exit(args);
      return { code, stdout: '', stderr: code ? `mdadm: ${args[0]} failed` : '' };
    },
  };
}

const RAID = { volumes: { ebs: { '/dev/sdb': 'vol-a', '/dev/sdc': 'vol-b' }, raid: { '/dev/md/data': { level: 1, devices: ['/dev/xvdb', '/dev/xvdc'] } } } };

async function raidBoot(mdadm: Raid) {
  await cloud.ec2.createVolume({ name: 'vol-a' });
  await cloud.ec2.createVolume({ name: 'vol-b' });
  const b = testBoot({
    userData: userData({ source: 'pierone.stups.zalan.do/team/my-app:1.0', ...RAID }),
    config: { root, aws: { endpoints: { ec2: cloud.ec2.url }, retry_base_ms: 5 } },
    ports: { raid: mdadm },
  });
  const plan = planDisks({ settings: b.settings, config: b.config, paths: b.paths }) as DisksPlan;
  return { b, plan, run: () => applyDisks(plan, b.ctx) };
}

describe('RAID: the mdadm commands per case', () => {
  it('the plan shows the commands with the names the user data gives', async () => {
    const { plan } = await raidBoot(recordingMdadm(() => 0));
    expect(plan.raid).toEqual([
      {
        device: '/dev/md/data',
        level: 1,
        devices: ['/dev/xvdb', '/dev/xvdc'],
        commands: {
          detail: ['--detail', '/dev/md/data'],
          examine: [
            ['--examine', '/dev/xvdb'],
            ['--examine', '/dev/xvdc'],
          ],
          assemble: ['--assemble', '/dev/md/data', '/dev/xvdb', '/dev/xvdc'],
          create: ['--create', '/dev/md/data', '--run', '--level=1', '--raid-devices=2', '/dev/xvdb', '/dev/xvdc'],
        },
      },
    ]);
  });

  it('an active array: mdadm --detail only, nothing else', async () => {
    const mdadm = recordingMdadm(() => 0);
    const { run: apply } = await raidBoot(mdadm);
    expect((await apply()).note).toBe('/dev/sdb attached; /dev/sdc attached; /dev/md/data active');
    expect(mdadm.calls).toEqual([['--detail', '/dev/md/data']]);
  });

  it('members carrying an array: examined, then assembled, never created', async () => {
    const mdadm = recordingMdadm((a) => (a[0] === '--detail' ? 1 : 0));
    const { run: apply } = await raidBoot(mdadm);
    expect((await apply()).note).toBe('/dev/sdb attached; /dev/sdc attached; /dev/md/data assembled');
    const [b, c] = [mdadm.calls[1]![1]!, mdadm.calls[2]![1]!];
    expect([b, c].every((d) => /^\/dev\/loop\d+$/.test(d))).toBe(true); // the block devices the volumes are
    expect(mdadm.calls).toEqual([
      ['--detail', '/dev/md/data'],
      ['--examine', b],
      ['--examine', c],
      ['--assemble', '/dev/md/data', b, c],
    ]);
  });

  it('one member carrying an array is enough to assemble (and a failed assemble is not followed by a create)', async () => {
    const mdadm = recordingMdadm((a) => (a[0] === '--detail' || a[0] === '--assemble' || (a[0] === '--examine' && mdadm.calls.length === 3) ? 1 : 0));
    const { run: apply } = await raidBoot(mdadm);
    const err = await apply().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TPG_DISK_FAILED' });
    expect((err as Error).message).toMatch(/^mdadm --assemble \/dev\/md\/data \/dev\/loop\d+ \/dev\/loop\d+ failed \(exit 1\)/);
    expect((err as { hint: string }).hint).toMatch(/it was not re-created/);
    expect(mdadm.calls.map((c) => c[0])).toEqual(['--detail', '--examine', '--examine', '--assemble']);
  });

  it('no member carrying an array: created with --run, the level and the member count', async () => {
    const mdadm = recordingMdadm((a) => (a[0] === '--create' ? 0 : 1));
    const { run: apply } = await raidBoot(mdadm);
    expect((await apply()).note).toBe('/dev/sdb attached; /dev/sdc attached; /dev/md/data created');
    const [b, c] = [mdadm.calls[1]![1]!, mdadm.calls[2]![1]!];
    expect(mdadm.calls).toEqual([
      ['--detail', '/dev/md/data'],
      ['--examine', b],
      ['--examine', c],
      ['--create', '/dev/md/data', '--run', '--level=1', '--raid-devices=2', b, c],
    ]);
  });

  it('members the system assembled under another name (udev, as they attached): that array is stopped and assembled as asked', async () => {
    const mdadm = recordingMdadm((a) => (a[0] === '--detail' ? 1 : 0));
    const { b, run: apply } = await raidBoot(mdadm);
    // What the kernel shows once /dev/md127 holds a device: /sys/class/block/<member>/holders/md127.
    const realHolders = b.ctx.ports.blockDevices.holders;
    b.ctx.ports.blockDevices.holders = async (device) => {
      await mkdir(join(root, 'sys/class/block', basename(device), 'holders/md127'), { recursive: true });
      return realHolders(device);
    };
    expect((await apply()).note).toBe('/dev/sdb attached; /dev/sdc attached; /dev/md/data assembled');
    const [m1, m2] = [mdadm.calls[1]![1]!, mdadm.calls[2]![1]!];
    expect(mdadm.calls).toEqual([
      ['--detail', '/dev/md/data'],
      ['--examine', m1],
      ['--examine', m2],
      ['--stop', '/dev/md127'],
      ['--assemble', '/dev/md/data', m1, m2],
    ]);
  });

  it('a member that never appears: TPG_VOLUME_TIMEOUT, and mdadm is never run', async () => {
    const mdadm = recordingMdadm(() => 0);
    const b = testBoot({
      userData: userData({
        source: 'pierone.stups.zalan.do/team/my-app:1.0',
        volumes: { raid: { '/dev/md/data': { level: 0, devices: ['/dev/md-x1', '/dev/md-x2'] } } },
      }),
      config: { root },
      ports: { raid: mdadm },
      deadlineMs: 800,
    });
    const plan = planDisks({ settings: b.settings, config: b.config, paths: b.paths }) as DisksPlan;
    await expect(applyDisks(plan, b.ctx)).rejects.toMatchObject({ code: 'TPG_VOLUME_TIMEOUT' });
    expect(mdadm.calls).toEqual([]);
  });
});

const noMd = !existsSync('/proc/mdstat');
const SKIP_REASON = 'this kernel has no md driver (/proc/mdstat is missing): real arrays cannot be made here; the commands are proven above';

describe('RAID with the real mdadm', () => {
  it(`creates a RAID1 of two attached volumes, mounts it, and after a reboot assembles it with the data${noMd ? ` [skipped: ${SKIP_REASON}]` : ''}`, async (t) => {
    if (noMd) t.skip(SKIP_REASON);
    const name = `tpg${randomBytes(3).toString('hex')}`;
    const md = `/dev/md/${name}`;
    await cloud.ec2.createVolume({ name: 'vol-a' });
    await cloud.ec2.createVolume({ name: 'vol-b' });
    // mdadm makes the array's node in the kernel's /dev; the agent's root sees it through a link.
    await mkdir(join(root, 'dev'), { recursive: true });
    await symlink('/dev/md', join(root, 'dev/md'));
    const b = testBoot({
      userData: userData({
        source: 'pierone.stups.zalan.do/team/my-app:1.0',
        volumes: { ebs: { '/dev/sdb': 'vol-a', '/dev/sdc': 'vol-b' }, raid: { [md]: { level: 1, devices: ['/dev/xvdb', '/dev/xvdc'] } } },
        mounts: { '/data': { partition: md, erase_on_boot: false } },
      }),
      config: { root, aws: { endpoints: { ec2: cloud.ec2.url }, retry_base_ms: 5 } },
    });
    const plan = planDisks({ settings: b.settings, config: b.config, paths: b.paths }) as DisksPlan;
    try {
      expect((await applyDisks(plan, b.ctx)).note).toBe(`/dev/sdb attached; /dev/sdc attached; ${md} created; /data formatted`);
      await writeFile(join(root, 'mounts/data/x'), 'x');
      for (const p of await mountsUnder(root)) await run('umount', [p]);
      await run('mdadm', ['--stop', md]);
      expect((await applyDisks(plan, b.context())).note).toBe(`/dev/sdb already there; /dev/sdc already there; ${md} assembled; /data checked`);
      expect(await readFile(join(root, 'mounts/data/x'), 'utf8')).toBe('x');
    } finally {
      for (const p of await mountsUnder(root)) await run('umount', [p]).catch(() => undefined);
      await run('mdadm', ['--stop', md]).catch(() => undefined);
    }
  });
});
