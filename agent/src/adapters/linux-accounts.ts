/*! Accounts over the real system: /etc/passwd and /etc/group read directly (fast, no NSS
 * surprises: Taupage accounts are local), useradd/userdel/usermod/groupadd run with an argv
 * (never a shell), and processes ended through systemd-logind where it runs and through /proc
 * and kill(-1) as the user everywhere.
 *
 * Ending a person's processes has to win against a person who tries not to be ended: a process
 * that forks to a new pid faster than /proc can be scanned is never in the list a scan returns.
 * `kill -KILL -1` run with the person's uid is atomic against that (the kernel signals every
 * process the sender may signal in one pass, and a fork racing with it fails), and the scan as
 * root catches what the person cannot signal (a setuid program they started). Both repeat until
 * a scan finds nothing alive, within a bound; what is left is reported, not hidden. */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { runTool, ToolNotRun, TOOL_ENV } from '../lib/run-tool.js';
import { AgentError } from '../lib/errors.js';
import { realClock, type Clock } from '../lib/clock.js';
import type { Account, Accounts, EndedProcesses, NewAccount } from '../ports/accounts.js';

export interface LinuxAccountsOptions {
  passwdFile?: string;
  groupFile?: string;
  proc?: string;
  clock?: Clock;
  /** Exists when systemd is PID 1 (sd_booted): then logind ends the sessions first. */
  systemdRunDir?: string;
  /** How long the KILL rounds may go on before giving up (default 10 s). */
  killBoundMs?: number;
}

export function linuxAccounts(options: LinuxAccountsOptions = {}): Accounts {
  const passwdFile = options.passwdFile ?? '/etc/passwd';
  const groupFile = options.groupFile ?? '/etc/group';
  const proc = options.proc ?? '/proc';
  const clock = options.clock ?? realClock;
  const systemdRunDir = options.systemdRunDir ?? '/run/systemd/system';
  const killBoundMs = options.killBoundMs ?? 10_000;

  const list = async (): Promise<Account[]> => {
    const text = await readFile(passwdFile, 'utf8');
    const out: Account[] = [];
    for (const line of text.split('\n')) {
      const f = line.split(':');
      if (f.length < 7 || !f[0]) continue;
      out.push({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), comment: f[4]!, home: f[5]!, shell: f[6]! });
    }
    return out;
  };

  /** Live processes whose real, effective or saved uid is the user's (zombies are dead already). */
  const usersProcesses = async (uid: number): Promise<number[]> => {
    const pids: number[] = [];
    for (const entry of await readdir(proc)) {
      if (!/^\d+$/.test(entry)) continue;
      const status = await readFile(`${proc}/${entry}/status`, 'utf8').catch(() => '');
      const ids = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status);
      if (!ids?.slice(1).some((id) => Number(id) === uid)) continue;
      if (/^State:\s+[ZX]/m.test(status)) continue;
      pids.push(Number(entry));
    }
    return pids;
  };

  const signalAll = (pids: number[], signal: NodeJS.Signals) => {
    let n = 0;
    for (const pid of pids) {
      try {
        process.kill(pid, signal);
        n++;
      } catch {
        // gone already
      }
    }
    return n;
  };

  const waitGone = async (uid: number, ms: number): Promise<number[]> => {
    const until = clock.now() + ms;
    let left = await usersProcesses(uid);
    while (left.length && clock.now() < until) {
      await clock.sleep(25);
      left = await usersProcesses(uid);
    }
    return left;
  };

  /** kill(-1, signal) with the user's uid and gid (no supplementary groups): every process the
   * user may signal, in one pass of the kernel, forks racing with it included. */
  const signalAsUser = (account: Pick<Account, 'uid' | 'gid'>, signal: 'TERM' | 'KILL') =>
    new Promise<void>((resolve) => {
      execFile('kill', ['-s', signal, '--', '-1'], { env: TOOL_ENV, uid: account.uid, gid: account.gid, timeout: 5_000 }, () => resolve());
    });

  const existingGroups = async (names: readonly string[]) => {
    const text = await readFile(groupFile, 'utf8');
    const have = new Set(text.split('\n').map((l) => l.split(':')[0]));
    return names.filter((n) => have.has(n));
  };

  return {
    list,
    async lookup(name) {
      return (await list()).find((a) => a.name === name);
    },
    existingGroups,
    async create(spec: NewAccount) {
      const args = ['--user-group', '--shell', spec.shell, '--create-home', '--home-dir', spec.home, '--comment', spec.comment, '--password', '*'];
      if (spec.groups.length) args.push('--groups', spec.groups.join(','));
      args.push(spec.name);
      await run('useradd', args);
      const created = (await list()).find((a) => a.name === spec.name);
      if (!created) throw new AgentError('TPG_SSH_FAILED', `useradd ${spec.name} succeeded but the account is not in ${passwdFile}`);
      return created;
    },
    async remove(name) {
      await run('userdel', ['--remove', name], [0, 6]);
    },
    async ensureGroup(name) {
      if ((await existingGroups([name])).length) return;
      // Another process may have made it in the meantime: groupadd then exits 9 (exists).
      await run('groupadd', ['--system', name], [0, 9]);
    },
    async inGroup(name, group) {
      const text = await readFile(groupFile, 'utf8');
      const line = text.split('\n').find((l) => l.split(':')[0] === group);
      return line !== undefined && (line.split(':')[3] ?? '').split(',').includes(name);
    },
    async addToGroup(name, group) {
      await run('usermod', ['--append', '--groups', group, name]);
    },
    async endProcesses(account, graceMs): Promise<EndedProcesses> {
      const { uid } = account;
      if (uid === 0) throw new AgentError('TPG_SSH_FAILED', 'refusing to end the processes of root');
      // logind ends the sessions and the user's slice (user@.service, lingering units) as a whole.
      let logind = false;
      if (existsSync(systemdRunDir))
        logind = await run('loginctl', ['terminate-user', String(uid)]).then(
          () => true,
          () => false,
        );
      const first = await usersProcesses(uid);
      const terminated = signalAll(first, 'SIGTERM');
      if (terminated) {
        await signalAsUser(account, 'TERM');
        await waitGone(uid, graceMs);
      }
      let killed = 0;
      const until = clock.now() + killBoundMs;
      for (let left = await usersProcesses(uid); left.length; left = await usersProcesses(uid)) {
        if (clock.now() > until) return { terminated, killed, left: left.length, logind };
        await signalAsUser(account, 'KILL');
        killed += signalAll(left, 'SIGKILL');
        await clock.sleep(10);
      }
      return { terminated, killed, left: 0, logind };
    },
  };
}

async function run(tool: string, args: string[], okCodes = [0]): Promise<void> {
  let r: { code: number; stderr: string };
  try {
    r = await runTool(tool, args, { timeoutMs: 30_000 });
  } catch (e) {
    throw new AgentError('TPG_SSH_FAILED', `${tool} failed: ${e instanceof ToolNotRun ? e.why : String(e)}`, { details: { tool }, cause: e });
  }
  if (okCodes.includes(r.code)) return;
  throw new AgentError('TPG_SSH_FAILED', `${tool} failed (exit ${r.code}): ${r.stderr.trim() || 'no output'}`, { details: { tool, exit: r.code } });
}
