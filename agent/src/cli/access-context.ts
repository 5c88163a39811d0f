/*! Wire the SSH access commands (ssh-service, ssh expire) to the real system: agent config, local
 * accounts, the audit log under paths(root), syslog through logger(1), and Even loaded only when
 * a grant needs it (so `ssh expire` loads no HTTP client). The adapters come from adapters/index.ts. */
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { realClock } from '../lib/clock.js';
import { realPorts } from '../adapters/index.js';
import { SshAuditLog } from '../audit/ssh-audit-log.js';
import { sendToSyslog } from '../audit/syslog.js';
import { readInstanceId } from '../access/instance-id.js';
import { hop, resolveHost } from '../access/remote-host.js';
import type { AccessContext } from '../access/context.js';
import type { AccessService } from '../ports/access-service.js';
import type { Io } from './io.js';
import type { Paths } from '../config/paths.js';
import type { Logger } from '../lib/log.js';

export function auditLogFor(paths: Paths): SshAuditLog {
  return new SshAuditLog({ file: paths.sshAuditLog, spill: paths.sshAuditSpill, head: paths.sshAuditHead });
}

export async function accessContext(io: Io): Promise<AccessContext> {
  return contextFor(await loadConfig({ env: io.env }), io);
}

/** `log`: where the adapters log their retries (the SSH service's log); default: nowhere. */
export function contextFor({ config, paths }: Pick<LoadedConfig, 'config' | 'paths'>, io: Pick<Io, 'err'>, log?: Logger): AccessContext {
  // Kept once known; until the boot has written it (the service may start first), read again.
  let instanceId: string | undefined;
  let even: Promise<AccessService> | undefined;
  const ssh = config.ssh;
  const ports = realPorts({ config, ...(log ? { log } : {}) });
  const accessService = ports.accessService();
  return {
    config,
    paths,
    clock: realClock,
    accounts: ports.accounts(),
    audit: auditLogFor(paths),
    syslog: (line, severity) => sendToSyslog(line, { socket: ssh.audit_syslog_socket, severity }),
    instanceId: async () => {
      if (instanceId) return instanceId;
      const id = await readInstanceId([paths.resultFile, paths.statusFile]);
      if (id !== 'unknown') instanceId = id;
      return id;
    },
    even: () => (even ??= Promise.resolve(accessService.warm?.()).then(() => accessService)),
    resolve: resolveHost,
    hop: (address, words, agentSocket) =>
      hop(address, words, { port: ssh.remote_host_port, timeoutMs: 30_000, knownHosts: ssh.remote_host_known_hosts, ...(agentSocket ? { agentSocket } : {}) }),
    warn: (text) => io.err(`taupage: warning: ${text}\n`),
  };
}
