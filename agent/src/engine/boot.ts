/*! One boot, start to end: lock → user data → plans → the step graph (boot, finally, after
 * phases) → status, result, metrics → exit code. The steps and the ports they use are given by
 * the command (cli/boot.ts); this file only runs them.
 *
 * Every way it can fail is recorded in the status and, when the user data names a stack, signalled
 * to CloudFormation by the signal step: invalid or missing user data (its fallback plan), a
 * failed step, a missed deadline, a bug. The only failures that cannot be signalled are those
 * where the stack or the instance id is unknown (the metadata service never answered). */
import type { AgentConfig } from '../config/schema.js';
import type { Paths } from '../config/paths.js';
import type { Logger } from '../lib/log.js';
import { realClock, type Clock } from '../lib/clock.js';
import { ERROR_CODES, EXIT, toAgentError, type ErrorCode } from '../lib/errors.js';
import type { Scrubber } from '../lib/scrub.js';
import type { PortFactory } from '../ports/index.js';
import type { IdentityDocument } from '../ports/imds.js';
import { readBootUserData, type BootUserData } from '../user-data/read.js';
import { formatKeyPath } from '../user-data/validate.js';
import type { UserData } from '../steps/schema.js';
import { VERSION } from '../version.js';
import { checkStepGraph, keyCoverage, type AnyStep, type StepPhase } from '../steps/step.js';
import type { BootContext, EndContext } from '../steps/context.js';
import { planSteps, runPhase, summarize, type PlanOutcome, type StepResult } from './runner.js';
import { StatusWriter, type BootStatus } from './status.js';
import { acquireBootLock, readBootId } from './lock.js';
import { writeMetrics } from './metrics.js';
import { BootServices } from './services.js';

export const USER_DATA_STEP = 'user-data';

export interface BootOptions {
  config: AgentConfig;
  paths: Paths;
  log: Logger;
  /** Registers decrypted plaintexts; the caller's log destination should scrub through it too. */
  scrubber: Scrubber;
  /** The boot graph (steps/index.ts). */
  steps: readonly AnyStep[];
  /** Makes the ports the steps use: adapters/index.ts realPorts(), or a test's. */
  ports: PortFactory;
  clock?: Clock;
  /** When the agent process started (ms since epoch), for the time-to-healthy metric. */
  processStartedAt?: number;
}

export interface BootRun {
  exitCode: number;
  outcome: 'success' | 'failed' | 'already-ran';
  errorCode?: ErrorCode;
  /** One line for people. */
  message: string;
  status?: BootStatus;
}

export async function runBoot(o: BootOptions): Promise<BootRun> {
  checkStepGraph(o.steps);
  const clock = o.clock ?? realClock;
  const startedAt = clock.now();
  const bootId = await readBootId(o.paths);
  const lock = await acquireBootLock(o.paths.bootLock, { bootId, pid: process.pid, startedAt: new Date(startedAt).toISOString() });
  if (!lock.acquired) {
    const h = lock.holder;
    const message = `taupage boot already ran in this boot (boot id ${h.bootId}${h.pid ? `, started ${h.startedAt} by pid ${h.pid}` : ''}); nothing to do. See taupage status; remove ${o.paths.bootLock} to run it again.`;
    o.log.info({ bootId, holder: h }, message);
    return { exitCode: EXIT.OK, outcome: 'already-ran', message };
  }
  const boot = new Boot(o, clock, bootId, startedAt);
  try {
    return await boot.run();
  } finally {
    await boot.services.close();
  }
}

/** One boot's state: its deadlines, status, results so far, and the services its steps share. */
class Boot {
  readonly services: BootServices;
  private readonly status: StatusWriter;
  private readonly results = new Map<string, StepResult>();
  /** The whole boot ends (and has signalled) by this; boot steps end by mainDeadline, keeping a reserve for the signal. */
  private readonly deadline: number;
  private readonly mainDeadline: number;
  private readonly deadlineName: string;
  private identity?: IdentityDocument;
  private region?: string;
  /** The finally phase ran (the signal went out, or was tried). */
  private finallyRan = false;

  constructor(
    private readonly o: BootOptions,
    private readonly clock: Clock,
    private readonly bootId: string,
    private readonly startedAt: number,
  ) {
    const { boot } = o.config;
    this.deadline = startedAt + boot.deadline_seconds * 1000;
    this.mainDeadline = this.deadline - Math.min(boot.signal_reserve_seconds * 1000, (boot.deadline_seconds * 1000) / 4);
    this.deadlineName = `the boot deadline (${boot.deadline_seconds} s)`;
    this.status = new StatusWriter(o.paths, { bootId, startedAt, deadline: this.deadline, agentVersion: VERSION }, { scrub: (t) => this.scrub(t), log: o.log });
    this.services = new BootServices({ factory: o.ports, log: o.log, scrubber: o.scrubber, notAfter: this.mainDeadline });
  }

