/*! One boot, start to end: lock → user data → plans → the step graph (boot, finally, after
 * phases) → status, result, metrics → exit code. The steps and the ports they use are given by
 * the command (cli/boot.ts); this file only runs them.
 *
 * Every way it can fail is recorded in the status and, when the user data names a stack, signalled
 * to CloudFormation by the signal step: invalid or missing user data (its fallback plan), a
 * failed step, a missed deadline, a bug, SIGTERM (`stop`: the steps are stopped, the status says
 * TPG_BOOT_INTERRUPTED, FAILURE goes out within INTERRUPT_SIGNAL_MS and the lock is released so
 * the next boot runs again). The only failures that cannot be signalled are those where the stack
 * or the instance id is unknown (the metadata service never answered).
 *
 * Deadlines: the boot steps end by `deadline_seconds` minus the signal reserve (the messages name
 * that number), the signal by `deadline_seconds`. The signals the steps get carry their deadline
 * (lib/retry), so every retry loop in every client ends by then.
 *
 * A boot that fails after the application container started leaves the container as it is (the
 * original did the same): CloudFormation's FAILURE replaces the instance, and until then the team
 * can look at the application (docker logs, its health endpoint); stopping a container that is
 * healthy because only the signal failed would turn a reboot into an outage. The status says so
 * (fact `applicationContainer`). */
import type { AgentConfig } from '../config/schema.js';
import type { Paths } from '../config/paths.js';
import type { Logger } from '../lib/log.js';
import { realClock, type Clock } from '../lib/clock.js';
import { AgentError, ERROR_CODES, EXIT, toAgentError, type ErrorCode } from '../lib/errors.js';
import { deadlineSignal, untilAborted } from '../lib/retry.js';
import type { Scrubber } from '../lib/scrub.js';
import type { PortFactory } from '../ports/index.js';
import type { IdentityDocument } from '../ports/imds.js';
import { keepBootUserData, readBootUserData, type BootUserData } from '../user-data/read.js';
import { formatKeyPath } from '../user-data/validate.js';
import type { UserData } from '../steps/schema.js';
import { VERSION } from '../version.js';
import { checkStepGraph, keyCoverage, type AnyStep, type StepPhase } from '../steps/step.js';
import type { BootContext, EndContext } from '../steps/context.js';
import { planSteps, runPhase, summarize, type PlanOutcome, type StepResult } from './runner.js';
import { StatusWriter, type BootStatus } from './status.js';
import { acquireBootLock, markBootLockFinished, readBootId, releaseBootLock, type LockHolder } from './lock.js';
import { writeMetrics } from './metrics.js';
import { BootServices } from './services.js';

export const USER_DATA_STEP = 'user-data';
/** After SIGTERM the FAILURE signal goes out within this long (systemd's TimeoutStopSec is larger). */
export const INTERRUPT_SIGNAL_MS = 10_000;
/** After a deadline or SIGTERM, running steps get this long to fail with their own reason. */
const SETTLE_MS = 1_000;
/** How long the container's trust check has the agent's thread to itself before the other boot
 * steps start (they start sooner once the pull is the engine's; engine/runner.ts). */
const HEAD_START_MS = 200;

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
  /** Aborts when the process is told to stop (SIGTERM, SIGINT); its reason is an AgentError TPG_BOOT_INTERRUPTED. */
  stop?: AbortSignal;
}

