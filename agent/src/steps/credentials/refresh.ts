/*! One refresh pass over Mint's files: conditional GET, validate, write if changed, record status.
 * Shared by the boot step (retried until the boot deadline) and the watcher (every interval).
 *
 * A file is replaced only by a complete, valid download; a failure of any kind leaves the current
 * file in place and is reported per file, so one broken object does not hold back the other's
 * rotation. */
import { join } from 'node:path';
import type { Logger } from '../../lib/log.js';
import type { ObjectStore } from '../../ports/object-store.js';
import { AgentError, toAgentError } from '../../lib/errors.js';
import { retry } from '../../lib/retry.js';
import { realClock, type Clock } from '../../lib/clock.js';
import type { Paths } from '../../config/paths.js';
import type { CredentialsPlan } from './plan.js';
import { checkCredentialFile, isCredentialFile } from './validate.js';
import { ensureCredentialsDir, fingerprint, removeStaleTemps, sameFingerprint, writeIfChanged, type Fingerprint } from './files.js';
import { readCredentialsStatus, writeCredentialsStatus, type CredentialsStatus, type FileStatus } from './status.js';

export type FileOutcome =
  | { file: string; key: string; outcome: 'written' | 'unchanged' | 'not-modified'; etag: string }
  | { file: string; key: string; outcome: 'failed'; error: AgentError };

export interface PassResult {
  /** Every file is current. */
  ok: boolean;
  /** The pass was stopped by its signal (shutdown, boot deadline). */
  cancelled: boolean;
  files: FileOutcome[];
}

/** Retries inside one pass, for errors marked retriable (throttling, 5xx, network). */
export interface PassPolicy {
  attempts: number;
  baseMs: number;
  capMs: number;
  signal?: AbortSignal;
  deadline?: number;
}

export interface RefresherOptions {
  plan: CredentialsPlan;
  store: ObjectStore;
  region: string;
  log: Logger;
  /** Status file to read at start and keep current; omitted: no status. */
  statusFile?: string;
  clock?: Clock;
}

interface Known {
  etag: string;
  fingerprint: Fingerprint;
}

export class CredentialsRefresher {
  private readonly known = new Map<string, Known>();
  private status: CredentialsStatus;
  private readonly clock: Clock;
  private readonly mode: number;

  constructor(private readonly options: RefresherOptions) {
    this.clock = options.clock ?? realClock;
    this.mode = parseInt(options.plan.fileMode, 8);
    const { plan, region } = options;
    this.status = { bucket: plan.bucket, applicationId: plan.applicationId, region, directory: plan.directory, ok: false, files: {} };
  }

  /**
   * The refresher the boot step and `taupage credentials` share: its status in the credentials
   * status file, prepared for its first pass.
   */
  static async open(
    plan: CredentialsPlan,
    o: Pick<RefresherOptions, 'store' | 'region' | 'log'> & { paths: Pick<Paths, 'credentialsStatus'> },
  ): Promise<CredentialsRefresher> {
    const refresher = new CredentialsRefresher({ plan, store: o.store, region: o.region, log: o.log, statusFile: o.paths.credentialsStatus });
    await refresher.prepare();
    return refresher;
  }

  /** Drop stale temp files and pick up ETags from an earlier status (each pass makes the directory). */
  async prepare(): Promise<void> {
    const { plan } = this.options;
    await removeStaleTemps(plan.directory, plan.keys.map(fileName), this.clock.now());
    if (!this.options.statusFile) return;
    const previous = await readCredentialsStatus(this.options.statusFile);
    if (!previous || previous.bucket !== plan.bucket || previous.applicationId !== plan.applicationId || previous.directory !== plan.directory) return;
    this.status = { ...this.status, ...(previous.lastSuccessAt ? { lastSuccessAt: previous.lastSuccessAt } : {}) };
    for (const key of plan.keys) {
      const f = previous.files[fileName(key)];
      if (!f || f.key !== key) continue;
      this.status.files[fileName(key)] = {
        key,
        ...(f.lastCurrentAt ? { lastCurrentAt: f.lastCurrentAt } : {}),
        ...(f.lastChangedAt ? { lastChangedAt: f.lastChangedAt } : {}),
      };
      if (f.etag && f.fingerprint) this.known.set(key, { etag: f.etag, fingerprint: f.fingerprint });
    }
  }

