/*! Volumes to attach, arrays to assemble and filesystems to mount, in that order. */
import type { PlanInput, StepPlan } from '../step.js';

export interface MountPlan {
  path: string;
  hostPath: string;
  partition?: string;
  filesystem: string;
  /** always: format every boot; never: keep data; if-tagged: format once when the volume says so. */
  erase: 'always' | 'never' | 'if-tagged';
  options?: string;
}

export interface DisksPlan extends StepPlan {
  ebs: Array<{ device: string; nameTag: string }>;
  raid: Array<{ device: string; level: number; devices: string[] }>;
  mounts: MountPlan[];
}

export function planDisks({ settings: s, paths }: PlanInput): DisksPlan | null {
  const ebs = Object.entries(s.volumes?.ebs ?? {}).map(([device, nameTag]) => ({ device, nameTag }));
  const raid = Object.entries(s.volumes?.raid ?? {}).map(([device, r]) => ({ device, level: r.level, devices: r.devices }));
  const mounts = Object.entries(s.mounts ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(
      ([path, m]): MountPlan => ({
        path,
        hostPath: `${paths.mounts}${path}`,
        ...(m.partition ? { partition: m.partition } : {}),
        filesystem: m.filesystem,
        erase: m.filesystem === 'tmpfs' ? 'always' : m.erase_on_boot === true ? 'always' : m.erase_on_boot === false ? 'never' : 'if-tagged',
        ...(m.options ? { options: m.options } : {}),
      }),
    );
  if (!ebs.length && !raid.length && !mounts.length) return null;
  return { ebs, raid, mounts };
}
