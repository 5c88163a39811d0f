/*! LogDaemons over the real tools, each run with an argv (never a shell), a time bound and the
 * boot's AbortSignal: `rsyslogd -N1 -f FILE`, `logrotate --debug --state SCRATCH FILE`, the
 * configured command that restarts rsyslog (`systemctl restart rsyslog.service` in the image),
 * `systemctl show` and `systemctl restart UNIT`. */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentError } from '../lib/errors.js';
import type { LogDaemons } from '../ports/log-daemons.js';

export interface LogDaemonsOptions {
  rsyslogd: string;
  logrotate: string;
  restartRsyslog: string[];
  timeoutMs?: number;
}

const TOOL_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };

interface Ran {
  code: number;
  output: string;
}

function run(argv: string[], timeoutMs: number, signal?: AbortSignal): Promise<Ran> {
  const [tool, ...args] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    execFile(tool, args, { env: TOOL_ENV, timeout: timeoutMs, maxBuffer: 1024 * 1024, ...(signal ? { signal } : {}) }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        const why = err.name === 'AbortError' ? 'cancelled' : err.killed ? `did not end within ${timeoutMs} ms` : err.message;
        return reject(new AgentError('TPG_LOGGING_FAILED', `${argv.join(' ')}: ${why}`, { cause: err, retriable: false }));
      }
      resolve({ code: err ? Number(err.code) : 0, output: `${String(stdout)}${String(stderr)}` });
    });
  });
}

/** The lines that say what is wrong (rsyslog: "rsyslogd: ... error ...", logrotate: "error: ..."). */
function complaint(output: string, pattern: RegExp): string {
  const lines = output.split('\n').filter((l) => pattern.test(l));
  return (lines.length ? lines : output.split('\n').filter(Boolean).slice(-5)).map((l) => l.trim()).join('; ');
}

export function logDaemons(o: LogDaemonsOptions): LogDaemons {
  const timeoutMs = o.timeoutMs ?? 60_000;
  return {
    async checkRsyslog(mainConfig, signal) {
      const r = await run([o.rsyslogd, '-N1', '-f', mainConfig], timeoutMs, signal);
      return r.code === 0 ? undefined : complaint(r.output, /error|invalid|not known|cannot|could not/i) || `rsyslogd -N1 exited ${r.code}`;
    },
    async checkLogrotate(file, signal) {
      // A scratch state file: the check must not touch the real one.
      const dir = await mkdtemp(join(tmpdir(), 'taupage-logrotate-'));
      try {
        const r = await run([o.logrotate, '--debug', '--state', join(dir, 'state'), file], timeoutMs, signal);
        return r.code === 0 ? undefined : complaint(r.output, /^error:/) || `logrotate exited ${r.code}`;
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    async restartRsyslog(signal) {
      const r = await run(o.restartRsyslog, timeoutMs, signal);
      if (r.code !== 0)
        throw new AgentError('TPG_LOGGING_FAILED', `${o.restartRsyslog.join(' ')} exited ${r.code}: ${complaint(r.output, /./).slice(0, 500)}`, {
          hint: 'see journalctl -u rsyslog',
          retriable: false,
        });
    },
    async unitInstalled(unit, signal) {
      // LoadState=loaded for a unit file and for one systemd generates from /etc/init.d (the Scalyr
      // agent's package ships an init script); not-found otherwise, and no systemd is no unit.
      const r = await run(['systemctl', 'show', '--property=LoadState', '--value', unit], timeoutMs, signal);
      return r.code === 0 && r.output.trim() === 'loaded';
    },
    async restartUnit(unit, signal) {
      const r = await run(['systemctl', 'restart', unit], timeoutMs, signal);
      if (r.code !== 0)
        throw new AgentError('TPG_LOGGING_FAILED', `systemctl restart ${unit} exited ${r.code}: ${complaint(r.output, /./).slice(0, 500)}`, {
          hint: `see journalctl -u ${unit}`,
          retriable: false,
        });
    },
  };
}