export interface BootRun {
  exitCode: number;
  outcome: 'success' | 'failed' | 'already-ran' | 'interrupted';
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
  const holder: LockHolder = { bootId, pid: process.pid, startedAt: new Date(startedAt).toISOString() };
  const lock = await acquireBootLock(o.paths.bootLock, holder);
  if (!lock.acquired) {
    const h = lock.holder;
    const message =
      lock.state === 'running'
        ? `another taupage boot is running in this boot (pid ${h.pid}, started ${h.startedAt}); nothing to do. See taupage status --wait.`
        : `taupage boot already ran in this boot (boot id ${h.bootId}${h.pid ? `, started ${h.startedAt} by pid ${h.pid}` : ''}); nothing to do. See taupage status; remove ${o.paths.bootLock} to run it again.`;
    o.log.info({ bootId, holder: h }, message);
    return { exitCode: EXIT.OK, outcome: 'already-ran', message };
  }
  if (lock.tookOverFrom)
    o.log.warn(
      { bootId, holder: lock.tookOverFrom },
      `the taupage boot started ${lock.tookOverFrom.startedAt} by pid ${lock.tookOverFrom.pid} ended without finishing (killed?); running the boot again`,
    );
  const boot = new Boot(o, clock, bootId, startedAt);
  try {
    const run = await boot.run();
    // Interrupted: the next boot (systemd starting the unit again) runs again. Otherwise it ran.
    if (run.outcome === 'interrupted') await releaseBootLock(o.paths.bootLock, holder).catch(() => undefined);
    else await markBootLockFinished(o.paths.bootLock, holder, new Date(clock.now()).toISOString()).catch(() => undefined);
    return run;
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
  /** How each deadline is named in messages: the number of seconds the steps really had. */
  private readonly deadlineName: string;
  private readonly mainDeadlineName: string;
  /** Carries mainDeadline and SIGTERM to what runs outside the phases (the user data read, KMS prefetch). */
  private readonly bootSignal: { signal: AbortSignal; dispose(): void };
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
    const reserveMs = Math.min(boot.signal_reserve_seconds * 1000, (boot.deadline_seconds * 1000) / 4);
    this.deadline = startedAt + boot.deadline_seconds * 1000;
    this.mainDeadline = this.deadline - reserveMs;
    this.deadlineName = `the boot deadline (${boot.deadline_seconds} s)`;
    this.mainDeadlineName = `the boot steps' deadline (${seconds(this.mainDeadline - startedAt)} s: boot.deadline_seconds ${boot.deadline_seconds} minus ${seconds(reserveMs)} s kept for the CloudFormation signal)`;
    this.bootSignal = deadlineSignal(this.mainDeadline, {
      clock,
      reason: () => new AgentError('TPG_BOOT_DEADLINE', `${this.mainDeadlineName} passed`),
      ...(o.stop ? { parent: o.stop } : {}),
    });
    this.status = new StatusWriter(o.paths, { bootId, startedAt, deadline: this.deadline, agentVersion: VERSION }, { scrub: (t) => this.scrub(t), log: o.log });
    this.services = new BootServices({
      factory: o.ports,
      log: o.log,
      scrubber: o.scrubber,
      notAfter: this.mainDeadline,
      signal: this.bootSignal.signal,
      clock,
    });
  }

  /** SIGTERM arrived (and what it said), or undefined. */
  private get interrupted(): AgentError | undefined {
    const r = this.o.stop?.aborted ? this.o.stop.reason : undefined;
    return r === undefined ? undefined : r instanceof AgentError ? r : new AgentError('TPG_BOOT_INTERRUPTED', 'the boot was interrupted');
  }

  async run(): Promise<BootRun> {
    try {
      return await this.runSteps();
    } finally {
      this.bootSignal.dispose();
    }
  }

