/*! Whole boots of the built agent for a stateful application: the local EC2 attaches its volume
 * as a real loop device, the boot formats and mounts it, the application container (real Docker)
 * writes to it, a reboot keeps what it wrote, and a mount that fails fails the boot before any
 * container exists. The step's own cases are in test/integration/disks. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { chmod, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { lockApp } from '../harness/app-lock.js';
import { DEMO_PORT } from '../fakes/demo-image.js';
import { agentSettings, execInApp, inspectApp, removeApp, startWorld, type Instance, type World } from '../harness/world.js';
import { freePort } from '../harness/net.js';
import { userData } from '../harness/user-data.js';
import { stepOf } from '../harness/boot.js';
import { mountsUnder } from '../harness/mounts.js';
import { waitFor } from '../harness/wait.js';

const run = promisify(execFile);
const NOTIFY = { stack: 'my-stack', resource: 'AppServerGroup' };

let world: World;
let unlock: () => Promise<void>;

beforeAll(async () => {
  unlock = await lockApp();
  world = await startWorld();
  await removeApp(world.docker);
  await world.image('app:1.0');
});

afterAll(async () => {
  await world?.close();
  await unlock?.();
});

/** The instance's devices appear under its root, as the local EC2 attaches them. */
function register(i: Instance): void {
  const { instanceId, availabilityZone } = world.cloud.imds.state.identity;
  world.cloud.ec2.instance(instanceId, { availabilityZone, dev: join(i.root, 'dev') });
}

/** An application user this machine has (nobody:nogroup; the image's is 999): logrotate rotates
 * /var/log-custom as its owner. */
const AS_NOBODY = () => ({ agent: { ...agentSettings(world), application_user: { uid: 65534, gid: 65534 } } });
/** A scratch instance reachable as / is (the application's user rotates /var/log-custom). */
async function newInstance(): Promise<Instance> {
  const i = await world.instance(AS_NOBODY());
  await chmod(i.root, 0o755);
  return i;
}

describe.sequential('a stateful application: its volume attached, mounted and kept', () => {
  let instance: Instance;
  let port: number;
  const volumes = (over: Record<string, unknown> = {}) =>
    userData({
      source: world.source('app:1.0'),
      ports: { [port]: DEMO_PORT },
      health_check_path: '/health',
      notify_cfn: NOTIFY,
      volumes: { ebs: { '/dev/sdf': 'orders-db' } },
      mounts: {
        '/data': { partition: '/dev/xvdf', erase_on_boot: false },
        '/scratch': { partition: 'none', filesystem: 'tmpfs', options: 'size=4m' },
        // No partition: a directory of the root disk, as the original gave it (a warning says so).
        '/spool': { erase_on_boot: false },
      },
      mount_custom_log: true,
      // The custom logs shipped: the reader (scripts/lib/local-rsyslog reader, as nobody) reads them.
      logging: { rsyslog_host: '127.0.0.1', rsyslog_port: Number(new URL(world.syslogAddress).port), rsyslog_protocol: 'udp' },
      ...over,
    });

  it('boots: the volume is attached, formatted (blank), mounted, and the application writes to it', async () => {
    port = await freePort();
    instance = await newInstance();
    register(instance);
    await world.cloud.ec2.createVolume({ name: 'orders-db', sizeMiB: 64 });
    world.cloud.imds.setUserData(volumes());
    const boot = await instance.taupage('boot');
    expect(boot.stderr).toMatch(/succeeded/);
    expect(boot.code).toBe(0);
    const status = await instance.status();
    expect(stepOf(status, 'disks')).toMatchObject({
      outcome: 'success',
      note: `/dev/sdf attached; /data formatted; /scratch tmpfs; /spool directory of the root disk; ${join(instance.root, 'var/log-custom')} ready`,
    });
    expect(status.keys?.applied).toEqual(expect.arrayContaining(['mount_custom_log', 'mounts', 'volumes']));
    expect(world.cloud.cloudformation.signals.at(-1)).toMatchObject({ status: 'SUCCESS' });

    // In the container, as its user: /data is the volume, /scratch the tmpfs, /var/log the custom log directory.
    const inApp = await execInApp(world.docker, [
      '/bin/busybox',
      'sh',
      '-c',
      'echo order-1 > /data/orders && echo line > /var/log/app.log && echo queued > /spool/job && /bin/busybox grep -E " /(data|scratch|var/log) " /proc/mounts',
    ]);
    expect(inApp.code).toBe(0);
    expect(inApp.stdout).toMatch(/^\/dev\/loop\d+ \/data ext4 /m);
    expect(inApp.stdout).toMatch(/^tmpfs \/scratch tmpfs .*size=4096k/m);
    expect(await readFile(join(instance.root, 'mounts/data/orders'), 'utf8')).toBe('order-1\n');
    expect(await readFile(join(instance.root, 'var/log-custom/app.log'), 'utf8')).toBe('line\n');
    await waitFor('the custom log line at the log server', () => world.syslogLines.some((l) => / customlog: line$/.test(l)));
    expect(await readFile(join(instance.root, 'mounts/spool/job'), 'utf8')).toBe('queued\n');
  });

  it('reboot: the volume keeps what the application wrote; the container sees it again', async () => {
    await world.docker.getContainer('taupageapp').stop({ t: 1 });
    for (const p of await mountsUnder(instance.root)) await run('umount', [p]);
    await instance.reboot();
    const calls = world.cloud.ec2.calls.length;
    const boot = await instance.taupage('boot');
    expect(boot.code).toBe(0);
    expect(stepOf(await instance.status(), 'disks')!.note).toMatch(/^\/dev\/sdf already there; \/data checked; \/scratch tmpfs; /);
    expect(world.cloud.ec2.calls.slice(calls).map((c) => c.action)).toEqual([]); // attached already, erase_on_boot false: EC2 not asked
    const inApp = await execInApp(world.docker, ['/bin/busybox', 'cat', '/data/orders']);
    expect(inApp).toMatchObject({ code: 0, stdout: 'order-1\n' });
    expect((await instance.status()).facts).toMatchObject({ container: 'reused', signal: 'SUCCESS' });
  });

  it('a mount that fails: the boot fails and signals FAILURE, and no container is created', async () => {
    await removeApp(world.docker);
    world.cloud.cloudformation.signals.length = 0;
    const i = await newInstance();
    register(i);
    await world.cloud.ec2.createVolume({ name: 'broken-db' });
    world.cloud.imds.setUserData(
      volumes({ volumes: { ebs: { '/dev/sdg': 'broken-db' } }, mounts: { '/data': { partition: '/dev/xvdg', options: 'no_such_option' } } }),
    );
    const boot = await i.taupage('boot');
    expect(boot.code).toBe(1);
    expect(boot.stderr).toMatch(/step disks failed: mount -t ext4 -o nodev,nosuid,no_such_option .* \(TPG_DISK_FAILED; CloudFormation signalled FAILURE\)/);
    const status = await i.status();
    expect(stepOf(status, 'disks')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_DISK_FAILED' });
    expect(stepOf(status, 'container')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_DEPENDENCY_FAILED' });
    expect(await inspectApp(world.docker)).toBeUndefined();
    expect(world.cloud.cloudformation.signals).toMatchObject([{ status: 'FAILURE' }]);
  });
});
