/*! User-data keys for the SSH daemon. */
import { t, INVALID, error } from '../../lib/schema/types.js';
import { portSpec } from '../../values/network-port.js';

const sshPort = portSpec.refine<number>((p, path, ctx) => {
  if (p.protocol === 'udp') {
    ctx.report(error(path, 'TPG_UD_PORT', 'SSH listens on TCP; remove /udp'));
    return INVALID;
  }
  return p.port;
});

export const sshKeys = {
  ssh_ports: t.list(sshPort, { minItems: 1, maxItems: 16, unique: true }).default([22]).describe('Ports sshd listens on.'),
  ssh_gateway_ports: t
    .enum(['yes', 'no', 'clientspecified'], { true: 'yes', false: 'no' })
    .describe('sshd GatewayPorts: whether remote port forwardings may bind to non-loopback addresses.'),
  keep_instance_users: t.boolean().default(false).describe("Keep the base image's default user's SSH keys (otherwise removed at boot)."),
};