  async pass(policy: PassPolicy): Promise<PassResult> {
    let files: FileOutcome[];
    try {
      // Cheap, and a directory removed by hand comes back at the next pass instead of failing forever.
      await ensureCredentialsDir(this.options.plan.directory, this.options.plan.owner);
      files = await Promise.all(this.options.plan.keys.map((key) => this.refreshFile(key, policy)));
    } catch (e) {
      const error = toAgentError(e, 'TPG_CREDENTIALS_FAILED');
      files = this.options.plan.keys.map((key) => ({ file: fileName(key), key, outcome: 'failed' as const, error }));
    }
    const cancelled = policy.signal?.aborted === true;
    const ok = files.every((f) => f.outcome !== 'failed');
    const now = new Date(this.clock.now()).toISOString();
    this.status.lastAttemptAt = now;
    this.status.ok = ok;
    if (ok) this.status.lastSuccessAt = now;
    for (const f of files) {
      const name = fileName(f.key);
      const prev: FileStatus = this.status.files[name] ?? { key: f.key };
      if (f.outcome === 'failed') {
        // A shutdown mid-pass is not a problem with the file; keep what was known.
        if (!cancelled)
          this.status.files[name] = { ...prev, error: { code: f.error.code, message: f.error.message, ...(f.error.hint ? { hint: f.error.hint } : {}) } };
        continue;
      }
      const known = this.known.get(f.key);
      this.status.files[name] = {
        key: f.key,
        etag: f.etag,
        ...(known ? { fingerprint: known.fingerprint } : {}),
        lastCurrentAt: now,
        ...(f.outcome === 'written' ? { lastChangedAt: now } : prev.lastChangedAt ? { lastChangedAt: prev.lastChangedAt } : {}),
      };
    }
    if (this.options.statusFile) {
      await writeCredentialsStatus(this.options.statusFile, this.status).catch((e) =>
        this.options.log.warn({ err: toAgentError(e), file: this.options.statusFile }, 'could not write the credentials status file'),
      );
    }
    return { ok, cancelled, files };
  }

  /** The status as last written (tests, `--once` output). */
  current(): CredentialsStatus {
    return structuredClone(this.status);
  }

  private async refreshFile(key: string, policy: PassPolicy): Promise<FileOutcome> {
    const { plan, store, log } = this.options;
    const file = fileName(key);
    const path = join(plan.directory, file);
    try {
      const local = await fingerprint(path);
      const known = this.known.get(key);
      // Ask "changed since?" only while the local file is still the one that ETag describes.
      const ifNoneMatch = known && sameFingerprint(known.fingerprint, local) ? known.etag : undefined;
      const got = await retry((_attempt, signal) => store.get(plan.bucket, key, { ...(ifNoneMatch ? { ifNoneMatch } : {}), ...(signal ? { signal } : {}) }), {
        attempts: policy.attempts,
        baseMs: policy.baseMs,
        capMs: policy.capMs,
        clock: this.clock,
        ...(policy.signal ? { signal: policy.signal } : {}),
        ...(policy.deadline !== undefined ? { deadline: policy.deadline } : {}),
        onRetry: ({ attempt, delayMs, error }) => log.info({ file, attempt, delayMs, err: toAgentError(error) }, 'retrying credentials download'),
      });
      if (got.status === 'not-modified') return { file, key, outcome: 'not-modified', etag: got.etag };
      const check = isCredentialFile(file) ? checkCredentialFile(file, got.body.reveal()) : { ok: true as const };
      if (!check.ok) {
        throw new AgentError('TPG_CREDENTIALS_INVALID', `s3://${plan.bucket}/${key} ${check.problem}; kept the current ${file}`, {
          hint: 'Mint writes these objects; if this lasts, check the Mint sync of the application (something else may be writing to the bucket)',
          details: { bucket: plan.bucket, key, bytes: got.bytes },
        });
      }
      const outcome = await writeIfChanged(path, got.body, { mode: this.mode, uid: plan.owner.uid, gid: plan.owner.gid });
      const after = await fingerprint(path);
      if (after) this.known.set(key, { etag: got.etag, fingerprint: after });
      if (outcome === 'written') log.info({ file, etag: got.etag, bytes: got.bytes }, `rotated ${file} credentials for ${plan.applicationId}`);
      return { file, key, outcome, etag: got.etag };
    } catch (e) {
      return { file, key, outcome: 'failed', error: toAgentError(e, 'TPG_CREDENTIALS_FAILED') };
    }
  }
}

function fileName(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

/** "user.json: reason; client.json: reason" for the failed files of a pass. */
export function describeFailures(result: PassResult): string {
  return result.files
    .filter((f): f is Extract<FileOutcome, { outcome: 'failed' }> => f.outcome === 'failed')
    .map((f) => `${f.file}: ${f.error.code}: ${f.error.message}`)
    .join('; ');
}
