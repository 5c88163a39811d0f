/*! Host settings: the sysctl file and the kernel parameters it sets, sysfs writes, and the
 * original's outbound routing through NAT (checked, not applied: see apply.ts). */
import { join } from 'node:path';
import type { PlanInput, StepPlan } from '../step.js';

export interface SysctlEntry {
  key: string;
  value: string;
  /** The parameter's file under /proc/sys. */
  file: string;
}

export interface HostPlan extends StepPlan {
  sysctl?: { file: string; content: string; entries: SysctlEntry[] };
  sysfs: Array<{ path: string; file: string; value: string }>;
  natGateways: Array<{ subnet: string; gateway: string }>;
}

export function planHost({ settings: s, paths }: PlanInput): HostPlan | null {
  const entries = Object.entries(s.sysctl ?? {}).map(([key, v]): SysctlEntry => ({ key, value: String(v), file: join(paths.procSys, sysctlPath(key)) }));
  const sysfs = Object.entries(s.sysfs ?? {}).map(([path, value]) => ({ path, file: join(paths.sys, path.replace(/^\/sys\//, '')), value }));
  const natGateways = Object.entries(s.nat_gateways ?? {}).map(([subnet, gateway]) => ({ subnet, gateway }));
  if (!entries.length && !sysfs.length && !natGateways.length) return null;
  return {
    ...(entries.length ? { sysctl: { file: paths.sysctlFile, content: renderSysctl(entries), entries } } : {}),
    sysfs,
    natGateways,
    ...(natGateways.length
      ? {
          notes: [
            {
              level: 'warning' as const,
              message: `nat_gateways: this image does not route outbound HTTPS through a NAT address; a boot in ${natGateways.map((n) => n.subnet).join(' or ')} fails (TPG_NOT_APPLIED), elsewhere the key has no effect`,
            },
          ],
        }
      : {}),
  };
}

/**
 * A key's path under /proc/sys, as sysctl(8) reads it: written with dots, a slash stands for a
 * dot inside a name (net.ipv4.conf.eth0/100.forwarding); written with slashes, it is a path.
 */
export function sysctlPath(key: string): string {
  const first = /[./]/.exec(key)?.[0];
  if (first === '/') return key;
  return key.replace(/[./]/g, (c) => (c === '.' ? '/' : '.'));
}

export function renderSysctl(entries: readonly SysctlEntry[]): string {
  return `# Written by taupage at boot from the user data's sysctl; applied then, and by systemd-sysctl at the next boot.\n${entries
    .map((e) => `${e.key} = ${e.value}\n`)
    .join('')}`;
}
