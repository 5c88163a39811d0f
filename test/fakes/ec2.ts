/*! A fake Amazon EC2 speaking the EC2 query protocol (form-encoded POST, XML answers) for the
 * four calls volumes need: DescribeVolumes, AttachVolume, DescribeTags, DeleteTags. Errors come
 * as EC2 sends them (`<Response><Errors><Error><Code>`), so the real @aws-sdk/client-ec2 runs
 * unchanged against it.
 *
 * Its volumes are real: each is a sparse file, and attaching one makes it a loop device
 * (`losetup`, as root) that appears where the kernel would show it to the instance registered
 * with `instance()`: on a Xen instance a link `<dev>/xvdX` (the kernel names /dev/sdX so), on a
 * Nitro instance a link `<dev>/nvmeNn1` plus `<sys>/block/nvmeNn1/device/serial` carrying the
 * volume id, as the NVMe driver shows an EBS volume. Everything it made is undone by close(). */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startFakeServer, sigv4Scope, type FakeRequest, type FakeResponse, type FakeServer } from './http-fake.js';
import { xmlEscape } from './cloudformation.js';

const run = promisify(execFile);
const NS = 'http://ec2.amazonaws.com/doc/2016-11-15/';

export interface FakeAttachment {
  instanceId: string;
  device: string;
  state: 'attaching' | 'attached';
  /** The loop device backing it (only for instances registered here). */
  loop?: string;
  /** Links and sysfs entries made for it. */
  made: string[];
}

export interface FakeVolume {
  volumeId: string;
  availabilityZone: string;
  sizeMiB: number;
  file: string;
  tags: Map<string, string>;
  attachment?: FakeAttachment;
}

export interface FakeInstanceSpec {
  availabilityZone: string;
  /** Where its device links go (the instance's /dev, e.g. <scratch root>/dev). */
  dev: string;
  /** Nitro: the volume shows as an NVMe device (link under `dev`, serial under `sys`). */
  nvme?: { sys: string };
}

export interface RecordedCall {
  action: string;
  params: Record<string, string>;
  accessKeyId?: string;
}

export interface Ec2Options {
  port?: number;
  host?: string;
  /** Where volume files live (default: a temp dir of its own). */
  dataDir?: string;
  /** How long an attach stays `attaching` before its device appears (default 50 ms). */
  attachDelayMs?: number;
}

export interface FakeEc2 extends FakeServer {
  volumes: Map<string, FakeVolume>;
  calls: RecordedCall[];
  /** From now on an attach stays `attaching` this long before its device appears. */
  delayAttach(ms: number): void;
  /** A new, blank (sparse) volume; `attachedTo` marks it attached to some other instance (no device). */
  createVolume(spec: { name?: string; sizeMiB?: number; availabilityZone?: string; tags?: Record<string, string>; attachedTo?: string }): Promise<FakeVolume>;
  /** Where instance `id` sees its devices; attaches to unregistered instances are refused. */
  instance(id: string, spec: FakeInstanceSpec): void;
  /** Attach now, as a block device mapping or an attach made before the boot does. */
  attachNow(volumeId: string, instanceId: string, device: string): Promise<FakeAttachment>;
  /** Make a volume larger (the device grows; the file system on it does not). */
  resize(volumeId: string, sizeMiB: number): Promise<void>;
  /** Detach: the loop device and its links go. */
  detach(volumeId: string): Promise<void>;
  /** Detach everything and forget calls and volumes (between tests). */
  reset(): Promise<void>;
}

const DEVICE = /^\/dev\/(sd|xvd)([a-z]{1,2})$/;

