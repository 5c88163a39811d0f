/*! Software RAID with mdadm: the exact commands, and which of them a boot runs (pure).
 *
 * An array that is active is left alone. Members the system assembled under another name (its
 * udev rules do, as volumes attach) are stopped and assembled under the name asked for. Otherwise,
 * when any member carries an md superblock the array exists and is assembled, never created again
 * (creating would overwrite its members' data); only when no member carries one is a new array
 * created. */

export interface MdadmCommands {
  /** Exit 0: the array is active. */
  detail: string[];
  /** Per member: exit 0 means it carries an md superblock. */
  examine: string[][];
  assemble: string[];
  create: string[];
}

export function mdadmCommands(a: { device: string; level: number; devices: readonly string[] }): MdadmCommands {
  return {
    detail: ['--detail', a.device],
    examine: a.devices.map((d) => ['--examine', d]),
    assemble: ['--assemble', a.device, ...a.devices],
    // --run: do not ask before creating (members may hold old signatures of their own).
    create: ['--create', a.device, '--run', `--level=${a.level}`, `--raid-devices=${a.devices.length}`, ...a.devices],
  };
}

interface RaidObserved {
  /** `mdadm --detail` succeeded. */
  active: boolean;
  /** Members whose `mdadm --examine` found a superblock. */
  withSuperblock: string[];
  /**
   * Arrays under other names that hold members already: the system's own udev rules assemble an
   * array as its members appear, under the name of the host that made it (/dev/md127 on another).
   */
  heldBy: string[];
}

/** The commands to run, in order. */
type RaidAction =
  | { action: 'keep'; reason: string }
  | { action: 'assemble'; args: string[][]; reason: string }
  | { action: 'create'; args: string[][]; reason: string };

export function decideRaid(c: MdadmCommands, observed: RaidObserved): RaidAction {
  if (observed.active) return { action: 'keep', reason: 'the array is already active' };
  if (observed.heldBy.length)
    return {
      action: 'assemble',
      // Not mounted yet (mounts come after): stopped, and assembled again under the name asked for.
      args: [...observed.heldBy.map((md) => ['--stop', md]), c.assemble],
      reason: `its members are assembled as ${observed.heldBy.join(', ')}`,
    };
  if (observed.withSuperblock.length)
    return {
      action: 'assemble',
      args: [c.assemble],
      reason: `${observed.withSuperblock.join(', ')} carr${observed.withSuperblock.length > 1 ? 'y' : 'ies'} an array`,
    };
  return { action: 'create', args: [c.create], reason: 'no member carries an array' };
}
