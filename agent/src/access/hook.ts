/*! One Even request in, one audit record out: what `taupage ssh-service` does for every request
 * the forced command of `granting-service` (`taupage ssh-hook`) sends it.
 *
 *   SSH_ORIGINAL_COMMAND → parse (refuse anything else) → [--remote-host allowed?] →
 *   grant: fetch key from Even → check key → lock → observe → plan → apply → [hop] → audit → ok
 *   revoke: lock → observe → plan → apply (keys, then processes) → [hop] → audit → ok
 *
 * Every invocation ends in exactly one audit record, granted or refused. A grant is undone if its
 * record cannot be written; a revoke is not (access stays revoked) but still reports failure. */
import { AgentError, errorMessage, isAgentError, type ErrorCode } from '../lib/errors.js';
import type { AuditFields, AuditRecord } from '../audit/record.js';
import { parseAccessCommand, MAX_COMMAND_LENGTH, type AccessRequest } from './command.js';
import { checkPublicKey } from './public-key.js';
import { checkRemoteHost } from './remote-host.js';
import { planGrant, planRevoke } from './plan.js';
import { applyGrant, applyRevoke, revokeResult, type RevokeOutcome } from './apply.js';
import { writeWelcome } from './home-files.js';
import { humanTime } from './authorized-keys.js';
import { accessDeps, callerOf, commit, observe, withHookLock, type AccessContext } from './context.js';

export interface HookInput {
  /** SSH_ORIGINAL_COMMAND (possibly cut for the wire: see `length`) */
  command: string | undefined;
  /** The command's length before it was cut; default its length. */
  length?: number;
  /** SSH_CONNECTION */
  connection: string | undefined;
  /** SSH_AUTH_SOCK of the caller's session: Even's forwarded agent, used only to hop. */
  agentSocket?: string;
}

export interface HookResult {
  ok: boolean;
  /** For the caller (Even shows it): one line. */
  message: string;
  record: AuditRecord;
  code?: ErrorCode;
}

type Fields = Omit<AuditFields, 'time'>;
type Base = Pick<Fields, 'caller' | 'instanceId' | 'action'> & Partial<Fields>;

export async function runHook(input: HookInput, ctx: AccessContext): Promise<HookResult> {
  const base: Base = { action: 'unknown', caller: callerOf(input.connection), instanceId: await ctx.instanceId() };
  const command = input.command === undefined ? undefined : input.command.slice(0, MAX_COMMAND_LENGTH);
  const parsed = parseAccessCommand(input.command, input.length);
  if (!parsed.ok) {
    return withHookLock(ctx, () =>
      finish(
        ctx,
        { ...base, action: parsed.action ?? 'unknown', result: 'refused', reason: parsed.reason, ...(command !== undefined ? { command } : {}) },
        'TPG_SSH_REFUSED',
      ),
    );
  }
  const req = parsed.request;
  const common: Base = { ...base, action: req.action, user: req.user, ...(req.remoteHost ? { remoteHost: req.remoteHost } : {}) };
  let address: string | undefined;
  if (req.remoteHost) {
    const nets = ctx.config.ssh.allowed_remote_networks;
    const check = checkRemoteHost(req.remoteHost, nets.length ? await ctx.resolve(req.remoteHost) : [], nets);
    if (!check.ok) return withHookLock(ctx, () => finish(ctx, { ...common, result: 'refused', reason: check.reason, command: command! }, 'TPG_SSH_REFUSED'));
    address = check.address;
  }
  const hop = address ? { address, agentSocket: input.agentSocket } : undefined;
  return req.action === 'grant' ? grant(req, common, hop, ctx) : revoke(req, common, hop, ctx);
}

/** A request that never became a command: malformed, oversized or too slow on the hook socket.
 * It gets its refused record like any other (caller `socket`: its SSH_CONNECTION is unknown). */
export async function refuseRequest(ctx: AccessContext, reason: string): Promise<HookResult> {
  const base: Base = { action: 'unknown', caller: 'socket', instanceId: await ctx.instanceId() };
  return withHookLock(ctx, () => finish(ctx, { ...base, result: 'refused', reason }, 'TPG_SSH_REFUSED'));
}