export async function startEc2(options: Ec2Options = {}): Promise<FakeEc2> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'tpg-ec2-')));
  await mkdir(dataDir, { recursive: true });
  const volumes = new Map<string, FakeVolume>();
  const instances = new Map<string, FakeInstanceSpec>();
  const calls: RecordedCall[] = [];
  let nvmeIndex = 1;

  const attachDevice = async (v: FakeVolume, instanceId: string, device: string): Promise<FakeAttachment> => {
    const spec = instances.get(instanceId);
    const a: FakeAttachment = { instanceId, device, state: 'attaching', made: [] };
    v.attachment = a;
    if (!spec) return a;
    const { stdout } = await run('losetup', ['--find', '--show', v.file]);
    a.loop = stdout.trim();
    await mkdir(spec.dev, { recursive: true });
    if (spec.nvme) {
      const name = `nvme${nvmeIndex++}n1`;
      const deviceDir = join(spec.nvme.sys, 'block', name, 'device');
      await mkdir(deviceDir, { recursive: true });
      // The NVMe controller's serial: the volume id without its dash, padded to 20 characters.
      await writeFile(join(deviceDir, 'serial'), `${v.volumeId.replace('-', '').padEnd(20)}\n`);
      await symlink(a.loop, join(spec.dev, name));
      a.made.push(join(spec.nvme.sys, 'block', name), join(spec.dev, name));
    } else {
      // A Xen kernel shows /dev/sdf as /dev/xvdf.
      const link = join(spec.dev, device.replace(DEVICE, 'xvd$2').replace(/^\/dev\//, ''));
      await symlink(a.loop, link);
      a.made.push(link);
    }
    a.state = 'attached';
    return a;
  };

  const detachDevice = async (v: FakeVolume) => {
    const a = v.attachment;
    v.attachment = undefined;
    if (!a) return;
    for (const p of a.made) await rm(p, { recursive: true, force: true });
    if (a.loop) await run('losetup', ['--detach', a.loop]).catch(() => undefined);
  };

  const describeVolume = (v: FakeVolume): string => {
    const a = v.attachment;
    return `<item><volumeId>${v.volumeId}</volumeId><size>${Math.max(1, Math.ceil(v.sizeMiB / 1024))}</size><snapshotId/><availabilityZone>${v.availabilityZone}</availabilityZone><status>${a ? 'in-use' : 'available'}</status><createTime>2026-01-01T00:00:00.000Z</createTime><attachmentSet>${
      a
        ? `<item><volumeId>${v.volumeId}</volumeId><instanceId>${a.instanceId}</instanceId><device>${xmlEscape(a.device)}</device><status>${a.state}</status><attachTime>2026-01-01T00:00:00.000Z</attachTime><deleteOnTermination>false</deleteOnTermination></item>`
        : ''
    }</attachmentSet><tagSet>${[...v.tags].map(([k, val]) => `<item><key>${xmlEscape(k)}</key><value>${xmlEscape(val)}</value></item>`).join('')}</tagSet><volumeType>gp3</volumeType><encrypted>true</encrypted></item>`;
  };

  const matches = (v: FakeVolume, filters: Map<string, string[]>, ids: string[]): boolean => {
    if (ids.length && !ids.includes(v.volumeId)) return false;
    for (const [name, values] of filters) {
      const have = (x: string | undefined) => x !== undefined && values.includes(x);
      if (name.startsWith('tag:')) {
        if (!have(v.tags.get(name.slice(4)))) return false;
      } else if (name === 'availability-zone') {
        if (!have(v.availabilityZone)) return false;
      } else if (name === 'status') {
        if (!have(v.attachment ? 'in-use' : 'available')) return false;
      } else if (name === 'volume-id') {
        if (!have(v.volumeId)) return false;
      } else if (name === 'attachment.instance-id') {
        if (!have(v.attachment?.instanceId)) return false;
      } else if (name === 'attachment.device') {
        if (!have(v.attachment?.device)) return false;
      } else throw new Ec2Error('InvalidParameterValue', `The filter '${name}' is invalid`);
    }
    return true;
  };

  const handle = async (req: FakeRequest): Promise<FakeResponse> => {
    if (req.method !== 'POST') return errorXml(400, 'InvalidAction', 'the query protocol needs POST');
    const form = new URLSearchParams(req.body.toString('utf8'));
    const scope = sigv4Scope(req.headers);
    if (!scope) return errorXml(401, 'AuthFailure', 'AWS was not able to validate the provided access credentials');
    const params = Object.fromEntries(form);
    const action = form.get('Action') ?? '';
    calls.push({ action, params, accessKeyId: scope.accessKeyId });
    try {
      switch (action) {
        case 'DescribeVolumes': {
          const found = [...volumes.values()].filter((v) => matches(v, filters(form), list(form, 'VolumeId')));
          return ok(action, `<volumeSet>${found.map(describeVolume).join('')}</volumeSet>`);
        }
        case 'AttachVolume': {
          const volumeId = form.get('VolumeId') ?? '';
          const instanceId = form.get('InstanceId') ?? '';
          const device = form.get('Device') ?? '';
          const v = volumes.get(volumeId);
          if (!v) throw new Ec2Error('InvalidVolume.NotFound', `The volume '${volumeId}' does not exist.`);
          const inst = instances.get(instanceId);
          if (!inst) throw new Ec2Error('InvalidInstanceID.NotFound', `The instance ID '${instanceId}' does not exist`);
          if (!DEVICE.test(device))
            throw new Ec2Error('InvalidParameterValue', `Value (${device}) for parameter device is invalid. ${device} is not a valid EBS device name.`);
          if (v.attachment) throw new Ec2Error('VolumeInUse', `${volumeId} is already attached to an instance`);
          if (v.availabilityZone !== inst.availabilityZone)
            throw new Ec2Error('InvalidVolume.ZoneMismatch', `The volume '${volumeId}' is not in the same availability zone as instance '${instanceId}'`);
          const twin = device.replace(DEVICE, '$2');
          if ([...volumes.values()].some((o) => o.attachment?.instanceId === instanceId && o.attachment.device.replace(DEVICE, '$2') === twin))
            throw new Ec2Error('InvalidParameterValue', `Attachment point ${device} is already in use`);
          const a: FakeAttachment = { instanceId, device, state: 'attaching', made: [] };
          v.attachment = a;
          // The device shows up a little later, as on EC2.
          setTimeout(() => {
            if (v.attachment !== a) return;
            attachDevice(v, instanceId, device).catch((e: unknown) => process.stderr.write(`fake ec2: attach failed: ${(e as Error).stack}\n`));
          }, state.attachDelayMs).unref();
          return ok(
            action,
            `<volumeId>${volumeId}</volumeId><instanceId>${instanceId}</instanceId><device>${xmlEscape(device)}</device><status>attaching</status><attachTime>2026-01-01T00:00:00.000Z</attachTime>`,
          );
        }
        case 'DescribeTags': {
          const f = filters(form);
          const items: string[] = [];
          for (const v of volumes.values()) {
            if (f.has('resource-id') && !f.get('resource-id')!.includes(v.volumeId)) continue;
            if (f.has('resource-type') && !f.get('resource-type')!.includes('volume')) continue;
            for (const [k, val] of v.tags) {
              if (f.has('key') && !f.get('key')!.includes(k)) continue;
              items.push(
                `<item><resourceId>${v.volumeId}</resourceId><resourceType>volume</resourceType><key>${xmlEscape(k)}</key><value>${xmlEscape(val)}</value></item>`,
              );
            }
          }
          return ok(action, `<tagSet>${items.join('')}</tagSet>`);
        }
        case 'DeleteTags': {
          const resources = list(form, 'ResourceId');
          const keys = indexed(form, 'Tag').map((t) => t.get('Key') ?? '');
          for (const id of resources) {
            const v = volumes.get(id);
            if (!v) throw new Ec2Error('InvalidVolume.NotFound', `The volume '${id}' does not exist.`);
            for (const k of keys) v.tags.delete(k);
          }
          return ok(action, '<return>true</return>');
        }
        default:
          return errorXml(400, 'InvalidAction', `The action ${action} is not valid for this web service.`);
      }
    } catch (e) {
      if (e instanceof Ec2Error) return errorXml(400, e.code, e.message);
      throw e;
    }
  };

  const server = await startFakeServer(
    {
      name: 'ec2',
      handle,
      throttled: () => errorXml(503, 'RequestLimitExceeded', 'Request limit exceeded.'),
      error: (status) =>
        status >= 500
          ? errorXml(status, 'InternalError', 'An internal error has occurred')
          : errorXml(status, 'UnauthorizedOperation', 'You are not authorized to perform this operation.'),
    },
    { ...(options.port !== undefined ? { port: options.port } : {}), ...(options.host ? { host: options.host } : {}) },
  );

  const state = { attachDelayMs: options.attachDelayMs ?? 50 };
  const detachAll = async () => {
    for (const v of volumes.values()) await detachDevice(v);
  };
  const closeServer = server.close;

  return Object.assign(server, {
    volumes,
    calls,
    delayAttach(ms: number) {
      state.attachDelayMs = ms;
    },
    async createVolume(spec: Parameters<FakeEc2['createVolume']>[0]) {
      const volumeId = `vol-${randomBytes(9).toString('hex').slice(0, 17)}`;
      const file = join(dataDir, `${volumeId}.img`);
      const sizeMiB = spec.sizeMiB ?? 64;
      await writeFile(file, '');
      await truncate(file, sizeMiB * 1024 * 1024);
      const v: FakeVolume = {
        volumeId,
        availabilityZone: spec.availabilityZone ?? 'eu-central-1a',
        sizeMiB,
        file,
        tags: new Map(Object.entries({ ...(spec.name ? { Name: spec.name } : {}), ...spec.tags })),
      };
      if (spec.attachedTo) v.attachment = { instanceId: spec.attachedTo, device: '/dev/sdf', state: 'attached', made: [] };
      volumes.set(volumeId, v);
      return v;
    },
    instance(id: string, spec: FakeInstanceSpec) {
      instances.set(id, spec);
    },
    async attachNow(volumeId: string, instanceId: string, device: string) {
      const v = volumes.get(volumeId);
      if (!v) throw new Error(`no volume ${volumeId}`);
      return attachDevice(v, instanceId, device);
    },
    async resize(volumeId: string, sizeMiB: number) {
      const v = volumes.get(volumeId)!;
      v.sizeMiB = sizeMiB;
      await truncate(v.file, sizeMiB * 1024 * 1024);
      if (v.attachment?.loop) await run('losetup', ['--set-capacity', v.attachment.loop]);
    },
    async detach(volumeId: string) {
      const v = volumes.get(volumeId);
      if (v) await detachDevice(v);
    },
    async reset() {
      await detachAll();
      for (const v of volumes.values()) await rm(v.file, { force: true });
      volumes.clear();
      instances.clear();
      calls.length = 0;
      state.attachDelayMs = options.attachDelayMs ?? 50;
    },
    close: async () => {
      await detachAll();
      await closeServer();
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
      else for (const v of volumes.values()) await rm(v.file, { force: true });
    },
  }) as FakeEc2;
}

class Ec2Error extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Filter.N.Name / Filter.N.Value.M → name → values. */
function filters(form: URLSearchParams): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of indexed(form, 'Filter')) {
    const name = f.get('Name');
    if (!name) continue;
    out.set(
      name,
      [...f.entries()].filter(([k]) => /^Value\.\d+$/.test(k)).map(([, v]) => v),
    );
  }
  return out;
}

