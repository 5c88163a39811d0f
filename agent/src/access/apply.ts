/*! Carry out a grant or revoke plan: accounts through the Accounts port, key files written
 * atomically with the user's ownership and 0600, never following a symlink the user planted.
 *
 * A grant keeps an undo journal: when a later step fails (a key write, the hop, the audit
 * record) every change is undone in reverse, so no half-created account or key is left. When the
 * home's disk is full the key goes to tmpfs (paths.sshKeysRun/<user>, which sshd reads first
 * through AuthorizedKeysFile) instead of the original's fallback of logging in as root. */
import { lstat, mkdir, chown, chmod, readFile, unlink, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../lib/atomic-write.js';
import { AgentError } from '../lib/errors.js';
import type { Account, Accounts } from '../ports/accounts.js';
import { readGrant, removeGrant, writeGrant, type GrantDirs } from './grants.js';
import { withWelcome } from './authorized-keys.js';
import type { GrantPlan, RevokePlan } from './plan.js';

export interface AccessDeps {
  accounts: Accounts;
  /** paths.sshKeysRun */
  runKeysDir: string;
  grants: GrantDirs;
  graceMs: number;
}

export type KeyPath = 'home' | 'tmpfs';

export interface GrantOutcome {
  account: Account;
  created: boolean;
  keyPath: KeyPath;
  /** Undo everything this grant changed (the caller's later step failed). */
  undo(): Promise<void>;
}

export interface RevokeOutcome {
  keyPath: KeyPath;
  terminated: number;
  killed: number;
}

const NO_ROOM = new Set(['ENOSPC', 'EDQUOT', 'EROFS']);
export const isNoRoom = (e: unknown) => NO_ROOM.has((e as NodeJS.ErrnoException)?.code ?? '');

export const homeKeyFile = (account: Account) => join(account.home, '.ssh', 'authorized_keys');
export const runKeyFile = (runKeysDir: string, user: string) => join(runKeysDir, user);

export async function readText(path: string): Promise<string | undefined> {
  try {
    const st = await lstat(path);
    // A symlink or device in place of a key file is never read as root.
    if (!st.isFile()) return undefined;
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw e;
  }
}

type Undo = () => Promise<unknown>;

export async function applyGrant(plan: GrantPlan, existing: Account | undefined, deps: AccessDeps): Promise<GrantOutcome> {
  const journal: Undo[] = [];
  const undo = async () => {
    for (const step of journal.reverse()) await step().catch(() => undefined);
    journal.length = 0;
  };
  try {
    let account = existing;
    let created = false;
    if (!account) {
      if (!plan.createAccount) throw new AgentError('TPG_INTERNAL', 'grant plan without an account to create');
      await mkdir(plan.createAccount.home.replace(/\/[^/]+$/, ''), { recursive: true, mode: 0o755 });
      account = await deps.accounts.create(plan.createAccount);
      created = true;
      const name = account.name;
      journal.push(() => deps.accounts.remove(name));
    }
    const home = homeKeyFile(account);
    const run = runKeyFile(deps.runKeysDir, plan.user);
    const acct = account;
    // Undo steps first (they capture the state before any change), then the three independent
    // writes at once: each ends in an fsync, and overlapping them keeps a grant fast.
    const [undoHome, undoRun, previous] = await Promise.all([restorer(home, acct), restorer(run, acct), readGrant(deps.grants, plan.user)]);
    journal.push(undoHome, undoRun, () => (previous ? writeGrant(deps.grants, previous, false) : removeGrant(deps.grants, plan.user)));
    const keys = async (): Promise<KeyPath> => {
      try {
        await writeHomeKeys(acct, plan.keyFile);
        await unlink(run).catch(ignoreMissing);
        return 'home';
      } catch (e) {
        if (!isNoRoom(e)) throw e;
        await writeRunKeys(deps.runKeysDir, run, plan.keyFile, acct);
        // The home file may still hold an earlier key; removing a file needs no free space.
        await unlink(home).catch(ignoreMissing);
        return 'tmpfs';
      }
    };
    // The grant record falls back to tmpfs by itself when its disk is full.
    const settled = await Promise.allSettled([keys(), writeGrant(deps.grants, plan.grant, false), writeWelcome(acct, plan.welcomeLine).catch(() => undefined)]);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const keyPath = (settled[0] as PromiseFulfilledResult<KeyPath>).value;
    return { account, created, keyPath, undo };
  } catch (e) {
    await undo();
    throw e;
  }
}

export async function applyRevoke(plan: RevokePlan, deps: AccessDeps): Promise<RevokeOutcome> {
  const { account } = plan;
  const run = runKeyFile(deps.runKeysDir, plan.user);
  let keyPath: KeyPath = 'home';
  try {
    await writeHomeKeys(account, plan.keyFile);
  } catch (e) {
    if (!isNoRoom(e)) throw e;
    keyPath = 'tmpfs';
    await unlink(homeKeyFile(account)).catch(ignoreMissing);
  }
  if (plan.replaceRunKeys || keyPath === 'tmpfs') await writeRunKeys(deps.runKeysDir, run, plan.keyFile, account);
  // Keys first, so no new session starts; then end the live ones.
  const { terminated, killed } = await deps.accounts.endProcesses(account.uid, deps.graceMs);
  await removeGrant(deps.grants, plan.user);
  return { keyPath, terminated, killed };
}

/** ~/.ssh/authorized_keys, replaced atomically; ~ and ~/.ssh must be real directories. */
async function writeHomeKeys(account: Account, content: string): Promise<void> {
  const homeSt = await lstat(account.home).catch(ignoreMissing);
  if (!homeSt) {
    await mkdir(account.home, { mode: 0o750 });
    await chown(account.home, account.uid, account.gid);
  } else if (!homeSt.isDirectory()) {
    throw new AgentError('TPG_SSH_FAILED', `${account.home} is not a directory; refusing to write keys through it`);
  }
  const sshDir = join(account.home, '.ssh');
  let st = await lstat(sshDir).catch(ignoreMissing);
  if (st && !st.isDirectory()) {
    // A symlink (or file) the user put there: replace the link itself, never write through it,
    // and never let it make a revoke fail.
    await unlink(sshDir);
    st = undefined;
  }
  if (!st) await mkdir(sshDir, { mode: 0o700 });
  // sshd's StrictModes wants the user (or root) to own ~/.ssh, writable by nobody else.
  await chown(sshDir, account.uid, account.gid);
  await chmod(sshDir, 0o700);
  await writeFileAtomic(join(sshDir, 'authorized_keys'), content, { mode: 0o600, uid: account.uid, gid: account.gid });
}

async function writeRunKeys(dir: string, path: string, content: string, account: Account): Promise<void> {
  // sshd checks every directory above an absolute AuthorizedKeysFile: root-owned, not writable by others.
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await writeFileAtomic(path, content, { mode: 0o600, uid: account.uid, gid: account.gid });
}

async function writeWelcome(account: Account, line: string): Promise<void> {
  const path = join(account.home, '.profile');
  const st = await lstat(path).catch(ignoreMissing);
  if (st && (!st.isFile() || st.uid !== account.uid)) return; // not ours to rewrite
  const old = st ? await readFile(path, 'utf8') : '';
  await writeFileAtomic(path, withWelcome(old, line), { mode: st ? st.mode & 0o777 : 0o644, uid: account.uid, gid: account.gid });
}

/** An undo step that puts `path` back as it is now (content, mode, owner), or removes it. */
async function restorer(path: string, account: Account): Promise<Undo> {
  const st = await lstat(path).catch(ignoreMissing);
  if (!st?.isFile()) {
    const sshDirExisted = await lstat(join(path, '..')).then(
      () => true,
      () => false,
    );
    return async () => {
      await unlink(path).catch(ignoreMissing);
      if (!sshDirExisted) await rmdir(join(path, '..')).catch(() => undefined);
    };
  }
  const content = await readFile(path);
  return () => writeFileAtomic(path, content, { mode: st.mode & 0o777, uid: st.uid ?? account.uid, gid: st.gid });
}

function ignoreMissing(e: unknown): undefined {
  if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  throw e;
}
