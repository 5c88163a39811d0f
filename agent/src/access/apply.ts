/*! Carry out a grant or revoke plan. The root service works against the people it serves, so the
 * keys are root's files in a root-only tree, never in a home:
 *
 *   /var/lib/taupage/ssh-keys/NAME  (root:NAME's group, 0640; sshd reads it as the user)
 *   /run/taupage/ssh-keys/NAME      (the same on tmpfs, when the disk is full)
 *
 * The boot's sshd drop-in makes these the only key files of the granted group's members, so a
 * person can neither add a key, nor strip `expiry-time`, nor make a revoke fail by turning a key
 * file into a directory or a FIFO. Nothing here opens a path in a home: the welcome line in
 * ~/.profile goes through access/home-files.ts, on descriptors.
 *
 * A grant keeps an undo journal: when a later step fails (a key write, the hop, the audit record)
 * every change is undone in reverse, so no half-created account or key is left. A revoke does every
 * step whatever the others did (key, jobs, processes) and reports what it could not do. */
import { constants } from 'node:fs';
import { mkdir, open, readdir, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { makeDir } from '../lib/make-dir.js';
import { writeFileAtomic } from '../lib/atomic-write.js';
import { AgentError, errorMessage } from '../lib/errors.js';
import type { Account, Accounts, EndedProcesses } from '../ports/accounts.js';
import { readGrant, removeGrant, writeGrant, type GrantDirs } from './grants.js';
import type { GrantPlan, RevokePlan } from './plan.js';

export interface AccessDeps {
  accounts: Accounts;
  /** paths.sshKeys */
  keysDir: string;
  /** paths.sshKeysRun */
  runKeysDir: string;
  grants: GrantDirs;
  graceMs: number;
  /** Where a person's scheduled jobs live (paths.crontabs, paths.atJobs, paths.lingerDir). */
  jobs: { crontabs: string; atJobs: string; lingerDir: string };
  /** Set when the service abandoned the request: no further step runs. */
  signal?: AbortSignal;
}

/** Where the key was written: the key directory on disk, or tmpfs when the disk is full. */
export type KeyPath = 'disk' | 'tmpfs';

export interface GrantOutcome {
  account: Account;
  created: boolean;
  keyPath: KeyPath;
  /** Undo everything this grant changed (the caller's later step failed). */
  undo(): Promise<void>;
}

export interface RevokeOutcome {
  /** Where the revoked line is; undefined when no key file could be written or removed. */
  keyPath: KeyPath | undefined;
  processes: EndedProcesses;
  /** Cron and at jobs and lingering removed. */
  jobs: number;
  /** What could not be done, in words (empty: everything was). */
  problems: string[];
}

const NO_ROOM = new Set(['ENOSPC', 'EDQUOT', 'EROFS']);
export const isNoRoom = (e: unknown) => NO_ROOM.has((e as NodeJS.ErrnoException)?.code ?? '');

export const keyFile = (dir: string, user: string) => join(dir, user);

const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = constants;

/** A key file's text; undefined when it is missing or is not a plain file (the key directories are
 * root's, so that is only ever damage, never a person's doing: still, nothing follows or blocks). */
export async function readText(path: string): Promise<string | undefined> {
  let fh: FileHandle;
  try {
    fh = await open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') return undefined;
    throw e;
  }
  try {
    if (!(await fh.stat()).isFile()) return undefined;
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}

type Undo = () => Promise<unknown>;

export async function applyGrant(plan: GrantPlan, existing: Account | undefined, deps: AccessDeps): Promise<GrantOutcome> {
  const journal: Undo[] = [];
  const undo = async () => {
    for (const step of journal.reverse()) await step().catch(() => undefined);
    journal.length = 0;
  };
  const step = () => deps.signal?.throwIfAborted();
  try {
    let account = existing;
    let created = false;
    await deps.accounts.ensureGroup(plan.grantedGroup);
    step();
    if (!account) {
      if (!plan.createAccount) throw new AgentError('TPG_INTERNAL', 'grant plan without an account to create');
      await mkdir(plan.createAccount.home.replace(/\/[^/]+$/, ''), { recursive: true, mode: 0o755 });
      account = await deps.accounts.create(plan.createAccount);
      created = true;
      const name = account.name;
      journal.push(() => deps.accounts.remove(name));
    } else if (!(await deps.accounts.inGroup(account.name, plan.grantedGroup))) {
      // An account Even made before the group existed: only in the group do its home keys stop counting.
      await deps.accounts.addToGroup(account.name, plan.grantedGroup);
    }
    step();
    const disk = keyFile(deps.keysDir, plan.user);
    const run = keyFile(deps.runKeysDir, plan.user);
    const acct = account;
    // Undo steps first (they capture the state before any change), then the two independent
    // writes at once: each ends in an fsync, and overlapping them keeps a grant fast.
    const [undoDisk, undoRun, previous] = await Promise.all([restorer(disk, acct), restorer(run, acct), readGrant(deps.grants, plan.user)]);
    journal.push(undoDisk, undoRun, () => (previous ? writeGrant(deps.grants, previous, false) : removeGrant(deps.grants, plan.user)));
    const keys = async (): Promise<KeyPath> => {
      try {
        await writeKeys(deps.keysDir, disk, plan.keyFile, acct);
        await unlink(run).catch(ignoreMissing);
        return 'disk';
      } catch (e) {
        if (!isNoRoom(e)) throw e;
        await writeKeys(deps.runKeysDir, run, plan.keyFile, acct);
        // The disk file may still hold an earlier key; removing a file needs no free space.
        await unlink(disk).catch(ignoreMissing);
        return 'tmpfs';
      }
    };
    // The grant record falls back to tmpfs by itself when its disk is full.
    const settled = await Promise.allSettled([keys(), writeGrant(deps.grants, plan.grant, false)]);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    step();
    const keyPath = (settled[0] as PromiseFulfilledResult<KeyPath>).value;
    return { account, created, keyPath, undo };
  } catch (e) {
    await undo();
    throw e;
  }
}

/** What a revoke did, for the audit record: `revoked` only when every step was done. */
export function revokeResult(out: RevokeOutcome): { result: 'revoked' | 'failed'; reason: string } {
  const { processes: p } = out;
  const done = [
    ...(out.keyPath ? [`key replaced by the revoked message${out.keyPath === 'tmpfs' ? ' (on tmpfs)' : ''}`] : []),
    `ended ${Math.max(p.terminated, p.killed)} process(es)${p.killed ? `, ${p.killed} with SIGKILL` : ''}${p.logind ? ' (and the sessions through logind)' : ''}`,
    ...(out.jobs ? [`removed ${out.jobs} cron/at job(s)`] : []),
  ].join('; ');
  if (out.problems.length) return { result: 'failed', reason: `revoke incomplete: could not do ${out.problems.join('; ')}; did: ${done}` };
  return { result: 'revoked', reason: done };
}

/** Every step runs whatever the others did: a key file that cannot be written does not save a
 * person's processes, and ending the processes does not wait for the key file. */
export async function applyRevoke(plan: RevokePlan, deps: AccessDeps): Promise<RevokeOutcome> {
  const { account } = plan;
  const problems: string[] = [];
  const keyPath = await revokeKeys(plan, deps).catch((e: unknown) => {
    problems.push(`the key file: ${errorMessage(e)}`);
    return undefined;
  });
  // Keys first, so no new session starts; jobs next, so none starts a process; then the live ones.
  const jobs = await removeJobs(account, deps.jobs).catch((e: unknown) => {
    problems.push(`cron/at jobs: ${errorMessage(e)}`);
    return 0;
  });
  const processes = await deps.accounts.endProcesses(account, deps.graceMs).catch((e: unknown): EndedProcesses => {
    problems.push(`processes: ${errorMessage(e)}`);
    return { terminated: 0, killed: 0, left: -1, logind: false };
  });
  if (processes.left > 0) problems.push(`${processes.left} process(es) still alive after SIGKILL`);
  // Without a revoked key the grant stays recorded, so `taupage ssh expire` tries again.
  if (keyPath) await removeGrant(deps.grants, plan.user).catch((e: unknown) => problems.push(`the grant record: ${errorMessage(e)}`));
  return { keyPath, processes, jobs, problems };
}

/** The revoked line in one key file, the other removed (sshd reads both: a granted line left in
 * either would still let the person in). Disk first; tmpfs when the disk has no room; and when
 * neither can be written, both are removed, which needs no room at all. */
async function revokeKeys(plan: RevokePlan, deps: AccessDeps): Promise<KeyPath> {
  const disk = keyFile(deps.keysDir, plan.user);
  const run = keyFile(deps.runKeysDir, plan.user);
  try {
    await writeKeys(deps.keysDir, disk, plan.keyFile, plan.account);
    await unlink(run).catch(ignoreMissing);
    return 'disk';
  } catch (diskError) {
    try {
      await writeKeys(deps.runKeysDir, run, plan.keyFile, plan.account);
      await unlink(disk).catch(ignoreMissing);
      return 'tmpfs';
    } catch (runError) {
      await Promise.all([unlink(disk).catch(ignoreMissing), unlink(run).catch(ignoreMissing)]);
      throw new AgentError(
        'TPG_SSH_FAILED',
        `cannot write the revoked line (${errorMessage(diskError)}; on tmpfs: ${errorMessage(runError)}); both key files were removed instead`,
      );
    }
  }
}

/** The person's crontab, at jobs and lingering (systemd user units that outlive a session). Each
 * spool is root's; a file is removed by name (unlink follows no link). */
async function removeJobs(account: Pick<Account, 'name' | 'uid'>, jobs: AccessDeps['jobs']): Promise<number> {
  let removed = 0;
  const drop = (path: string) =>
    unlink(path).then(
      () => void removed++,
      (e) => ignoreMissing(e),
    );
  await drop(join(jobs.crontabs, account.name));
  await drop(join(jobs.lingerDir, account.name));
  for (const name of await readdir(jobs.atJobs).catch(() => [] as string[])) {
    // at's spool names jobs by number; the owner of the file is the person who queued it.
    const fh = await open(join(jobs.atJobs, name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK).catch(() => undefined);
    if (!fh) continue;
    const st = await fh.stat().finally(() => fh.close());
    if (st.isFile() && st.uid === account.uid) await drop(join(jobs.atJobs, name));
  }
  return removed;
}

async function writeKeys(dir: string, path: string, content: string, account: Account): Promise<void> {
  // sshd checks every directory above a key file: root-owned, not writable by others.
  await makeDir(dir, 0o755);
  // root's file, readable by the person's group: sshd reads it with the person's uid.
  await writeFileAtomic(path, content, { mode: 0o640, uid: 0, gid: account.gid });
}

/** An undo step that puts a key file back as it is now, or removes it. */
async function restorer(path: string, account: Account): Promise<Undo> {
  const content = await readText(path);
  if (content === undefined) return () => unlink(path).catch(ignoreMissing);
  return () => writeKeys(join(path, '..'), path, content, account);
}

function ignoreMissing(e: unknown): undefined {
  if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  throw e;
}
