/*! LogDaemons over the real tools, each run with an argv (never a shell), a time bound and the
 * boot's AbortSignal: `rsyslogd -N1 -f FILE`, `logrotate --debug --state SCRATCH FILE`, the
 * configured command that restarts rsyslog (`systemctl restart rsyslog.service` in the image),
 * the one that restarts the custom log reader (`systemctl restart taupage-custom-logs.service`),
 * `systemctl show` and `systemctl restart UNIT`. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentError } from '../lib/errors.js';
import { runTool, ToolNotRun } from '../lib/run-tool.js';
import type { LogDaemons } from '../ports/log-daemons.js';

export interface LogDaemonsOptions {
  rsyslogd: string;
  logrotate: string;
  restartRsyslog: string[];
  /** The command that restarts the custom log reader (`systemctl restart taupage-custom-logs.service`). */
  restartCustomLogReader: string[];
  timeoutMs?: number;
}

interface Ran {
  code: number;
  output: string;
}

async function run(argv: string[], timeoutMs: number, signal?: AbortSignal): Promise<Ran> {
  const [tool, ...args] = argv as [string, ...string[]];
  try {
    const r = await runTool(tool, args, { timeoutMs, maxBuffer: 1024 * 1024, ...(signal ? { signal } : {}) });
    return { code: r.code, output: `${r.stdout}${r.stderr}` };
  } catch (e) {
    const why = e instanceof ToolNotRun ? e.why : String(e);
    throw new AgentError('TPG_LOGGING_FAILED', `${argv.join(' ')}: ${why}`, { cause: e, retriable: false });
  }
}

/** The lines that say what is wrong (rsyslog: "rsyslogd: ... error ...", logrotate: "error: ..."). */
function complaint(output: string, pattern: RegExp): string {
  const lines = output.split('\n').filter((l) => pattern.test(l));
  return (lines.length ? lines : output.split('\n').filter(Boolean).slice(-5)).map((l) => l.trim()).join('; ');
}

export function logDaemons(o: LogDaemonsOptions): LogDaemons {
  const timeoutMs = o.timeoutMs ?? 60_000;
  const restart = async (argv: string[], hint: string, signal?: AbortSignal) => {
    const r = await run(argv, timeoutMs, signal);
    if (r.code !== 0)
      throw new AgentError('TPG_LOGGING_FAILED', `${argv.join(' ')} exited ${r.code}: ${complaint(r.output, /./).slice(0, 500)}`, { hint, retriable: false });
  };
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
    restartRsyslog: (signal) => restart(o.restartRsyslog, 'see journalctl -u rsyslog', signal),
    restartCustomLogReader: (signal) => restart(o.restartCustomLogReader, 'see journalctl -u taupage-custom-logs', signal),
    async unitInstalled(unit, signal) {
      // LoadState=loaded for a unit file and for one systemd generates from /etc/init.d (the Scalyr
      // agent's package ships an init script); not-found otherwise, and no systemd is no unit.
      const r = await run(['systemctl', 'show', '--property=LoadState', '--value', unit], timeoutMs, signal);
      return r.code === 0 && r.output.trim() === 'loaded';
    },
    restartUnit: (unit, signal) => restart(['systemctl', 'restart', unit], `see journalctl -u ${unit}`, signal),
  };
}
