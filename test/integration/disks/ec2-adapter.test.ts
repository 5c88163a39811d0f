// The EC2 adapter (the real @aws-sdk/client-ec2) against the local cloud's EC2: the four calls
// volumes need, how refusals and throttling come out, and retries bounded by a deadline.
import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import { lstat, readlink } from 'node:fs/promises';
import { Ec2Adapter } from '../../../agent/src/adapters/aws/ec2.js';
import { useVolumeLab, AZ } from '../../harness/volumes.js';
import { INSTANCE_ID } from '../../harness/boot-context.js';
import { deadlineIn } from '../../harness/deadline.js';

const lab = useVolumeLab('ec2');
const cloud = lab.cloud;
const adapter = (o: { attempts?: number } = {}) =>
  new Ec2Adapter({ region: 'eu-central-1', endpoint: cloud.ec2.url, timeoutMs: 2_000, attempts: o.attempts ?? 3, retryBaseMs: 1 });

describe('EC2 adapter against the local EC2', () => {
  it('finds volumes by Name tag in the availability zone, lowest id first, with state and attachments', async () => {
    const [a, b] = [await cloud.ec2.createVolume({ name: 'db' }), await cloud.ec2.createVolume({ name: 'db', attachedTo: 'i-0other' })];
    await cloud.ec2.createVolume({ name: 'db', availabilityZone: 'eu-central-1b' });
    await cloud.ec2.createVolume({ name: 'logs' });
    const ec2 = adapter();
    const found = await ec2.findByName('db', AZ);
    expect(found.map((v) => v.volumeId)).toEqual([a!.volumeId, b!.volumeId].sort());
    expect(found.find((v) => v.volumeId === b!.volumeId)).toMatchObject({ state: 'in-use', attachments: [{ instanceId: 'i-0other', device: '/dev/sdf' }] });
    expect(found.find((v) => v.volumeId === a!.volumeId)).toMatchObject({ state: 'available', attachments: [], availabilityZone: AZ });
    expect(await ec2.findByName('nothing', AZ)).toEqual([]);
    ec2.close();
  });

  it('attaches: the volume becomes a loop device at the Xen name, and attachedAt finds it by either name', async () => {
    const root = lab.root;
    const v = await cloud.ec2.createVolume({ name: 'db' });
    const ec2 = adapter();
    await ec2.attach(v.volumeId, INSTANCE_ID, '/dev/sdf');
    await expect.poll(() => cloud.ec2.volumes.get(v.volumeId)!.attachment?.state, { timeout: 5_000 }).toBe('attached');
    expect((await lstat(join(root, 'dev/xvdf'))).isSymbolicLink()).toBe(true);
    expect(await readlink(join(root, 'dev/xvdf'))).toMatch(/^\/dev\/loop\d+$/);
    expect((await ec2.attachedAt(INSTANCE_ID, '/dev/xvdf'))?.volumeId).toBe(v.volumeId);
    expect((await ec2.attachedAt(INSTANCE_ID, '/dev/sdf'))?.volumeId).toBe(v.volumeId);
    expect(await ec2.attachedAt(INSTANCE_ID, '/dev/sdg')).toBeUndefined();
    const err = await ec2.attach(v.volumeId, INSTANCE_ID, '/dev/sdg').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TPG_EC2_FAILED', details: { error: 'VolumeInUse' } });
    ec2.close();
  });

  it('reads and deletes one tag', async () => {
    const v = await cloud.ec2.createVolume({ name: 'db', tags: { 'Taupage:erase-on-boot': 'True', team: 'x' } });
    const ec2 = adapter();
    expect(await ec2.tag(v.volumeId, 'Taupage:erase-on-boot')).toBe('True');
    expect(await ec2.tag(v.volumeId, 'absent')).toBeUndefined();
    await ec2.deleteTag(v.volumeId, 'Taupage:erase-on-boot');
    expect(await ec2.tag(v.volumeId, 'Taupage:erase-on-boot')).toBeUndefined();
    expect([...cloud.ec2.volumes.get(v.volumeId)!.tags.keys()]).toEqual(['Name', 'team']);
    expect(cloud.ec2.calls.map((c) => c.action)).toEqual(['DescribeTags', 'DescribeTags', 'DeleteTags', 'DescribeTags']);
    ec2.close();
  });

  it('retries throttling until it passes; with a deadline, not a count', async () => {
    await cloud.ec2.createVolume({ name: 'db' });
    cloud.ec2.faults.throttleNext(6);
    const ec2 = adapter({ attempts: 2 });
    const before = cloud.ec2.requests.length;
    expect(await ec2.findByName('db', AZ, { signal: deadlineIn(10_000).signal })).toHaveLength(1);
    expect(cloud.ec2.requests.slice(before).map((r) => r.status)).toEqual([503, 503, 503, 503, 503, 503, 200]);
    ec2.close();
  });

  it('gives up at the deadline with TPG_EC2_UNAVAILABLE, and refuses UnauthorizedOperation at once with TPG_EC2_FAILED', async () => {
    cloud.ec2.faults.throttleNext(10_000);
    const ec2 = adapter();
    const started = Date.now();
    const slow = await ec2.findByName('db', AZ, { signal: deadlineIn(300).signal }).catch((e: unknown) => e);
    expect(slow).toMatchObject({ code: 'TPG_EC2_UNAVAILABLE' });
    expect(Date.now() - started).toBeLessThan(5_000);
    await cloud.ec2.faults.clear();
    cloud.ec2.faults.failNext(1, 403);
    const denied = await ec2.findByName('db', AZ, { signal: deadlineIn(10_000).signal }).catch((e: unknown) => e);
    expect(denied).toMatchObject({ code: 'TPG_EC2_FAILED', details: { error: 'UnauthorizedOperation', attempts: 1 } });
    expect((denied as { hint: string }).hint).toMatch(/ec2:DescribeVolumes/);
    ec2.close();
  });
});
