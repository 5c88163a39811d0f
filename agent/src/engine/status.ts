/*! The boot's status as files: /run/taupage/status.json, rewritten atomically whenever a step
 * starts or ends, and result.json, written once the boot has an outcome (and again when an
 * `after` step such as shutdown ends). `taupage status`, the metrics and people read these.
 *
 * Only secret-free data goes in: ids, hashes, step outcomes, error codes and messages. Every
 * write passes through the plaintext scrubber as a last net. */
import { readFile } from 'node:fs/promises';
import type { Paths } from '../config/paths.js';
import type { Logger } from '../lib/log.js';
import { writeFileAtomic } from '../lib/atomic-write.js';
import { isSecretKey } from '../lib/secret.js';
import type { KeyCoverage, StepPhase } from '../steps/step.js';

export const STATUS_SCHEMA_VERSION = 1;

export type StepOutcome = 'pending' | 'running' | 'success' | 'failed' | 'skipped';

export interface StepStatus {
  id: string;
  title: string;
  phase: StepPhase;
  outcome: StepOutcome;
  /** ISO time the step started (or was decided, for skipped and not-run steps). */
  startedAt?: string;
  durationMs?: number;
  errorCode?: string;
  message?: string;
  /** For people: why skipped, what was done. */
  note?: string;
  /** Succeeded, but this does not work (e.g. a log server that does not answer). */
  warnings?: string[];
}

export interface BootStatus {
  schemaVersion: typeof STATUS_SCHEMA_VERSION;
  bootId: string;
  instanceId?: string;
  /** The AWS region the boot worked in (agent config aws.region, else the instance's); `taupage credentials` reads it. */
  region?: string;
  /** sha256 of the user data as written. */
  configHash?: string;
  agentVersion: string;
  pid: number;
  startedAt: string;
  /** When the boot fails if it has not ended. */
  deadline: string;
  state: 'running' | 'ended';
  endedAt?: string;
  durationMs?: number;
  outcome?: 'success' | 'failed';
  errorCode?: string;
  message?: string;
  imageDigest?: string;
  /** What this image does with the keys the user data sets: applied, ignored (warnings), not applied (the boot fails). */
  keys?: KeyCoverage;
  /** Secret-free facts steps recorded (signal sent, container id, ...). */
  facts: Record<string, string | number | boolean>;
  steps: StepStatus[];
}

export interface StatusWriterOptions {
  scrub: (text: string) => string;
  log: Logger;
}

export class StatusWriter {
  readonly status: BootStatus;
  private chain: Promise<void> = Promise.resolve();
  private dirty = false;
  private warned = false;

  constructor(
    private readonly paths: Paths,
    init: { bootId: string; startedAt: number; deadline: number; agentVersion: string },
    private readonly o: StatusWriterOptions,
  ) {
    this.status = {
      schemaVersion: STATUS_SCHEMA_VERSION,
      bootId: init.bootId,
      agentVersion: init.agentVersion,
      pid: process.pid,
      startedAt: iso(init.startedAt),
      deadline: iso(init.deadline),
      state: 'running',
      facts: {},
      steps: [],
    };
  }

  addStep(id: string, title: string, phase: StepPhase): void {
    if (!this.step(id)) this.status.steps.push({ id, title, phase, outcome: 'pending' });
  }

  started(id: string, at: number): void {
    const s = this.step(id);
    if (!s) return;
    Object.assign(s, { outcome: 'running', startedAt: iso(at) });
    this.save();
  }

  ended(r: {
    id: string;
    outcome: 'success' | 'failed' | 'skipped';
    startedAt: number;
    durationMs: number;
    errorCode?: string;
    message?: string;
    note?: string;
    warnings?: string[];
  }): void {
    const s = this.step(r.id);
    if (!s) return;
    s.outcome = r.outcome;
    s.startedAt = iso(r.startedAt);
    s.durationMs = Math.round(r.durationMs);
    for (const k of ['errorCode', 'message', 'note'] as const) {
      if (r[k] !== undefined) s[k] = this.o.scrub(r[k]);
      else delete s[k];
    }
    if (r.warnings?.length) s.warnings = r.warnings.map((w) => this.o.scrub(w));
    else delete s.warnings;
    this.save();
  }

  /** A fact from a step (ctx.record). Secret-named keys are refused: facts are for anyone to read. */
  record(key: string, value: string | number | boolean): void {
    if (isSecretKey(key)) {
      this.o.log.warn({ key }, `not recording ${key} in the boot status: its name marks it as secret`);
      return;
    }
    const v = typeof value === 'string' ? this.o.scrub(value) : value;
    if (key === 'imageDigest' && typeof v === 'string') this.status.imageDigest = v;
    else this.status.facts[key] = v;
    this.save();
  }

  set(fields: Partial<Pick<BootStatus, 'instanceId' | 'region' | 'configHash' | 'keys'>>): void {
    Object.assign(this.status, fields);
    this.save();
  }

  /** The boot has an outcome: status.json and result.json say so. */
  async finish(end: { at: number; outcome: 'success' | 'failed'; errorCode?: string; message?: string }): Promise<void> {
    Object.assign(this.status, {
      state: 'ended',
      endedAt: iso(end.at),
      durationMs: Math.round(end.at - Date.parse(this.status.startedAt)),
      outcome: end.outcome,
    });
    if (end.errorCode) this.status.errorCode = end.errorCode;
    if (end.message) this.status.message = this.o.scrub(end.message);
    this.save();
    await this.writeResult();
  }

  /** Write result.json (the boot ended, or an `after` step since) beside the latest status.json,
   * the two at once. */
  async writeResult(): Promise<void> {
    await Promise.all([this.flush(), this.write(this.paths.resultFile)]);
  }

  /** Wait until every change so far is on disk. */
  async flush(): Promise<void> {
    await this.chain;
  }

  private step(id: string): StepStatus | undefined {
    return this.status.steps.find((s) => s.id === id);
  }

  /** Queue a write of the latest state; writes never overlap and bursts collapse into one. */
  private save(): void {
    this.dirty = true;
    this.chain = this.chain.then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      await this.write(this.paths.statusFile);
    });
  }

  private async write(file: string): Promise<void> {
    try {
      // Atomic for readers, but not fsynced: /run is tmpfs on an instance, the file lives for one
      // boot, and it is rewritten at every step start and end.
      await writeFileAtomic(file, `${this.o.scrub(JSON.stringify(this.status, null, 2))}\n`, { mode: 0o644, mkdirParents: true, fsync: false });
    } catch (e) {
      if (!this.warned) this.o.log.warn({ err: e, file }, `cannot write the boot status to ${file}`);
      this.warned = true;
    }
  }
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The current boot's status: status.json, else result.json; undefined when neither exists. */
export async function readBootStatus(paths: Paths): Promise<BootStatus | undefined> {
  for (const file of [paths.statusFile, paths.resultFile]) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    return JSON.parse(text) as BootStatus;
  }
  return undefined;
}