/** The record of a request the service abandoned at ssh.request_deadline_ms (its own work records
 * nothing after that): failed, with what it was asked, under the lock like every record. */
export async function abandonRequest(
  ctx: AccessContext,
  request: { command: string | null; connection: string | null } | null,
  deadlineMs: number,
): Promise<HookResult> {
  const parsed = request?.command ? parseAccessCommand(request.command) : undefined;
  const base: Base = {
    action: parsed?.ok ? parsed.request.action : 'unknown',
    caller: request ? callerOf(request.connection ?? undefined) : 'socket',
    instanceId: await ctx.instanceId(),
    ...(parsed?.ok ? { user: parsed.request.user } : {}),
    ...(request?.command ? { command: request.command.slice(0, MAX_COMMAND_LENGTH) } : {}),
  };
  const reason = `abandoned: not finished within ssh.request_deadline_ms (${deadlineMs} ms); the lock was released and the request records nothing more`;
  return withHookLock(ctx, () => finish(ctx, { ...base, result: 'failed', reason }, 'TPG_SSH_FAILED'));
}

interface Hop {
  address: string;
  agentSocket: string | undefined;
}

async function grant(req: AccessRequest, common: Base, hop: Hop | undefined, ctx: AccessContext): Promise<HookResult> {
  const { ssh } = ctx.config;
  if (!ssh.even_url) {
    return withHookLock(ctx, () => finish(ctx, { ...common, result: 'failed', reason: 'ssh.even_url is not set in the agent config' }, 'TPG_CONFIG_INVALID'));
  }
  let text: string;
  try {
    text = await (await ctx.even()).publicKey(req.user, ctx.signal);
  } catch (e) {
    return withHookLock(ctx, () =>
      finish(ctx, { ...common, result: 'failed', reason: `cannot get ${req.user}'s key from Even: ${errorMessage(e)}` }, codeOf(e, 'TPG_EVEN_UNAVAILABLE')),
    );
  }
  const checked = checkPublicKey(text);
  if (!checked.ok) {
    return withHookLock(ctx, () =>
      finish(ctx, { ...common, result: 'refused', reason: `Even's key for ${req.user} is not acceptable: ${checked.reason}` }, 'TPG_SSH_KEY_INVALID'),
    );
  }
  const key = checked.key;
  const keyFields = { keyType: key.type, keyFingerprint: key.fingerprint };
  return withHookLock(ctx, async () => {
    const now = ctx.clock.now();
    const obs = await observe(ctx, req.user);
    const groups = obs.account ? [] : await ctx.accounts.existingGroups(ssh.user_groups);
    const policy = { groups, grantedGroup: ssh.granted_group, lifetimeMs: ssh.grant_lifetime_seconds * 1000, homeRoot: ctx.paths.home };
    const decision = planGrant(req.user, key, obs, policy, now);
    if (!decision.ok) return finish(ctx, { ...common, ...keyFields, result: 'refused', reason: decision.reason }, 'TPG_SSH_REFUSED');
    const plan = decision.plan!;
    const expiry = { expiresAt: plan.grant.expiresAt };
    let outcome: Awaited<ReturnType<typeof applyGrant>>;
    try {
      outcome = await applyGrant(plan, obs.account, accessDeps(ctx));
    } catch (e) {
      return finish(
        ctx,
        { ...common, ...keyFields, result: 'failed', reason: `grant failed, nothing changed: ${errorMessage(e)}` },
        codeOf(e, 'TPG_SSH_FAILED'),
      );
    }
    if (hop) {
      try {
        await ctx.hop(hop.address, ['grant-ssh-access', req.user], hop.agentSocket);
      } catch (e) {
        await outcome.undo();
        return finish(ctx, { ...common, ...keyFields, result: 'failed', reason: `${errorMessage(e)}; the local grant was undone` }, 'TPG_SSH_FAILED');
      }
    }
    const tmpfs = outcome.keyPath === 'tmpfs';
    const fields = {
      ...common,
      ...keyFields,
      ...expiry,
      keyPath: outcome.keyPath,
      result: 'granted',
      reason: `${outcome.created ? 'account created, ' : ''}key installed${tmpfs ? ' on tmpfs (the home directory has no room)' : ''}`,
    } as Fields;
    let record: AuditRecord;
    try {
      record = await commit(ctx, fields);
    } catch (e) {
      await outcome.undo();
      if (hop) await ctx.hop(hop.address, ['revoke-ssh-access', req.user], hop.agentSocket).catch(() => undefined);
      throw e;
    }
    // Best effort, on descriptors (the home is the person's): the grant stands without it.
    if ((await writeWelcome(outcome.account, plan.welcomeLine)) === 'skipped')
      ctx.warn(`no welcome line in ${outcome.account.home}/.profile (not a plain file of ${req.user}'s)`);
    return {
      ok: true,
      record,
      message: `Access for ${req.user} granted until ${humanTime(Date.parse(plan.grant.expiresAt))} (key ${key.fingerprint}${tmpfs ? ', on tmpfs: the disk is full' : ''}).`,
    };
  });
}

