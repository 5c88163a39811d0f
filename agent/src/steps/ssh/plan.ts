/*! sshd settings from the user data plus the hardening baseline. */
import type { PlanInput, StepPlan } from '../../engine/step.js';

export interface SshPlan extends StepPlan {
  configFile: string;
  /** sshd_config lines in order ("Port 22"). */
  directives: string[];
  removeDefaultUserKeys: boolean;
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

export function planSsh({ settings: s, paths }: PlanInput): SshPlan {
  const directives = s.ssh_ports.map((p) => `Port ${p}`);
  if (s.ssh_gateway_ports) directives.push(`GatewayPorts ${s.ssh_gateway_ports}`);
  directives.push(...SSH_HARDENING.map(([k, v]) => `${k} ${v}`));
  return { configFile: paths.sshdConfig, directives, removeDefaultUserKeys: !s.keep_instance_users };
}
