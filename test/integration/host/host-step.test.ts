// The host step: sysctl (a file under /etc/sysctl.d, and each parameter written to /proc/sys),
// the allow-listed sysfs setting, and nat_gateways (checked, not applied). The host stays
// untouched: parameters are applied under a scratch root's /proc/sys and /sys, and for real in a
// network namespace of their own (net.* parameters belong to the namespace).
import { describe, it, expect } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { scratchDir, scratchRoot } from '../../harness/scratch.js';
import { testBoot } from '../../harness/boot-context.js';
import { userData } from '../../harness/user-data.js';
import { REPO } from '../../harness/repo.js';
import { planHost, type HostPlan } from '../../../agent/src/steps/host/plan.js';
import { applyHost } from '../../../agent/src/steps/host/apply.js';
import { paths as pathsOf } from '../../../agent/src/config/paths.js';

const run = promisify(execFile);
const SOURCE = 'pierone.stups.zalan.do/team/my-app:1.0';
const SUBNET = { mac: '0a:1b:2c:3d:4e:5f', 'network/interfaces/macs/0a:1b:2c:3d:4e:5f/subnet-ipv4-cidr-block': '172.31.8.0/24' };

function hostBoot(root: string, fields: Record<string, unknown>, metadata: Record<string, string> = SUBNET) {
  const b = testBoot({
    userData: userData({ source: SOURCE, ...fields }),
    config: { root },
    metadata,
  });
  const plan = planHost({ settings: b.settings, config: b.config, paths: b.paths }) as HostPlan;
  return { b, plan, apply: () => applyHost(plan, b.ctx) };
}

/** A scratch /proc/sys and /sys with the files the kernel would have. */
async function kernelFiles(root: string, files: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), content);
  }
}

describe('host step under a scratch root', () => {
  it('writes /etc/sysctl.d/99-custom.conf and sets each parameter', async () => {
    const root = await scratchRoot();
    await kernelFiles(root, { 'proc/sys/fs/file-max': '9223372036854775807\n', 'proc/sys/net/ipv4/conf/eth0.100/forwarding': '0\n' });
    const { plan, apply } = hostBoot(root, { sysctl: { 'fs.file-max': 8192, 'net.ipv4.conf.eth0/100.forwarding': 1 } });
    expect(plan.sysctl!.entries.map((e) => e.file)).toEqual([join(root, 'proc/sys/fs/file-max'), join(root, 'proc/sys/net/ipv4/conf/eth0.100/forwarding')]);
    expect((await apply()).note).toBe('2 sysctl parameter(s) set');
    expect(await readFile(join(root, 'proc/sys/fs/file-max'), 'utf8')).toBe('8192\n');
    expect(await readFile(join(root, 'proc/sys/net/ipv4/conf/eth0.100/forwarding'), 'utf8')).toBe('1\n');
    const file = join(root, 'etc/sysctl.d/99-custom.conf');
    expect(await readFile(file, 'utf8')).toBe(
      "# Written by taupage at boot from the user data's sysctl; applied then, and by systemd-sysctl at the next boot.\nfs.file-max = 8192\nnet.ipv4.conf.eth0/100.forwarding = 1\n",
    );
    expect((await stat(file)).mode & 0o777).toBe(0o644);
  });

  it('a parameter this kernel does not have fails the step, naming it; the others are still set', async () => {
    const root = await scratchRoot();
    await kernelFiles(root, { 'proc/sys/fs/file-max': '1\n' });
    const { apply } = hostBoot(root, { sysctl: { 'fs.file-max': 8192, 'kernel.no_such_parameter': 1 } });
    const err = await apply().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TPG_HOST_FAILED', message: 'sysctl kernel.no_such_parameter = 1: this kernel has no such parameter' });
    expect(await readFile(join(root, 'proc/sys/fs/file-max'), 'utf8')).toBe('8192\n');
    // Never created: a missing parameter stays missing.
    await expect(stat(join(root, 'proc/sys/kernel/no_such_parameter'))).rejects.toThrow(/ENOENT/);
  });

  it('sets transparent huge pages through the allow-listed sysfs file', async () => {
    const root = await scratchRoot();
    await kernelFiles(root, { 'sys/kernel/mm/transparent_hugepage/enabled': 'always [madvise] never\n' });
    const { apply } = hostBoot(root, { sysfs: { '/sys/kernel/mm/transparent_hugepage/enabled': 'never' } });
    expect((await apply()).note).toBe('/sys/kernel/mm/transparent_hugepage/enabled = never');
    expect(await readFile(join(root, 'sys/kernel/mm/transparent_hugepage/enabled'), 'utf8')).toBe('never\n');
  });

  it('nat_gateways listing this instance subnet fails with TPG_NOT_APPLIED before anything is written', async () => {
    const root = await scratchRoot();
    await kernelFiles(root, { 'proc/sys/fs/file-max': '1\n' });
    const { apply } = hostBoot(root, { sysctl: { 'fs.file-max': 8192 }, nat_gateways: { '172.31.8.0/24': '172.31.8.10', '172.31.0.0/24': '172.31.0.10' } });
    const err = await apply().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TPG_NOT_APPLIED' });
    expect((err as Error).message).toBe(
      "nat_gateways routes this subnet's (172.31.8.0/24) outbound HTTPS through 172.31.8.10; this image does not set up that routing",
    );
    expect(await readFile(join(root, 'proc/sys/fs/file-max'), 'utf8')).toBe('1\n');
    await expect(stat(join(root, 'etc/sysctl.d/99-custom.conf'))).rejects.toThrow(/ENOENT/);
  });

  it('nat_gateways for other subnets only: nothing to route, as in the original', async () => {
    const root = await scratchRoot();
    const { apply } = hostBoot(root, { nat_gateways: { '172.31.0.0/24': '172.31.0.10' } });
    expect((await apply()).note).toBe("nat_gateways: this instance's subnet 172.31.8.0/24 is not listed; nothing to route");
  });
});