  private async runSteps(): Promise<BootRun> {
    const { status, o } = this;
    status.addStep(USER_DATA_STEP, 'Read and validate the user data', 'boot');
    o.log.info({ bootId: this.bootId, deadline: new Date(this.deadline).toISOString(), version: VERSION }, `boot ${this.bootId} started`);
    let ud: BootUserData | undefined;
    let read: Awaited<ReturnType<Boot['userData']>> | undefined;
    let resultWritten = false;
    try {
      // 1. The user data and who we are.
      read = await this.userData();
      ud = read.ud;
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
        ud.warnings.map((w) => ({ code: w.code, key: formatKeyPath(w.path) })),
      );
      status.set({ keys });
      o.log.info(
        { keys },
        `this image applies ${keys.applied.length} of the keys the user data sets${keys.ignored.length ? `, ignores ${keys.ignored.join(', ')}` : ''}${keys.notApplied.length ? `, cannot apply ${keys.notApplied.join(', ')}` : ''}`,
      );
      // In status.json with the next write (the first step's start); nothing waits for it.
      for (const s of o.steps) status.addStep(s.id, s.title, s.phase ?? 'boot');
      // With the other steps, after the container's head start (engine/runner.ts): the KMS values
      // every step may need, and the CloudFormation client, ready for the signal at the end.
      const othersStart = () => {
        if (settings.notify_cfn) this.services.warmStackSignal();
        const kmsValues = this.services.prefetch(settings, this.bootSignal.signal);
        if (kmsValues) o.log.info({ values: kmsValues }, `decrypting ${kmsValues} aws:kms: value(s)`);
      };
      await this.phase('boot', o.steps, plans, this.mainDeadline, settings, undefined, othersStart, read.kept);
      // The user-data step's end is recorded before the boot's outcome is worked out.
      await read.kept;
      await this.runFinally(plans);
      const run = await this.finish();
      resultWritten = true;
      if (run.outcome === 'interrupted') return run;

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
      // The user-data step still being kept ends first (bounded by the boot's deadline).
      await read?.kept;
      if (!this.finallyRan) await this.runFinally(this.fallbackPlans(ud?.ok ? ud.settings : ud?.document));
      return await this.finish();
    }
  }

  /**
   * The user-data step: read and check the document, learn who we are, and bind the ports to the
   * region. A valid document is still being written to /meta/taupage.yaml when this returns
   * (`kept`, the boot phase's gate: the container's trust check and pull begin meanwhile, nothing
   * else starts before it is written); the step ends then.
   */
  private async userData(): Promise<{ ud: BootUserData; kept?: Promise<AgentError | undefined> }> {
    const { status, o } = this;
    status.started(USER_DATA_STEP, this.startedAt);
    const signal = this.bootSignal.signal;
    // Read with the identity, for the Pier One login (cached; a failure is the container step's to report).
    this.services.imds.identitySignature(signal).catch(() => undefined);
    let ud = await readBootUserData(this.services.imds, o.log, signal);
    if (ud.identity) {
      this.identity = ud.identity;
      // The region, worked out once: the agent config's override, else the instance's.
      this.region = o.config.aws.region ?? ud.identity.region;
      status.set({ instanceId: ud.identity.instanceId, region: this.region });
      this.services.bind(this.region);
    }
    const interrupted = this.interrupted;
    if (!ud.ok && interrupted) ud = { ...ud, error: interrupted };
    if (ud.configHash) status.set({ configHash: ud.configHash });
    if (!ud.ok) {
      this.userDataEnded(ud.error);
      return { ud };
    }
    const warnings = ud.warnings.length;
    // Bounded by the boot's deadline like every step: a write that hangs ends the step with it.
    const kept = untilAborted(keepBootUserData(ud.text, o.paths), signal)
      .catch((e: unknown) => toAgentError(e))
      .then((error) => {
        this.userDataEnded(error, warnings);
        return error;
      });
    return { ud, kept };
  }

  private userDataEnded(error: AgentError | undefined, warnings = 0): void {
    const durationMs = this.clock.now() - this.startedAt;
    if (!error) {
      const note = warnings ? { note: `${warnings} warning(s); see the log` } : {};
      this.ended({ id: USER_DATA_STEP, outcome: 'success', startedAt: this.startedAt, durationMs, ...note });
    } else {
      this.o.log.error({ step: USER_DATA_STEP, errorCode: error.code, err: error }, error.message);
      this.ended({ id: USER_DATA_STEP, outcome: 'failed', startedAt: this.startedAt, durationMs, errorCode: error.code, message: error.message, error });
    }
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

  /** The finally phase (the CloudFormation signal), in the time kept back for it; after SIGTERM, within INTERRUPT_SIGNAL_MS. */
  private async runFinally(plans: ReadonlyMap<string, PlanOutcome>): Promise<void> {
    this.finallyRan = true;
    // Without settings only the steps with a fallback plan run, and only they join the status.
    const steps = this.o.steps.filter((s) => s.phase === 'finally' && plans.has(s.id));
    for (const s of steps) this.status.addStep(s.id, s.title, 'finally');
    const deadline = this.interrupted ? Math.min(this.deadline, this.clock.now() + INTERRUPT_SIGNAL_MS) : this.deadline;
    await this.phase('finally', steps, plans, deadline);
  }

  private phase(
    p: StepPhase,
    steps: readonly AnyStep[],
    plans: ReadonlyMap<string, PlanOutcome>,
    deadline: number | undefined,
    settings?: UserData,
    skipAll?: string,
    onHeadStartOver?: () => void,
    gate?: Promise<AgentError | undefined>,
  ): Promise<void> {
    return runPhase<BootContext | EndContext>({
      phase: p,
      steps,
      plans,
      results: this.results,
      context: (step, signal) => this.context(step, signal, deadline ?? Number.POSITIVE_INFINITY, settings),
      ...(deadline !== undefined ? { deadline } : {}),
      deadlineName: p === 'boot' ? this.mainDeadlineName : this.deadlineName,
      // SIGTERM stops the boot's steps and the wait after it, never the signal that reports it.
      ...(this.o.stop && p !== 'finally' ? { stop: this.o.stop } : {}),
      // Inside the signal reserve, and small beside it, so the signal still goes out in time.
      settleMs: p === 'boot' ? Math.min(SETTLE_MS, (this.deadline - this.mainDeadline) / 4) : 0,
      ...(skipAll ? { skipAll } : {}),
      ...(onHeadStartOver ? { headStartMs: HEAD_START_MS, onHeadStartOver } : {}),
      ...(gate ? { gate } : {}),
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
    const interrupted = this.interrupted;
    if (interrupted && outcome.outcome === 'failed') {
      // The boot was stopped: that is its outcome, whatever step it stopped.
      if (outcome.errorCode !== interrupted.code) outcome.message = `${interrupted.message}; ${outcome.message}`;
      outcome.errorCode = interrupted.code;
      status.record('interrupted', true);
    }
    if (outcome.message) outcome.message = this.scrub(outcome.message);
    if (outcome.outcome === 'failed' && status.status.facts.container !== undefined) {
      // Decided in the file comment: a failed boot leaves the application container as it is.
      status.record('applicationContainer', 'left as it is: a failed boot does not stop the application container');
      outcome.message = `${outcome.message}; the application container was left as it is (docker logs taupageapp)`;
    }
    const at = this.clock.now();
    // status.json, result.json and the metrics at once (finish() has ended the status before its first await).
    await Promise.all([
      status.finish({
        at,
        outcome: outcome.outcome,
        ...(outcome.errorCode ? { errorCode: outcome.errorCode } : {}),
        ...(outcome.message ? { message: outcome.message } : {}),
      }),
      writeMetrics(o.paths, status.status, o.processStartedAt ?? this.startedAt).catch((e: unknown) =>
        o.log.warn({ err: e, file: o.paths.metricsFile }, 'cannot write the boot metrics'),
      ),
    ]);
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
    return { exitCode: ERROR_CODES[code].exit, outcome: interrupted ? 'interrupted' : 'failed', errorCode: code, message, status: s };
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

/** Milliseconds as whole seconds, or with one decimal when not whole. */
function seconds(ms: number): string {
  return Number.isInteger(ms / 1000) ? String(ms / 1000) : (ms / 1000).toFixed(1);
}

/**
 * A boot that could not start (its agent config is invalid) still leaves a status record, so
 * `taupage status` and the metrics say what happened instead of "no boot yet". There is no
 * signal: without a config the agent does not know how to reach CloudFormation.
 */
export async function recordFailedStart(paths: Paths, error: AgentError, o: { log: Logger; clock?: Clock }): Promise<void> {
  const clock = o.clock ?? realClock;
  const at = clock.now();
  const status = new StatusWriter(
    paths,
    { bootId: await readBootId(paths), startedAt: at, deadline: at, agentVersion: VERSION },
    { scrub: (t) => t, log: o.log },
  );
  status.addStep('agent-config', 'Load the agent config', 'boot');
  status.ended({ id: 'agent-config', outcome: 'failed', startedAt: at, durationMs: 0, errorCode: error.code, message: error.message });
  status.record('signal', 'none: the agent config is invalid, so CloudFormation cannot be reached');
  await status.finish({ at, outcome: 'failed', errorCode: error.code, message: error.message });
}