  async run(): Promise<BootRun> {
    const { status, o } = this;
    status.addStep(USER_DATA_STEP, 'Read and validate the user data', 'boot');
    o.log.info({ bootId: this.bootId, deadline: new Date(this.deadline).toISOString(), version: VERSION }, `boot ${this.bootId} started`);
    let ud: BootUserData | undefined;
    let resultWritten = false;
    try {
      // 1. The user data and who we are.
      ud = await this.userData();
      if (!ud.ok) {
        await this.runFinally(this.fallbackPlans(ud.document));
        return await this.finish();
      }

      // 2. The graph: plans first (pure), then effects.
      const settings = ud.settings;
      const plans = planSteps(o.steps, { settings, config: o.config, paths: o.paths }, new Set(ud.keys));
      const keys = keyCoverage(
        o.steps,
        ud.keys,
        ud.warnings.map((w) => formatKeyPath(w.path)),
      );
      status.set({ keys });
      o.log.info(
        { keys },
        `this image applies ${keys.applied.length} of the keys the user data sets${keys.ignored.length ? `, ignores ${keys.ignored.join(', ')}` : ''}${keys.notApplied.length ? `, cannot apply ${keys.notApplied.join(', ')}` : ''}`,
      );
      for (const s of o.steps) status.addStep(s.id, s.title, s.phase ?? 'boot');
      await status.flush();
      if (settings.notify_cfn) this.services.warmStackSignal();
      const kmsValues = this.services.prefetch(settings);
      if (kmsValues) o.log.info({ values: kmsValues }, `decrypting ${kmsValues} aws:kms: value(s)`);
      await this.phase('boot', o.steps, plans, this.mainDeadline, settings);
      await this.runFinally(plans);
      const run = await this.finish();
      resultWritten = true;

      // 3. After a successful boot: batch shutdown waits for the application, without a deadline.
      await this.phase('after', o.steps, plans, undefined, undefined, run.outcome === 'success' ? undefined : 'the boot failed');
      await status.writeResult();
      return this.withAfterFailure(run);
    } catch (e) {
      // A bug, or the host refusing something the agent cannot do without: still record it and,
      // unless the outcome was already told, tell CloudFormation.
      if (resultWritten) throw e;
      const err = toAgentError(e);
      o.log.error({ err }, `the boot stopped on an unexpected error: ${err.message}`);
      status.addStep('agent', 'The taupage agent itself', 'boot');
      this.ended({ id: 'agent', outcome: 'failed', startedAt: this.clock.now(), durationMs: 0, errorCode: err.code, message: this.scrub(err.message) });
      if (!this.finallyRan) await this.runFinally(this.fallbackPlans(ud?.ok ? ud.settings : ud?.document));
      return await this.finish();
    }
  }

  /** The user-data step: read and check the document, learn who we are, and bind the ports to the region. */
  private async userData(): Promise<BootUserData> {
    const { status, o } = this;
    status.started(USER_DATA_STEP, this.startedAt);
    const ud = await readBootUserData(this.services.imds, o.paths, o.log);
    if (ud.identity) {
      this.identity = ud.identity;
      // The region, worked out once: the agent config's override, else the instance's.
      this.region = o.config.aws.region ?? ud.identity.region;
      status.set({ instanceId: ud.identity.instanceId, region: this.region });
      this.services.bind(this.region);
    }
    if (ud.configHash) status.set({ configHash: ud.configHash });
    const durationMs = this.clock.now() - this.startedAt;
    if (ud.ok) {
      const note = ud.warnings.length ? { note: `${ud.warnings.length} warning(s); see the log` } : {};
      this.ended({ id: USER_DATA_STEP, outcome: 'success', startedAt: this.startedAt, durationMs, ...note });
    } else {
      o.log.error({ step: USER_DATA_STEP, errorCode: ud.error.code, err: ud.error }, ud.error.message);
      const { code, message } = ud.error;
      this.ended({ id: USER_DATA_STEP, outcome: 'failed', startedAt: this.startedAt, durationMs, errorCode: code, message, error: ud.error });
    }
    return ud;
  }

  /**
   * Plans for the finally steps of a boot without valid settings (each step's fallback, from what
   * could be read of the document). Nothing runs when the instance is unknown: a signal needs its id.
   */
  private fallbackPlans(document: unknown): Map<string, PlanOutcome> {
    const plans = new Map<string, PlanOutcome>();
    if (!this.identity) return plans;
    for (const s of this.o.steps) {
      const plan = s.fallback?.(document) ?? null;
      if (plan) plans.set(s.id, { plan });
    }
    return plans;
  }