/** Prefix.N.Field=value → one map per N. */
function indexed(form: URLSearchParams, prefix: string): Array<Map<string, string>> {
  const byIndex = new Map<number, Map<string, string>>();
  for (const [k, v] of form) {
    const m = new RegExp(`^${prefix}\\.(\\d+)\\.(.+)$`).exec(k);
    if (!m) continue;
    const i = Number(m[1]);
    if (!byIndex.has(i)) byIndex.set(i, new Map());
    byIndex.get(i)!.set(m[2]!, v);
  }
  return [...byIndex.entries()].sort(([a], [b]) => a - b).map(([, m]) => m);
}

/** Prefix.N=value → values. */
function list(form: URLSearchParams, prefix: string): string[] {
  return [...form].filter(([k]) => new RegExp(`^${prefix}\\.\\d+$`).test(k)).map(([, v]) => v);
}

function ok(action: string, inner: string): FakeResponse {
  return {
    status: 200,
    headers: { 'content-type': 'text/xml;charset=UTF-8' },
    body: `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${NS}"><requestId>${randomUUID()}</requestId>${inner}</${action}Response>`,
  };
}

function errorXml(status: number, code: string, message: string): FakeResponse {
  return {
    status,
    headers: { 'content-type': 'text/xml;charset=UTF-8' },
    body: `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`,
  };
}
