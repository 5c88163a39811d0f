/*! Host settings: sysctl file, sysfs writes, outbound routing through NAT. */
import type { PlanInput, StepPlan } from '../step.js';

export interface HostPlan extends StepPlan {
  sysctl?: { file: string; entries: Array<[string, string]> };
  sysfs: Array<{ path: string; value: string }>;
  natGateways: Array<{ subnet: string; gateway: string }>;
}

export function planHost({ settings: s, paths }: PlanInput): HostPlan | null {
  const entries = Object.entries(s.sysctl ?? {}).map(([k, v]): [string, string] => [k, String(v)]);
  const sysfs = Object.entries(s.sysfs ?? {}).map(([path, value]) => ({ path, value }));
  const natGateways = Object.entries(s.nat_gateways ?? {}).map(([subnet, gateway]) => ({ subnet, gateway }));
  if (!entries.length && !sysfs.length && !natGateways.length) return null;
  return { ...(entries.length ? { sysctl: { file: paths.sysctlFile, entries } } : {}), sysfs, natGateways };
}