async function revoke(req: AccessRequest, common: Base, hop: Hop | undefined, ctx: AccessContext): Promise<HookResult> {
  return withHookLock(ctx, async () => {
    const now = ctx.clock.now();
    let fields: Partial<Fields> = { result: 'unchanged', reason: 'kept local access (--keep-local)' };
    if (!req.keepLocal) {
      const obs = await observe(ctx, req.user);
      const keyFields = obs.grant ? { keyType: obs.grant.keyType, keyFingerprint: obs.grant.keyFingerprint, expiresAt: obs.grant.expiresAt } : {};
      const decision = planRevoke(req.user, obs, now);
      if (!decision.ok) return finish(ctx, { ...common, ...keyFields, result: 'refused', reason: decision.reason }, 'TPG_SSH_REFUSED');
      if (decision.plan === null) {
        fields = { result: 'unchanged', reason: decision.reason };
      } else {
        const out = await applyRevoke(decision.plan, accessDeps(ctx));
        const told = revokeResult(out);
        if (told.result === 'failed') return finish(ctx, { ...common, ...keyFields, ...told, ...keyPathOf(out) }, 'TPG_SSH_FAILED');
        fields = { ...keyFields, ...told, ...keyPathOf(out) };
      }
    }
    if (hop) {
      try {
        await ctx.hop(hop.address, ['revoke-ssh-access', req.user], hop.agentSocket);
      } catch (e) {
        return finish(ctx, { ...common, ...fields, result: 'failed', reason: `${fields.reason} locally; ${errorMessage(e)}` } as Fields, 'TPG_SSH_FAILED');
      }
    }
    const record = await commit(ctx, { ...common, ...fields } as Fields);
    return { ok: true, record, message: `Access for ${req.user} ${record.result === 'revoked' ? 'revoked' : 'unchanged'}: ${record.reason}.` };
  });
}

const keyPathOf = (out: RevokeOutcome) => (out.keyPath ? { keyPath: out.keyPath } : {});

/** Record a refusal or failure (call with the lock held) and turn it into the result. */
async function finish(ctx: AccessContext, fields: Base & Pick<Fields, 'action' | 'result' | 'reason'>, code: ErrorCode): Promise<HookResult> {
  const record = await commit(ctx, fields as Fields);
  return { ok: false, record, message: fields.reason, code };
}

function codeOf(e: unknown, fallback: ErrorCode): ErrorCode {
  return isAgentError(e) && e.code !== 'TPG_INTERNAL' ? e.code : fallback;
}

/** The error a refused or failed result becomes at the command line (exit code from its code). */
export function resultError(r: HookResult): AgentError {
  return new AgentError(r.code ?? 'TPG_SSH_FAILED', r.message, { details: { seq: r.record.seq } });
}
