/*! sshd settings from the user data plus the hardening baseline, and which default-user keys go. */
import type { PlanInput, StepPlan } from '../step.js';

export interface SshPlan extends StepPlan {
  configFile: string;
  /** sshd_config lines in order ("Port 22"). */
  directives: string[];
  removeDefaultUserKeys: boolean;
  /** authorized_keys files of the base image's default users (EC2 key pair) removed at boot. */
  removeKeyFiles: string[];
}

/** The baseline every instance gets, whatever the user data says. */
export const SSH_HARDENING: Array<[string, string]> = [
  ['PasswordAuthentication', 'no'],
  ['KbdInteractiveAuthentication', 'no'],
  ['PermitEmptyPasswords', 'no'],
  ['PermitRootLogin', 'no'],
  ['X11Forwarding', 'no'],
  ['PermitUserEnvironment', 'no'],
  ['MaxAuthTries', '3'],
  ['LoginGraceTime', '30'],
];

export function planSsh({ settings: s, paths, config }: PlanInput): SshPlan {
  const directives = s.ssh_ports.map((p) => `Port ${p}`);
  if (s.ssh_gateway_ports) directives.push(`GatewayPorts ${s.ssh_gateway_ports}`);
  directives.push(...SSH_HARDENING.map(([k, v]) => `${k} ${v}`));
  // The keys Even grants are root's files outside the homes (access/apply.ts): tmpfs first (the
  // disk was full), then disk. sshd requires every directory above them to be root-owned and not
  // writable by others. For members of the granted group sshd reads only those, so a person
  // cannot add a key of their own in ~/.ssh or outlive a revoke with one.
  const evenKeys = `${sshdArg(`${paths.sshKeysRun}/%u`)} ${sshdArg(`${paths.sshKeys}/%u`)}`;
  directives.push(`AuthorizedKeysFile ${evenKeys} .ssh/authorized_keys`);
  // Last: a Match block runs to the end of the file.
  directives.push(`Match Group ${config.ssh.granted_group}`, `\tAuthorizedKeysFile ${evenKeys}`);
  const removeDefaultUserKeys = !s.keep_instance_users;
  return {
    configFile: paths.sshdConfig,
    directives,
    removeDefaultUserKeys,
    removeKeyFiles: removeDefaultUserKeys ? config.ssh.instance_users.map((u) => `${paths.home}/${u}/.ssh/authorized_keys`) : [],
  };
}

/** sshd_config takes double quotes around an argument with spaces. */
function sshdArg(v: string): string {
  return /\s/.test(v) ? `"${v}"` : v;
}

/** The drop-in file's text. */
export function renderSshdConfig(plan: SshPlan): string {
  return ['# Written by taupage at boot from the user data (ssh_ports, ssh_gateway_ports) and the hardening baseline.', ...plan.directives, ''].join('\n');
}
