/*! A real rsyslogd for a scratch root, configured as Debian's /etc/rsyslog.conf is (imuxsock
 * loaded, a work directory, the drop-ins included, then syslog and auth.log: scripts/lib/local-rsyslog
 * config), with its system socket at <root>/dev/log instead of the machine's. The logging step's drop-in goes into
 * <root>/etc/rsyslog.d; `logDaemons()` is the step's port with restartRsyslog restarting this
 * rsyslogd (as `systemctl restart rsyslog` does in the image) and the real checks.
 *
 * The custom log reader (taupage-custom-logs.service in the image) is an rsyslogd of its own,
 * started by the port's restartCustomLogReader as `readerUser` (the unit's User=), with its work
 * directory made for it as the unit's StateDirectory= is.
 *
 * Both run in the foreground (-n) as children of the test, so they are waited for, never left
 * to PID 1. Stopped after the test file (cleanup.ts). */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync } from 'node:fs';
import { chown, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterFile } from './cleanup.js';
import { waitFor } from './wait.js';
import { REPO } from './repo.js';
import { logDaemons as realLogDaemons } from '../../agent/src/adapters/log-daemons.js';
import { paths as pathsFor } from '../../agent/src/config/paths.js';
import type { LogDaemons } from '../../agent/src/ports/log-daemons.js';

