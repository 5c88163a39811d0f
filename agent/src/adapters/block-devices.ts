/*! The BlockDevices and Raid ports over the kernel's files and the standard tools: blkid,
 * mkfs.ext2/3/4 and mkfs.xfs, e2fsck and xfs_repair, resize2fs and xfs_growfs, mount, mdadm.
 *
 * `dev` and `sys` are where device nodes and sysfs are looked for (on an instance /dev and
 * /sys; tests put links to loop devices and a made-up sysfs tree under a scratch root). The
 * mount table is the kernel's (/proc/self/mountinfo): mounts are real wherever they are made.
 * Tools run without a shell, with a fixed PATH and C locale, and are killed when the boot's
 * signal aborts. A mount goes onto the directory the caller opened (its descriptor), not a path. */
import { open, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { AgentError } from '../lib/errors.js';
import { DIRECTORY_NO_FOLLOW } from '../lib/open-flags.js';
import { lastWords, runTool as run, ToolNotRun, type ToolResult } from '../lib/run-tool.js';
import type { BlockDevices, DeviceContent, MountOf, Mounted, Raid, ToolOptions } from '../ports/block-devices.js';

/** Run a tool; never throws for a non-zero exit (the caller decides), only when it cannot run. */
async function diskTool(tool: string, args: readonly string[], options: ToolOptions & { fds?: readonly number[] } = {}): Promise<ToolResult> {
  try {
    return await run(tool, args, { ...(options.signal ? { signal: options.signal } : {}), ...(options.fds ? { fds: options.fds } : {}) });
  } catch (e) {
    if (e instanceof ToolNotRun && e.reason === 'cancelled')
      throw new AgentError('TPG_CANCELLED', `${tool} ${args.join(' ')} was stopped: ${String(options.signal?.reason ?? 'cancelled')}`);
    throw new AgentError('TPG_DISK_FAILED', `cannot run ${tool}: ${e instanceof ToolNotRun ? e.why : String(e)}`, { cause: e, hint: `is ${tool} installed?` });
  }
}

async function must(
  tool: string,
  args: readonly string[],
  options: ToolOptions & { fds?: readonly number[]; shown?: readonly string[] },
  ok: (code: number) => boolean = (c) => c === 0,
): Promise<ToolResult> {
  const r = await diskTool(tool, args, options);
  if (!ok(r.code)) throw new AgentError('TPG_DISK_FAILED', `${tool} ${(options.shown ?? args).join(' ')} failed (exit ${r.code}): ${lastWords(r)}`);
  return r;
}

export interface BlockDevicesOptions {
  /** Device nodes (default /dev). */
  dev?: string;
  /** sysfs (default /sys). */
  sys?: string;
  /** The mount table (default /proc/self/mountinfo). */
  mountInfo?: string;
}

export function blockDevices(o: BlockDevicesOptions = {}): BlockDevices {
  const sys = o.sys ?? '/sys';
  const mountInfo = o.mountInfo ?? '/proc/self/mountinfo';

  const resolve = async (path: string): Promise<string | undefined> => {
    try {
      if (!(await stat(path)).isBlockDevice()) return undefined;
      return await realpath(path);
    } catch {
      return undefined;
    }
  };

  return {
    resolve,

    async holders(device) {
      const names = await readdir(join(sys, 'class', 'block', basename(device), 'holders')).catch(() => [] as string[]);
      // Named as mdadm knows them (the kernel's /dev), like the arrays of the user data.
      return names.filter((n) => /^md\d+$/.test(n)).map((n) => `/dev/${n}`);
    },

    async byEbsVolumeId(volumeId) {
      // An EBS NVMe controller's serial is the volume id without its dash: vol0123456789abcdef0.
      const serial = volumeId.replace(/^vol-/, 'vol');
      let names: string[];
      try {
        names = await readdir(join(sys, 'block'));
      } catch {
        return undefined;
      }
      for (const name of names.filter((n) => /^nvme\d+n\d+$/.test(n)).sort()) {
        const found = await readFile(join(sys, 'block', name, 'device', 'serial'), 'utf8').then(
          (s) => s.trim(),
          () => '',
        );
        if (found === serial) return resolve(join(o.dev ?? '/dev', name));
      }
      return undefined;
    },

    async content(device, options = {}) {
      const r = await diskTool('blkid', ['-p', '-o', 'export', device], options);
      // blkid also says "nothing found" (2) when it could not read the device at all; only a
      // device that reads is blank (and may be formatted).
      if (r.code === 2) return (await readsData(device)) ? { kind: 'blank' } : unreadable(device);
      if (r.code !== 0) throw new AgentError('TPG_DISK_FAILED', `blkid -p ${device} failed (exit ${r.code}): ${lastWords(r)}`);
      const fields = new Map(
        r.stdout
          .split('\n')
          .map((l) => l.split('='))
          .filter((kv) => kv.length >= 2)
          .map(([k, ...v]) => [k!, v.join('=')] as const),
      );
      const type = fields.get('TYPE');
      if (type && fields.get('USAGE') === 'filesystem') return { kind: 'filesystem', type } satisfies DeviceContent;
      if (fields.get('PTTYPE')) return { kind: 'other', type: `a ${fields.get('PTTYPE')} partition table` };
      return { kind: 'other', type: type ?? 'unknown signatures' };
    },

    async format(device, type, options = {}) {
      if (type === 'xfs') {
        await must('mkfs.xfs', ['-q', '-f', '-K', device], options);
        return;
      }
      const ext = ['nodiscard', ...(options.rootOwner ? [`root_owner=${options.rootOwner.uid}:${options.rootOwner.gid}`] : [])];
      await must(`mkfs.${type}`, ['-q', '-F', '-E', ext.join(','), device], options);
    },

    async check(device, type, options = {}) {
      if (type === 'xfs') {
        // 0: clean; 2: the log holds changes only a mount replays (the mount then repairs nothing).
        const r = await must('xfs_repair', [device], options, (c) => c === 0 || c === 2);
        return { repaired: false, ...(r.code === 2 ? { replayOnMount: true } : {}) };
      }
      // e2fsck: 0 clean, 1 errors corrected, 2 corrected (reboot advised for a mounted root), 4+ left uncorrected.
      const r = await must('e2fsck', ['-f', '-p', device], options, (c) => c < 4);
      return { repaired: r.code !== 0 };
    },

    async growUnmounted(device, type, options = {}) {
      if (type !== 'xfs') await must('resize2fs', [device], options);
    },

    async growMounted(mountPoint, type, options = {}) {
      if (type !== 'xfs') throw new AgentError('TPG_INTERNAL', `growMounted is for xfs; ${type} grows unmounted`);
      await must('xfs_growfs', [mountPoint], options);
    },

    async mount(source, at, o2) {
      // The mount point is the descriptor, handed to mount as its fd 3; --no-canonicalize keeps
      // mount from resolving /proc/self/fd/3 back to a path (which could be a link by then).
      const options = ['-t', o2.type, ...(o2.options ? ['-o', o2.options] : []), source];
      await must('mount', ['--no-canonicalize', ...options, '/proc/self/fd/3'], { ...o2, fds: [at.fd], shown: [...options, at.path] });
    },

    mountedAt: (mountPoint) => mountedIn(mountInfo, mountPoint),

    mountOf: (dir) => mountOf(mountInfo, dir),
  };
}

/** Whether the device's first 64 KiB read in full (an empty or failing device does not). */
async function readsData(device: string): Promise<boolean> {
  const fh = await open(device, 'r').catch(() => undefined);
  if (!fh) return false;
  try {
    const want = 64 * 1024;
    return (await fh.read(Buffer.alloc(want), 0, want, 0)).bytesRead === want;
  } catch {
    return false;
  } finally {
    await fh.close();
  }
}

function unreadable(device: string): never {
  throw new AgentError('TPG_DISK_FAILED', `blkid found nothing on ${device}, and ${device} cannot be read: it is not treated as blank, nothing was formatted`, {
    hint: 'check that the volume is attached and healthy (dmesg), then boot again',
  });
}

/** The mount a lookup of `dir` reaches: the kernel names it in the descriptor's fdinfo (mnt_id),
 * so a mount stacked over it or over a parent is the one found, as any reader's open would be. */
async function mountOf(mountInfo: string, dir: string): Promise<MountOf> {
  const fh = await open(dir, DIRECTORY_NO_FOLLOW);
  try {
    const id = /^mnt_id:\s*(\d+)$/m.exec(await readFile(`/proc/self/fdinfo/${fh.fd}`, 'utf8'))?.[1];
    for (const line of (await readFile(mountInfo, 'utf8')).split('\n')) {
      // id parent major:minor root mount-point options [optional...] - fstype source super-options
      const f = line.split(' ');
      if (id !== undefined && f[0] === id) return { mountPoint: unescapeMount(f[4] ?? ''), options: (f[5] ?? '').split(',') };
    }
    throw new AgentError('TPG_INTERNAL', `the mount of ${dir} (mnt_id ${id ?? 'unknown'}) is not in ${mountInfo}`);
  } finally {
    await fh.close();
  }
}

/** The mount at exactly `mountPoint` in a mountinfo file (the last, i.e. topmost, one). */
async function mountedIn(mountInfo: string, mountPoint: string): Promise<Mounted | undefined> {
  const text = await readFile(mountInfo, 'utf8');
  let found: Mounted | undefined;
  for (const line of text.split('\n')) {
    // id parent major:minor root mount-point options [optional...] - fstype source super-options
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const at = unescapeMount(left.split(' ')[4] ?? '');
    if (at !== mountPoint) continue;
    const [fsType = '', source = ''] = right.split(' ');
    found = { fsType, source: unescapeMount(source) };
  }
  return found;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** mdadm with the arguments given; the caller reads the exit code. */
export function mdadm(): Raid {
  return { mdadm: (args, options) => diskTool('mdadm', args, options) };
}
