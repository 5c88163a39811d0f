/*! Send one audit line to syslog (facility authpriv, tag taupage-ssh), so it leaves the host with
 * the rest of the auth log.
 *
 * Node cannot speak to a datagram Unix socket (/dev/log), so this runs util-linux `logger`
 * (always present on Debian) with an argv, never a shell. The socket is a setting so tests point
 * it at their own rsyslogd. A datagram socket confirms nothing beyond "handed over", so the
 * chained file, written first, is the record of truth and this copy is best effort. */
import { spawn } from 'node:child_process';

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
    // No pipes: logger's own complaint goes straight to our stderr (the service's log).
    const child = spawn(options.logger ?? 'logger', args, { stdio: ['ignore', 'ignore', 'inherit'], env: { PATH: '/usr/bin:/bin' } });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 5_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`syslog ${options.socket}: ${e.message}`));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`syslog ${options.socket}: logger ${signal ? `was killed (${signal})` : `exited ${code}`}`));
    });
  });
}
