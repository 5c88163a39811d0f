/*! Send one audit line to syslog (facility authpriv, tag taupage-ssh), so it leaves the host with
 * the rest of the auth log.
 *
 * Node cannot speak to a datagram Unix socket (/dev/log), so this runs util-linux `logger`
 * (always present on Debian) with an argv, never a shell. The socket is a setting so tests point
 * it at their own rsyslogd. A datagram socket confirms nothing beyond "handed over", so the
 * chained file, written first, is the record of truth and this copy is best effort. */
import { execFile } from 'node:child_process';

export interface SyslogOptions {
  socket: string;
  tag?: string;
  /** authpriv.notice for granted and revoked, authpriv.warning for refused and failed. */
  severity: 'notice' | 'warning';
  timeoutMs?: number;
  /** Path of logger(1). */
  logger?: string;
}

export function sendToSyslog(line: string, options: SyslogOptions): Promise<void> {
  const args = [
    '--socket-errors=on',
    '--socket',
    options.socket,
    '--tag',
    options.tag ?? 'taupage-ssh',
    `--id=${process.pid}`,
    '--priority',
    `authpriv.${options.severity}`,
    '--size',
    '8192',
    '--',
    line,
  ];
  return new Promise((resolve, reject) => {
    execFile(options.logger ?? 'logger', args, { timeout: options.timeoutMs ?? 5_000, env: { PATH: '/usr/bin:/bin' } }, (err, _out, stderr) => {
      if (err) reject(new Error(`syslog ${options.socket}: ${String(stderr).trim() || err.message}`));
      else resolve();
    });
  });
}
