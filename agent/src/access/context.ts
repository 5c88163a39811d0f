/*! What the SSH hook and `taupage ssh expire` share: their dependencies (ports, so tests can
 * run them in-process), the lock that serializes them, observing a user's current state, and
 * committing an audit record (file first, the record of truth; then syslog). */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AgentConfig } from '../config/schema.js';
import type { Paths } from '../config/paths.js';
import type { Clock } from '../lib/clock.js';
import type { Accounts } from '../ports/accounts.js';
import type { AccessService } from '../ports/access-service.js';
import { acquireLock } from '../lib/file-lock.js';
import { untilAborted } from '../lib/retry.js';
import type { SshAuditLog } from '../audit/ssh-audit-log.js';
import type { AuditFields, AuditRecord } from '../audit/record.js';
import { readKeyFile } from './authorized-keys.js';
import { readGrant, type GrantDirs } from './grants.js';
import { keyFile, readText, type AccessDeps } from './apply.js';
import type { Observed } from './plan.js';

export interface AccessContext {
  config: AgentConfig;
  paths: Paths;
  clock: Clock;
  accounts: Accounts;
  audit: SshAuditLog;
  syslog(line: string, severity: 'notice' | 'warning'): Promise<void>;
  instanceId(): Promise<string>;
  /** Loaded on first use: the refusal path never pays for the HTTP client. */
  even(): Promise<AccessService>;
  resolve(host: string): Promise<string[]>;
  /** `agentSocket`: the caller's SSH_AUTH_SOCK (Even's forwarded agent). */
  hop(address: string, words: string[], agentSocket?: string): Promise<void>;
  /** Non-fatal problems (the syslog copy failed), for stderr. */
  warn(text: string): void;
  /** Set by the service: work that may wait until the caller has its answer (the syslog copy,
   * the head anchor). Unset: `commit` finishes it before returning. */
  later?(task: () => Promise<unknown>): void;
  lockTimeoutMs?: number;
  /** Set by the service: aborted when the request ran past ssh.request_deadline_ms and was
   * abandoned. The lock is released at once, and nothing is recorded for it any more. */
  signal?: AbortSignal;
}

export const grantDirs = (paths: Paths): GrantDirs => ({ disk: paths.sshGrants, run: paths.sshGrantsRun });

export function accessDeps(ctx: AccessContext): AccessDeps {
  const { paths } = ctx;
  return {
    accounts: ctx.accounts,
    keysDir: paths.sshKeys,
    runKeysDir: paths.sshKeysRun,
    grants: grantDirs(paths),
    graceMs: ctx.config.ssh.revoke_grace_seconds * 1000,
    jobs: { crontabs: paths.crontabs, atJobs: paths.atJobs, lingerDir: paths.lingerDir },
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  };
}

export async function withHookLock<T>(ctx: AccessContext, fn: () => Promise<T>): Promise<T> {
  await mkdir(dirname(ctx.paths.sshHookLock), { recursive: true, mode: 0o755 });
  const lock = await acquireLock(ctx.paths.sshHookLock, { timeoutMs: ctx.lockTimeoutMs ?? 30_000, clock: ctx.clock });
  try {
    ctx.signal?.throwIfAborted();
    // An abandoned request gives the lock back at once, even while its step is still stuck.
    return await untilAborted(fn(), ctx.signal);
  } finally {
    await lock.release();
  }
}

export async function observe(ctx: AccessContext, user: string): Promise<Observed> {
  const account = await ctx.accounts.lookup(user);
  const grant = await readGrant(grantDirs(ctx.paths), user);
  return {
    ...(account ? { account } : {}),
    ...(grant ? { grant } : {}),
    diskKeys: readKeyFile(await readText(keyFile(ctx.paths.sshKeys, user))),
    runKeys: readKeyFile(await readText(keyFile(ctx.paths.sshKeysRun, user))),
  };
}

/** Write the record (durably, chained), then send its copy to syslog. Call with the lock held.
 * The file is the record of truth: once `append` returns, the request may report success. The
 * syslog copy is best effort (a failure is a warning) and, in the service, sent after the answer. */
export async function commit(ctx: AccessContext, fields: Omit<AuditFields, 'time'>): Promise<AuditRecord> {
  // An abandoned request already has its record (failed, abandoned); it gets no second one.
  ctx.signal?.throwIfAborted();
  const { record, line, where, anchored } = await ctx.audit.append({ ...fields, time: new Date(ctx.clock.now()).toISOString() });
  if (where === 'spill') ctx.warn(`the audit log's disk is full: record ${record.seq} is kept in ${ctx.paths.sshAuditSpill} until there is room`);
  const severity = fields.result === 'refused' || fields.result === 'failed' ? 'warning' : 'notice';
  const copy = () =>
    ctx
      .syslog(line, severity)
      .catch((e: Error) => ctx.warn(`audit record ${record.seq} is in ${ctx.paths.sshAuditLog} but its syslog copy failed: ${e.message}`));
  const rest = () => Promise.all([anchored, copy()]);
  if (ctx.later) ctx.later(rest);
  else await rest();
  return record;
}

/** "client-ip client-port" from SSH_CONNECTION ("ip port server-ip server-port"); "local" without one. */
export function callerOf(connection: string | undefined): string {
  if (connection === undefined || connection === '') return 'local';
  const m = /^([0-9A-Fa-f:.]{2,45}) (\d{1,5}) [0-9A-Fa-f:.]{2,45} \d{1,5}$/.exec(connection);
  return m ? `${m[1]} ${m[2]}` : 'malformed SSH_CONNECTION';
}