  /** The finally phase (the CloudFormation signal), in the time kept back for it. */
  private async runFinally(plans: ReadonlyMap<string, PlanOutcome>): Promise<void> {
    this.finallyRan = true;
    // Without settings only the steps with a fallback plan run, and only they join the status.
    const steps = this.o.steps.filter((s) => s.phase === 'finally' && plans.has(s.id));
    for (const s of steps) this.status.addStep(s.id, s.title, 'finally');
    await this.phase('finally', steps, plans, this.deadline);
  }

  private phase(
    p: StepPhase,
    steps: readonly AnyStep[],
    plans: ReadonlyMap<string, PlanOutcome>,
    deadline: number | undefined,
    settings?: UserData,
    skipAll?: string,
  ): Promise<void> {
    return runPhase<BootContext | EndContext>({
      phase: p,
      steps,
      plans,
      results: this.results,
      context: (step, signal) => this.context(step, signal, deadline ?? Number.POSITIVE_INFINITY, settings),
      ...(deadline !== undefined ? { deadline } : {}),
      deadlineName: this.deadlineName,
      ...(skipAll ? { skipAll } : {}),
      clock: this.clock,
      log: this.o.log,
      scrub: (t) => this.scrub(t),
      onStart: (id, at) => this.status.started(id, at),
      onEnd: (r) => this.status.ended(r),
    });
  }

  /** What a step's effects receive; `settings` only where the user data validated. */
  private context(step: AnyStep, signal: AbortSignal, deadline: number, settings?: UserData): BootContext | EndContext {
    const { o, services, status } = this;
    const ctx: EndContext = {
      config: o.config,
      paths: o.paths,
      facts: { bootId: this.bootId, instance: this.identity!, region: this.region! },
      log: o.log.child({ step: step.id }),
      signal,
      deadline,
      ports: services.ports,
      decrypt: (v) => services.decrypt(v, signal),
      record: (k, v) => status.record(k, v),
      outcome: () => summarize(this.results.values()),
    };
    return settings ? { ...ctx, settings } : ctx;
  }

  private ended(r: StepResult): void {
    this.results.set(r.id, r);
    this.status.ended(r);
  }

  private scrub(text: string): string {
    return this.o.scrubber.scrub(text);
  }

  /** The outcome so far into status.json, result.json and the metrics; one line for people. */
  private async finish(): Promise<BootRun> {
    const { status, o } = this;
    const outcome = summarize(this.results.values());
    if (outcome.message) outcome.message = this.scrub(outcome.message);
    const at = this.clock.now();
    await status.finish({
      at,
      outcome: outcome.outcome,
      ...(outcome.errorCode ? { errorCode: outcome.errorCode } : {}),
      ...(outcome.message ? { message: outcome.message } : {}),
    });
    try {
      await writeMetrics(o.paths, status.status, o.processStartedAt ?? this.startedAt);
    } catch (e) {
      o.log.warn({ err: e, file: o.paths.metricsFile }, 'cannot write the boot metrics');
    }
    const seconds = ((at - this.startedAt) / 1000).toFixed(2);
    const s = status.status;
    if (outcome.outcome === 'success') {
      const message = `boot ${s.bootId} succeeded in ${seconds} s`;
      o.log.info({ outcome: 'success', durationMs: s.durationMs, instanceId: s.instanceId }, message);
      return { exitCode: EXIT.OK, outcome: 'success', message, status: s };
    }
    const code = outcome.errorCode ?? 'TPG_BOOT_FAILED';
    const signalNote =
      s.facts.signal === undefined
        ? 'no CloudFormation signal: no notify_cfn known'
        : s.facts.signalSent
          ? `CloudFormation signalled ${String(s.facts.signal)}`
          : 'the CloudFormation signal failed';
    const message = `boot ${s.bootId} failed after ${seconds} s: ${outcome.message} (${code}; ${signalNote})`;
    o.log.error({ outcome: 'failed', errorCode: code, failedSteps: outcome.failedSteps, durationMs: s.durationMs }, message);
    return { exitCode: ERROR_CODES[code].exit, outcome: 'failed', errorCode: code, message, status: s };
  }

  /** A failed `after` step (shutdown) does not change the boot's outcome, but the exit code says so. */
  private withAfterFailure(run: BootRun): BootRun {
    const failure = this.o.steps
      .filter((s) => s.phase === 'after')
      .map((s) => this.results.get(s.id))
      .find((r) => r?.outcome === 'failed');
    if (!failure || run.outcome !== 'success') return run;
    return {
      ...run,
      exitCode: ERROR_CODES[failure.errorCode ?? 'TPG_INTERNAL'].exit,
      errorCode: failure.errorCode!,
      message: this.scrub(`${run.message}; then ${failure.id} failed: ${failure.message}`),
    };
  }
}
