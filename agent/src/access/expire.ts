/*! `taupage ssh expire` (every minute from a systemd timer): revoke every grant whose time is up,
 * exactly as a revoke from Even would (key replaced by the revoked message, processes ended), one
 * audit record each. Access therefore ends on time even when Even is down or forgets. */
import { errorMessage } from '../lib/errors.js';
import type { AuditRecord } from '../audit/record.js';
import { listGrants, removeGrant } from './grants.js';
import { planRevoke } from './plan.js';
import { applyRevoke, revokeResult } from './apply.js';
import { accessDeps, commit, grantDirs, observe, withHookLock, type AccessContext } from './context.js';

export interface ExpireResult {
  records: AuditRecord[];
  /** Users whose revoke failed (their grant stays recorded: the next run tries again). */
  failed: string[];
}

export async function runExpire(ctx: AccessContext): Promise<ExpireResult> {
  return withHookLock(ctx, async () => {
    const now = ctx.clock.now();
    const instanceId = await ctx.instanceId();
    const records: AuditRecord[] = [];
    const failed: string[] = [];
    for (const g of await listGrants(grantDirs(ctx.paths))) {
      const expiresAt = Date.parse(g.expiresAt);
      if (!(expiresAt <= now)) continue;
      const base = {
        action: 'expire' as const,
        user: g.user,
        caller: 'local',
        instanceId,
        keyType: g.keyType,
        keyFingerprint: g.keyFingerprint,
        expiresAt: g.expiresAt,
      };
      const obs = await observe(ctx, g.user);
      const decision = planRevoke(g.user, obs, now);
      if (!decision.ok) {
        failed.push(g.user);
        records.push(await commit(ctx, { ...base, result: 'failed', reason: `grant expired but ${decision.reason}` }));
        continue;
      }
      if (decision.plan === null) {
        await removeGrant(grantDirs(ctx.paths), g.user);
        records.push(await commit(ctx, { ...base, result: 'unchanged', reason: `grant expired; ${decision.reason}` }));
        continue;
      }
      try {
        const out = await applyRevoke(decision.plan, accessDeps(ctx));
        const told = revokeResult(out);
        if (told.result === 'failed') failed.push(g.user);
        records.push(
          await commit(ctx, { ...base, ...(out.keyPath ? { keyPath: out.keyPath } : {}), result: told.result, reason: `grant expired; ${told.reason}` }),
        );
      } catch (e) {
        failed.push(g.user);
        records.push(await commit(ctx, { ...base, result: 'failed', reason: `grant expired but the revoke failed: ${errorMessage(e)}` }));
      }
    }
    return { records, failed };
  });
}