describe('host step against the real kernel, in a network namespace of its own', () => {
  it('sets net.* parameters in the namespace; the host keeps its values; refused and unknown parameters are named', async () => {
    const root = await scratchDir('netns');
    // The agent's /proc/sys is the kernel's; only net.* parameters are used (they are per namespace).
    await mkdir(join(root, 'proc'), { recursive: true });
    await symlink('/proc/sys', join(root, 'proc/sys'));
    const host = async () => (await readFile('/proc/sys/net/ipv4/tcp_keepalive_time', 'utf8')).trim();
    const before = await host();
    const want = before === '61' ? '62' : '61';
    const b = testBoot({
      userData: userData({
        source: SOURCE,
        sysctl: { 'net.ipv4.tcp_keepalive_time': Number(want), 'net.core.somaxconn': 'lots', 'net.ipv4.no_such_parameter': 1 },
      }),
      config: { root },
    });
    const plan = planHost({ settings: b.settings, config: b.config, paths: pathsOf(root) })!;
    const { stdout } = await run(
      'unshare',
      ['-n', '--', join(REPO, 'node_modules/.bin/tsx'), join(REPO, 'test/integration/host/apply-in-netns.ts'), JSON.stringify(plan)],
      {
        cwd: REPO,
      },
    );
    const inside = JSON.parse(stdout) as { outcome: { ok: boolean; code?: string; message?: string }; values: Record<string, string> };
    expect(inside.outcome).toEqual({
      ok: false,
      code: 'TPG_HOST_FAILED',
      message: 'sysctl net.core.somaxconn = lots: the kernel refused the value; sysctl net.ipv4.no_such_parameter = 1: this kernel has no such parameter',
    });
    expect(inside.values['net.ipv4.tcp_keepalive_time']).toBe(want);
    expect(await host()).toBe(before);
    expect(await readFile(join(root, 'etc/sysctl.d/99-custom.conf'), 'utf8')).toContain(`net.ipv4.tcp_keepalive_time = ${want}\n`);
  });
});