export interface TestRsyslog {
  root: string;
  /** The system socket (what /dev/log is on an instance): logger -u <this>. */
  systemSocket: string;
  syslog: string;
  authLog: string;
  applicationLog: string;
  /** The step's port: real rsyslogd -N1 and logrotate checks, restarts of this rsyslogd and of the reader. */
  logDaemons: LogDaemons & { restarts: number; readerRestarts: number; unitRestarts: string[]; installedUnits: Set<string> };
  /** The custom log reader: whether it runs, and what it wrote to stderr (imfile's complaints). */
  reader: { running(): boolean; output(): string };
  start(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
  running(): boolean;
  /** What rsyslogd wrote to stderr (its own complaints). */
  output(): string;
  /** Lines of a file under the root (empty when it does not exist yet). */
  lines(file: string): Promise<string[]>;
}

const running = new Set<TestRsyslog>();
const readers = new Set<() => Promise<void>>();
async function stopAll(): Promise<void> {
  await Promise.all([...readers].map((stop) => stop()));
  readers.clear();
  await Promise.all([...running].map((r) => r.stop()));
}

/** rsyslogd for a scratch root: `config`, `restart` (the stand-in for systemctl restart rsyslog), `stop`. */
export const LOCAL_RSYSLOG = join(REPO, 'scripts/lib/local-rsyslog');

/** Debian 12's main configuration under `root`, written by the script the demo uses too. */
export function writeDebianLikeConfig(root: string): void {
  execFileSync(LOCAL_RSYSLOG, ['config', root]);
}

const instanceRoots = new Set<string>();
/** nobody:nogroup: an account this machine has (the image's reader runs as application, 999:999). */
const NOBODY = { uid: 65534, gid: 65534 };

/** rsyslog for a whole boot in a scratch root (the built agent's or an in-process one): Debian's
 * main configuration there, and the agent config's `logging` settings that make the logging step
 * restart an rsyslogd of that root through local-rsyslog (it runs in the background, as under
 * systemd), and the custom log reader through it too, as `readerUser`. Stopped after the test file,
 * or by stopInstanceRsyslogs(). */
export function instanceRsyslog(root: string, readerUser = NOBODY): { restart_rsyslog: string[]; restart_custom_log_reader: string[] } {
  if (!existsSync(join(root, 'etc/rsyslog.conf'))) writeDebianLikeConfig(root);
  instanceRoots.add(root);
  afterFile(stopInstanceRsyslogs);
  return {
    restart_rsyslog: [LOCAL_RSYSLOG, 'restart', root],
    restart_custom_log_reader: [LOCAL_RSYSLOG, 'reader', root, `${readerUser.uid}:${readerUser.gid}`],
  };
}

export function stopInstanceRsyslogs(): void {
  for (const root of instanceRoots) execFileSync(LOCAL_RSYSLOG, ['stop', root]);
  instanceRoots.clear();
}

/** Whether the process has an inotify watch (imfile's, once it watches the custom log directory). */
async function watching(pid: number): Promise<boolean> {
  const dir = `/proc/${pid}/fdinfo`;
  for (const fd of await readdir(dir).catch(() => [])) if (/^inotify wd:/m.test(await readFile(join(dir, fd), 'utf8').catch(() => ''))) return true;
  return false;
}

export async function testRsyslog(root: string, options: { readerUser?: { uid: number; gid: number } } = {}): Promise<TestRsyslog> {
  const p = pathsFor(root);
  const readerUser = options.readerUser ?? NOBODY;
  let reader: ChildProcess | undefined;
  let readerExited: Promise<void> | undefined;
  let readerStderr = '';
  const stopReader = async () => {
    if (!reader) return;
    reader.kill('SIGTERM');
    await readerExited;
    reader = undefined;
  };
  for (const d of [join(root, 'dev'), join(root, 'etc/rsyslog.d'), join(root, 'var/spool/rsyslog'), p.varLog, p.logrotateDir])
    await mkdir(d, { recursive: true });
  writeDebianLikeConfig(root);
  const pidFile = join(root, 'run/rsyslogd.pid');
  let child: ChildProcess | undefined;
  let exited: Promise<void> | undefined;
  let stderr = '';
  const real = realLogDaemons({ rsyslogd: 'rsyslogd', logrotate: 'logrotate', restartRsyslog: ['false'], restartCustomLogReader: ['false'] });
  const isSocket = (path: string) => {
    try {
      return lstatSync(path).isSocket();
    } catch {
      return false;
    }
  };

  const r: TestRsyslog = {
    root,
    systemSocket: join(root, 'dev/log'),
    syslog: join(p.varLog, 'syslog'),
    authLog: join(p.varLog, 'auth.log'),
    applicationLog: p.applicationLog,
    logDaemons: {
      restarts: 0,
      readerRestarts: 0,
      unitRestarts: [],
      /** Units this instance "has installed" (none by default, like the image and the Scalyr agent). */
      installedUnits: new Set<string>(),
      unitInstalled: async (unit) => r.logDaemons.installedUnits.has(unit),
      checkRsyslog: (file, signal) => real.checkRsyslog(file, signal),
      checkLogrotate: (file, signal) => real.checkLogrotate(file, signal),
      async restartRsyslog() {
        r.logDaemons.restarts++;
        await r.restart();
      },
      async restartUnit(unit) {
        r.logDaemons.unitRestarts.push(unit);
      },
      // As `systemctl restart taupage-custom-logs.service`: stopped, and started again when its
      // configuration is there (the unit's ConditionPathExists=), as its user.
      async restartCustomLogReader() {
        r.logDaemons.readerRestarts++;
        await stopReader();
        if (!existsSync(p.customLogReaderConf)) return;
        await mkdir(p.customLogReaderState, { recursive: true, mode: 0o700 });
        await chown(p.customLogReaderState, readerUser.uid, readerUser.gid);
        readerStderr = '';
        const c = spawn('rsyslogd', ['-n', '-iNONE', '-f', p.customLogReaderConf], {
          uid: readerUser.uid,
          gid: readerUser.gid,
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        reader = c;
        c.stderr!.on('data', (d) => (readerStderr += d));
        readerExited = new Promise((resolve) => c.once('exit', () => resolve()));
        readers.add(stopReader);
        afterFile(stopAll);
        // Like Type=notify: back once it runs, here once imfile watches.
        await waitFor(`the custom log reader under ${root} (stderr: ${readerStderr})`, async () => {
          if (c.exitCode !== null) throw new Error(`the custom log reader exited ${c.exitCode}: ${readerStderr}`);
          return watching(c.pid!);
        });
      },
    },
    reader: {
      running: () => reader !== undefined && reader.exitCode === null,
      output: () => readerStderr,
    },
    async start() {
      await mkdir(join(root, 'run'), { recursive: true });
      // Like systemd's Type=notify: back once rsyslog has its sockets (the drop-in's too). They
      // are removed first, so their existence says this rsyslogd made them.
      const dropIn = existsSync(p.rsyslogDropIn) ? await readFile(p.rsyslogDropIn, 'utf8') : '';
      const sockets = [r.systemSocket, ...[p.applicationLogSocket, p.customLogSocket].filter((s) => dropIn.includes(s))];
      await Promise.all(sockets.map((s) => rm(s, { force: true })));
      child = spawn('rsyslogd', ['-n', '-f', p.rsyslogConf, '-i', pidFile], { stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr!.on('data', (d) => (stderr += d));
      const c = child;
      exited = new Promise((resolve) => c.once('exit', () => resolve()));
      running.add(r);
      afterFile(stopAll);
      await waitFor(`rsyslogd's sockets under ${root} (stderr: ${stderr})`, () => c.exitCode === null && sockets.every(isSocket), 10_000);
    },
    async restart() {
      await r.stop();
      await r.start();
    },
    async stop() {
      if (!child) return;
      child.kill('SIGTERM');
      await exited;
      child = undefined;
      running.delete(r);
    },
    running: () => child !== undefined && child.exitCode === null,
    output: () => stderr,
    async lines(file) {
      const text = await readFile(file, 'utf8').catch(() => '');
      return text.split('\n').filter((l) => l !== '');
    },
  };
  return r;
}
