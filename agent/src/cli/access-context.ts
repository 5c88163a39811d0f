/*! Wire the SSH access commands (ssh-hook, ssh expire) to the real system: agent config, local
 * accounts, the audit log under paths(root), syslog through logger(1), and Even loaded only when
 * a grant needs it (so a refusal loads no HTTP client). */
import { loadConfig } from '../config/load.js';
import { realClock } from '../lib/clock.js';
import { linuxAccounts } from '../adapters/linux-accounts.js';
import { SshAuditLog } from '../audit/ssh-audit-log.js';
import { sendToSyslog } from '../audit/syslog.js';
import { readInstanceId } from '../access/instance-id.js';
import { hop, resolveHost } from '../access/remote-host.js';
import type { AccessContext } from '../access/context.js';
import type { Io } from './io.js';
import type { Paths } from '../config/paths.js';

export function auditLogFor(paths: Paths): SshAuditLog {
  return new SshAuditLog({ file: paths.sshAuditLog, spill: paths.sshAuditSpill, head: paths.sshAuditHead });
}

export async function accessContext(io: Io): Promise<AccessContext> {
  const { config, paths } = await loadConfig({ env: io.env });
  let instanceId: Promise<string> | undefined;
  const ssh = config.ssh;
  return {
    config,
    paths,
    clock: realClock,
    accounts: linuxAccounts(),
    audit: auditLogFor(paths),
    syslog: (line, severity, options) => sendToSyslog(line, { socket: ssh.audit_syslog_socket, severity, ...options }),
    instanceId: () => (instanceId ??= readInstanceId([paths.resultFile, paths.statusFile])),
    even: async () => (await import('../adapters/even.js')).evenClient({ url: ssh.even_url ?? '', timeoutMs: ssh.request_timeout_ms, attempts: ssh.attempts }),
    resolve: resolveHost,
    hop: (address, words) => hop(address, words, { port: ssh.remote_host_port, timeoutMs: 30_000 }),
    warn: (text) => io.err(`taupage: warning: ${text}\n`),
  };
}
