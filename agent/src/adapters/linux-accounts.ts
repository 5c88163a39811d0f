/*! Accounts over the real system: /etc/passwd and /etc/group read directly (fast, no NSS
 * surprises: Taupage accounts are local), useradd/userdel run with an argv (never a shell), and
 * processes found and signalled through /proc. */
import { execFile } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { AgentError } from '../lib/errors.js';
import { realClock, type Clock } from '../lib/clock.js';
import type { Account, Accounts, NewAccount } from '../ports/accounts.js';

export interface LinuxAccountsOptions {
  passwdFile?: string;
  groupFile?: string;
  proc?: string;
  clock?: Clock;
}

const TOOL_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };

export function linuxAccounts(options: LinuxAccountsOptions = {}): Accounts {
  const passwdFile = options.passwdFile ?? '/etc/passwd';
  const groupFile = options.groupFile ?? '/etc/group';
  const proc = options.proc ?? '/proc';
  const clock = options.clock ?? realClock;

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

  const usersProcesses = async (uid: number): Promise<number[]> => {
    const pids: number[] = [];
    for (const entry of await readdir(proc)) {
      if (!/^\d+$/.test(entry)) continue;
      const status = await readFile(`${proc}/${entry}/status`, 'utf8').catch(() => '');
      const m = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
      if (m && (Number(m[1]) === uid || Number(m[2]) === uid)) pids.push(Number(entry));
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

  return {
    list,
    async lookup(name) {
      return (await list()).find((a) => a.name === name);
    },
    async existingGroups(names) {
      const text = await readFile(groupFile, 'utf8');
      const have = new Set(text.split('\n').map((l) => l.split(':')[0]));
      return names.filter((n) => have.has(n));
    },
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
    async endProcesses(uid, graceMs) {
      if (uid === 0) throw new AgentError('TPG_SSH_FAILED', 'refusing to end the processes of root');
      const terminated = signalAll(await usersProcesses(uid), 'SIGTERM');
      let killed = 0;
      if (terminated) {
        const left = await waitGone(uid, graceMs);
        if (left.length) {
          killed = signalAll(left, 'SIGKILL');
          await waitGone(uid, 2_000);
        }
      }
      return { terminated, killed };
    },
  };
}

function run(tool: string, args: string[], okCodes = [0]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(tool, args, { env: TOOL_ENV, timeout: 30_000 }, (err, _out, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      if (okCodes.includes(code)) return resolve();
      reject(
        new AgentError('TPG_SSH_FAILED', `${tool} failed (exit ${code}): ${String(stderr).trim() || (err as Error).message}`, {
          details: { tool, exit: code },
          cause: err,
        }),
      );
    });
  });
}
