/*! The boot step: both Mint files present and valid before the container starts. Every failure
 * (Mint not synced yet, a role policy still propagating, S3 hiccups) is retried with full-jitter
 * backoff until the boot deadline; then the boot fails with TPG_CREDENTIALS_FAILED and the last
 * reason. */
import type { BootContext } from '../context.js';
import { AgentError, toAgentError } from '../../lib/errors.js';
import { retry } from '../../lib/retry.js';
import type { CredentialsPlan } from './plan.js';
import { CredentialsRefresher, describeFailures, type PassResult } from './refresh.js';

/** Backoff between boot passes: quick at first (Mint may sync any second), then every ~15 s. */
export const BOOT_RETRY = { baseMs: 500, capMs: 15_000 };

export async function applyCredentials(plan: CredentialsPlan, ctx: BootContext): Promise<void> {
  const { region } = ctx.facts;
  let last: PassResult | undefined;
  /** The last pass that failed on its own (not cut off by the deadline): its reasons are the real ones. */
  let failed: PassResult | undefined;
  try {
    const refresher = await CredentialsRefresher.open(plan, { store: ctx.ports.objectStore, region, log: ctx.log, paths: ctx.paths });
    await retry(
      async () => {
        last = await refresher.pass({ attempts: 1, ...BOOT_RETRY, signal: ctx.signal, deadline: ctx.deadline });
        if (!last.ok && !last.cancelled) failed = last;
        if (!last.ok) throw firstError(last);
      },
      {
        attempts: Number.MAX_SAFE_INTEGER,
        ...BOOT_RETRY,
        deadline: ctx.deadline,
        signal: ctx.signal,
        // Retry everything: at boot even a 404 or 403 may be Mint or IAM catching up.
        isRetriable: () => true,
        onRetry: ({ attempt, delayMs, error }) =>
          ctx.log.warn({ attempt, delayMs, err: toAgentError(error) }, 'Mint credentials not available yet; retrying until the boot deadline'),
      },
    );
  } catch (e) {
    const reasons = failed ? describeFailures(failed) : toAgentError(e).message;
    const cause = failed ? firstError(failed) : toAgentError(e);
    throw new AgentError(
      'TPG_CREDENTIALS_FAILED',
      `Mint credentials for ${plan.applicationId} could not be fetched from s3://${plan.bucket}/${plan.applicationId}/ before the boot deadline: ${reasons}`,
      {
        ...(cause.hint ? { hint: cause.hint } : { hint: 'see the reason above' }),
        cause,
        retriable: false,
        details: { bucket: plan.bucket, applicationId: plan.applicationId, region, lastCode: cause.code },
      },
    );
  }
  for (const f of last!.files) if (f.outcome !== 'failed') ctx.record(`credentials.${f.file}.etag`, f.etag);
}

function firstError(result: PassResult): AgentError {
  for (const f of result.files) if (f.outcome === 'failed') return f.error;
  return new AgentError('TPG_CREDENTIALS_FAILED', 'credentials pass failed');
}
