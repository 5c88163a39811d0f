/*! Runs the boot graph of steps/index.ts, one phase at a time (see StepPhase in step.ts).
 *
 * Within a phase, every step whose needs have ended starts at once, so independent steps run
 * concurrently. In the `boot` phase a failed need fails its dependents (TPG_DEPENDENCY_FAILED);
 * in `finally` and `after`, needs only order steps, so the signal goes out whatever happened
 * before it. A step with nothing to do (plan null) is "skipped" with a note, and counts as done for
 * its dependents. A step without effects in this image (no apply) fails with TPG_NOT_APPLIED when
 * the user data sets one of its keys, and is skipped ("not asked for") otherwise: a boot never
 * reports success for something it was asked to do and did not.
 *
 * A step with a prepare (the container: trust check and pull) starts it with the phase, before
 * its needs have ended; its apply waits for them and gets what prepare made. A prepare that fails
 * fails its step at once; a need that fails stops the prepare (its signal aborts) and the step
 * fails with TPG_DEPENDENCY_FAILED once the prepare has ended, so nothing of it runs on.
 * The prepares get a head start (`headStartMs`): the other steps start once every prepare has
 * handed its long wait to someone else (the pull is the engine's: Step.prepare's `underway`),
 * has ended, or the head start is over, and once the phase's `gate` passed (the boot's user data
 * written to /meta meanwhile; a gate that fails stops the phase). The agent is one thread: what the other steps compute
 * (loading the S3 client, spawning rsyslogd) would otherwise delay the trust check's answer and
 * the pull's start, which is what the application waits for; while the engine pulls, the thread
 * is free for them.
 *
 * At the phase deadline (or when `stop` fires: SIGTERM) the phase's AbortSignal fires and steps
 * not yet started are recorded as failed with TPG_BOOT_DEADLINE (TPG_BOOT_INTERRUPTED). Steps
 * still running get `settleMs` to end with their own error, which says what they were waiting
 * for (KMS did not answer, ...); those that do not are recorded with the deadline's code. The
 * phase ends then, without waiting for steps that ignore the signal, so the boot can still signal
 * CloudFormation in time. The phase's signal carries its deadline (lib/retry deadlineSignal), so
 * every retry loop under it stops by then without being told. */
import { AgentError, toAgentError, type ErrorCode } from '../lib/errors.js';
import { anySignal, markDeadline } from '../lib/retry.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/log.js';
import { keysAskedOf, type AnyStep, type PlanInput, type StepPhase, type StepPlan, type StepReport } from '../steps/step.js';
import type { BootOutcome } from '../steps/context.js';

export const NOT_ASKED_NOTE = 'not asked for (this image does not apply it yet)';
export const NOTHING_TO_DO_NOTE = 'nothing to do';

export interface StepResult {
  id: string;
  outcome: 'success' | 'failed' | 'skipped';
  /** Clock ms. */
  startedAt: number;
  durationMs: number;
  errorCode?: ErrorCode;
  message?: string;
  note?: string;
  /** Succeeded, but not all of it works (StepReport.warnings). */
  warnings?: string[];
  /** The error itself, for logs (not written to the status). */
  error?: AgentError;
}

/** A step's plan; `note` says why a null plan skips the step. */
export type PlanOutcome = { plan: StepPlan | null; note?: string } | { error: AgentError };

/**
 * Every step's plan, decided by pure code before anything runs; a planner that throws fails its
 * step. `written`: the top-level keys the user data sets. A step without effects in this image
 * fails (TPG_NOT_APPLIED) when one of its keys is set, and is skipped otherwise.
 */
export function planSteps(steps: readonly AnyStep[], input: PlanInput, written: ReadonlySet<string> = new Set()): Map<string, PlanOutcome> {
  const plans = new Map<string, PlanOutcome>();
  for (const s of steps) {
    if (!s.apply && (s.phase ?? 'boot') === 'boot') {
      plans.set(s.id, notApplied(s, written));
      continue;
    }
    try {
      plans.set(s.id, { plan: s.plan(input) as StepPlan | null });
    } catch (e) {
      const err = toAgentError(e);
      plans.set(s.id, { error: new AgentError(err.code, `planning failed: ${err.message}`, { cause: err, ...(err.hint ? { hint: err.hint } : {}) }) });
    }
  }
  return plans;
}

function notApplied(s: AnyStep, written: ReadonlySet<string>): PlanOutcome {
  const asked = keysAskedOf(s, written);
  if (!asked.length) return { plan: null, note: NOT_ASKED_NOTE };
  return {
    error: new AgentError(
      'TPG_NOT_APPLIED',
      `the user data sets ${asked.join(', ')}, which this image does not apply (${s.title.toLowerCase()}: not implemented yet); the boot fails rather than run without it`,
      {
        hint: `remove ${asked.length > 1 ? 'these keys' : 'this key'} or use an image that applies ${asked.length > 1 ? 'them' : 'it'}; \`taupage plan\` lists the keys this image applies and ignores`,
        retriable: false,
        details: { keys: asked },
      },
    ),
  };
}

/** A step whose prepare runs: what it will hand to apply, how it is stopped when a need fails,
 * and the context prepare and apply share. */
interface Preparing<C> {
  result: Promise<unknown>;
  abandon: AbortController;
  ctx: C;
  startedAt: number;
  /** waiting: for its needs; applying: they succeeded; abandoned: one failed. */
  stage: 'waiting' | 'applying' | 'abandoned';
}

export interface PhaseOptions<C> {
  phase: StepPhase;
  /** The whole graph; the phase's steps are picked from it. */
  steps: readonly AnyStep[];
  plans: ReadonlyMap<string, PlanOutcome>;
  /** Results so far, shared across phases; this phase adds its own. */
  results: Map<string, StepResult>;
  context(step: AnyStep, signal: AbortSignal): C;
  /** Clock ms at which the phase is cut short; none: no deadline. */
  deadline?: number;
  /** How the deadline is named in messages, e.g. "the boot deadline (600 s)". */
  deadlineName?: string;
  /** Stops the phase like its deadline, with this signal's reason (an AgentError: SIGTERM). */
  stop?: AbortSignal;
  /** Besides the head start, what the steps without a prepare wait for (a boot: its user data kept
   * in /meta): nothing, or the error that stops the phase at once, the prepares too. */
  gate?: Promise<AgentError | undefined>;
  /** After the deadline or a stop, how long running steps get to end with their own error (default 0). */
  settleMs?: number;
  /** End every step of the phase as skipped with this note, running nothing. */
  skipAll?: string;
  clock: Clock;
  log: Logger;
  /** Applied to messages and notes before they are kept (the plaintext scrubber). */
  scrub?: (text: string) => string;
  onStart?(id: string, at: number): void;
  onEnd?(result: StepResult): void;
  /** At most this long after the phase starts, the steps without a prepare start (default 0: at once). */
  headStartMs?: number;
  /** When the head start is over and the other steps start (also when there was none). */
  onHeadStartOver?(): void;
}

const noop = () => undefined;

export function runPhase<C>(o: PhaseOptions<C>): Promise<void> {
  const mine = o.steps.filter((s) => (s.phase ?? 'boot') === o.phase);
  const ids = new Set(mine.map((s) => s.id));
  const waiting = new Set(ids);
  const running = new Map<string, number>();
  const controller = new AbortController();
  const preparing = new Map<string, Preparing<C>>();
  if (o.deadline !== undefined) markDeadline(controller.signal, o.deadline);
  const deadlineName = o.deadlineName ?? 'the boot deadline';

  return new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    /** Set once the deadline passed or the phase was stopped: what cut it, and how running steps end. */
    let cut: { reason: AgentError; runningMessage: string; settleTimer?: NodeJS.Timeout } | undefined;
    const finish = () => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      if (cut?.settleTimer) clearTimeout(cut.settleTimer);
      o.stop?.removeEventListener('abort', onStop);
      resolve();
    };

    const end = (r: StepResult) => {
      running.delete(r.id);
      if (o.scrub) {
        if (r.message !== undefined) r.message = o.scrub(r.message);
        if (r.note !== undefined) r.note = o.scrub(r.note);
        if (r.warnings) r.warnings = r.warnings.map(o.scrub);
      }
      o.results.set(r.id, r);
      const fields = {
        step: r.id,
        outcome: r.outcome,
        durationMs: Math.round(r.durationMs),
        ...(r.errorCode ? { errorCode: r.errorCode } : {}),
        ...(r.note ? { note: r.note } : {}),
      };
      if (r.outcome === 'failed') o.log.error({ ...fields, ...(r.error ? { err: r.error } : {}) }, `step ${r.id} failed: ${r.message}`);
      else o.log.info(fields, `step ${r.id} ${r.outcome === 'success' ? 'succeeded' : `skipped: ${r.note}`}`);
      for (const w of r.warnings ?? []) o.log.warn({ step: r.id }, `step ${r.id}: ${w}`);
      o.onEnd?.(r);
    };

    /** A running step's own failure; after a cut, said with what cut it unless the error already says so. */
    const failedRun = (id: string, startedAt: number, e: unknown): StepResult => {
      const err = toAgentError(e);
      const now = o.clock.now();
      if (!cut) return { id, outcome: 'failed', startedAt, durationMs: now - startedAt, errorCode: err.code, message: err.message, error: err };
      // The cut's own reason, or a bare cancellation, says nothing more than the cut.
      if (err === cut.reason || err.code === 'TPG_CANCELLED' || err.code === cut.reason.code)
        return { id, outcome: 'failed', startedAt, durationMs: now - startedAt, errorCode: cut.reason.code, message: cut.runningMessage, error: err };
      // Stopped from outside (SIGTERM): that is what happened to the step; what it was doing is the detail.
      if (cut.reason.code === 'TPG_BOOT_INTERRUPTED')
        return {
          id,
          outcome: 'failed',
          startedAt,
          durationMs: now - startedAt,
          errorCode: cut.reason.code,
          message: `${cut.runningMessage} (it was at: ${err.message})`,
          error: err,
        };
      const message = /deadline|interrupted|SIGTERM|SIGINT/i.test(err.message) ? err.message : `${err.message} (${cut.runningMessage})`;
      return { id, outcome: 'failed', startedAt, durationMs: now - startedAt, errorCode: err.code, message, error: err };
    };

    /** The result of a step that does not run (skipped, or failed before it starts); undefined when it runs. */
    const outright = (s: AnyStep, now: number): StepResult | undefined => {
      const planned = o.plans.get(s.id) ?? { plan: null };
      if ('plan' in planned && planned.plan === null)
        return { id: s.id, outcome: 'skipped', startedAt: now, durationMs: 0, note: planned.note ?? NOTHING_TO_DO_NOTE };
      if (o.skipAll) return { id: s.id, outcome: 'skipped', startedAt: now, durationMs: 0, note: o.skipAll };
      if ('error' in planned)
        return {
          id: s.id,
          outcome: 'failed',
          startedAt: now,
          durationMs: 0,
          errorCode: planned.error.code,
          message: planned.error.message,
          error: planned.error,
        };
      if (!s.apply) return { id: s.id, outcome: 'skipped', startedAt: now, durationMs: 0, note: NOT_ASKED_NOTE };
      return undefined;
    };
    const planOf = (s: AnyStep) => (o.plans.get(s.id) as { plan: StepPlan }).plan;
    const begin = (s: AnyStep, now: number, detail = '') => {
      running.set(s.id, now);
      o.log.info({ step: s.id }, `step ${s.id} started${detail}`);
      for (const n of planOf(s).notes ?? []) if (n.level === 'info') o.log.info({ step: s.id }, `step ${s.id}: ${n.message}`);
      o.onStart?.(s.id, now);
    };
    /** What the plan warned about (e.g. a log destination this image cannot ship to) and what the
     * apply reported: the step's warnings, in its result and the status. */
    const warningsOf = (s: AnyStep, report: StepReport | undefined) => [
      ...(planOf(s).notes ?? []).filter((n) => n.level === 'warning').map((n) => n.message),
      ...(report?.warnings ?? []),
    ];

    /** A step's prepare (Step.prepare), started with the phase, before its needs have ended. */
    const prepareEarly = (s: AnyStep) => {
      const now = o.clock.now();
      if (outright(s, now)) return; // start() records it when its needs have ended
      const abandon = new AbortController();
      const ctx = o.context(s, anySignal([controller.signal, abandon.signal]));
      const waitsFor = s.needs.filter((n) => ids.has(n));
      begin(s, now, waitsFor.length ? ` (what needs none of ${waitsFor.join(', ')}; the rest waits for them)` : '');
      const prepare = s.prepare!.bind(s);
      let underway!: () => void;
      const handedOff = new Promise<void>((r) => (underway = r));
      const early: Preparing<C> = { result: Promise.resolve().then(() => prepare(planOf(s), ctx, underway)), abandon, ctx, startedAt: now, stage: 'waiting' };
      headStart.push(Promise.race([handedOff, early.result.then(noop, noop)]));
      preparing.set(s.id, early);
      // Failed while its needs still run: the step fails now. Later, apply's chain reports it.
      early.result.catch((e: unknown) => {
        if (early.stage !== 'waiting' || !running.has(s.id)) return;
        waiting.delete(s.id);
        end(failedRun(s.id, now, e));
        // During the head start its end ends the head start, which starts the others; after a cut
        // it may have been the last one running.
        if (headStartOver || cut) schedule();
      });
    };

    /** Its needs ended and succeeded (or were skipped): apply, with what prepare made if it has one. */
    const start = (s: AnyStep) => {
      const early = preparing.get(s.id);
      let startedAt: number;
      let work: Promise<StepReport | undefined>;
      const apply = s.apply?.bind(s);
      if (early) {
        early.stage = 'applying';
        startedAt = early.startedAt;
        work = early.result.then(async (prepared) => (await apply!(planOf(s), early.ctx, prepared)) ?? undefined);
      } else {
        startedAt = o.clock.now();
        const outcome = outright(s, startedAt);
        if (outcome) return end(outcome);
        begin(s, startedAt);
        work = Promise.resolve().then(async () => (await apply!(planOf(s), o.context(s, controller.signal), undefined)) ?? undefined);
      }
      work.then(
        (report) => {
          if (!running.has(s.id)) return; // already recorded at the deadline
          const warnings = warningsOf(s, report ?? undefined);
          end({
            id: s.id,
            outcome: 'success',
            startedAt,
            durationMs: o.clock.now() - startedAt,
            ...(report?.note ? { note: report.note } : {}),
            ...(warnings.length ? { warnings } : {}),
          });
          schedule();
        },
        (e: unknown) => {
          if (!running.has(s.id)) return;
          end(failedRun(s.id, startedAt, e));
          schedule();
        },
      );
    };

    /** A need failed: the step does not apply. What its prepare began is stopped first, so nothing of it outlives the step. */
    const notRun = (s: AnyStep, failed: string[]) => {
      const message = `not run: it needs ${failed.join(', ')}, which failed`;
      const early = preparing.get(s.id);
      if (!early) {
        end({ id: s.id, outcome: 'failed', startedAt: o.clock.now(), durationMs: 0, errorCode: 'TPG_DEPENDENCY_FAILED', message });
        return;
      }
      early.stage = 'abandoned';
      early.abandon.abort(new AgentError('TPG_DEPENDENCY_FAILED', `${s.id} is not needed any more: ${failed.join(', ')} failed`, { retriable: false }));
      const stopped = () => {
        if (!running.has(s.id)) return; // recorded at the deadline meanwhile
        end({
          id: s.id,
          outcome: 'failed',
          startedAt: early.startedAt,
          durationMs: o.clock.now() - early.startedAt,
          errorCode: 'TPG_DEPENDENCY_FAILED',
          message: `${message} (what it had begun without them was stopped)`,
        });
        schedule();
      };
      early.result.then(stopped, stopped);
    };

    const schedule = () => {
      if (done) return;
      if (cut) {
        if (!running.size) finish();
        return;
      }
      let progressed = true;
      while (progressed) {
        progressed = false;
        for (const s of mine) {
          if (!waiting.has(s.id)) continue;
          const inPhase = s.needs.filter((n) => ids.has(n));
          if (inPhase.some((n) => waiting.has(n) || running.has(n))) continue;
          waiting.delete(s.id);
          progressed = true;
          const failed = o.phase === 'boot' ? s.needs.filter((n) => o.results.get(n)?.outcome === 'failed') : [];
          if (failed.length && !o.skipAll) notRun(s, failed);
          else start(s);
        }
      }
      if (!waiting.size && !running.size) finish();
    };

    /** Stop the phase: nothing more starts, running steps get settleMs to say why they failed. */
    const cutShort = (reason: AgentError, runningMessage: string, notStartedMessage: string) => {
      if (done || cut) return;
      cut = { reason, runningMessage };
      controller.abort(reason);
      const now = o.clock.now();
      for (const id of [...waiting]) {
        waiting.delete(id);
        // A step preparing while it waited is running: it ends with its own error, or when settled.
        if (!running.has(id)) end({ id, outcome: 'failed', startedAt: now, durationMs: 0, errorCode: reason.code, message: notStartedMessage });
      }
      const settled = () => {
        const at = o.clock.now();
        for (const [id, startedAt] of [...running]) {
          end({ id, outcome: 'failed', startedAt, durationMs: at - startedAt, errorCode: reason.code, message: runningMessage });
        }
        finish();
      };
      if (!running.size || !o.settleMs) return settled();
      cut.settleTimer = setTimeout(settled, o.settleMs);
    };

    function onStop() {
      const reason = o.stop?.reason instanceof AgentError ? o.stop.reason : new AgentError('TPG_BOOT_INTERRUPTED', 'the boot was interrupted');
      cutShort(reason, `interrupted while running: ${reason.message}`, `not started: ${reason.message}`);
    }

    if (o.deadline !== undefined && !o.skipAll) {
      timer = setTimeout(
        () =>
          cutShort(
            new AgentError('TPG_BOOT_DEADLINE', `${deadlineName} passed`),
            `did not finish before ${deadlineName}`,
            `not started before ${deadlineName}`,
          ),
        Math.max(0, o.deadline - o.clock.now()),
      );
    }
    if (o.stop && !o.skipAll) {
      if (o.stop.aborted) onStop();
      else o.stop.addEventListener('abort', onStop, { once: true });
    }
    const headStart: Promise<void>[] = [];
    let headStartOver = false;
    if (!cut && !o.skipAll) for (const s of mine) if (s.prepare) prepareEarly(s);
    const othersStart = () => {
      headStartOver = true;
      // A phase cut (deadline, SIGTERM) during the head start starts nothing more.
      if (!done && !cut) o.onHeadStartOver?.();
      schedule();
    };
    // The gate: a failure stops the phase as soon as it is known; the others start once it passed.
    const passed = o.gate
      ?.then(
        (e) => e,
        (e: unknown) => toAgentError(e),
      )
      .then((e) => {
        if (e) cutShort(e, `stopped: ${e.message}`, `not started: ${e.message}`);
        return !e;
      });
    const othersStartPassed = () => (passed ? void passed.then((ok) => ok && othersStart()) : othersStart());
    if (!headStart.length || !o.headStartMs) return othersStartPassed();
    let over: NodeJS.Timeout | undefined;
    void Promise.race([Promise.all(headStart), new Promise<void>((r) => (over = setTimeout(r, o.headStartMs)))]).then(() => {
      clearTimeout(over);
      othersStartPassed();
    });
  });
}

/** The boot's outcome from the results so far: failed when any step failed, with the first root cause. */
export function summarize(results: Iterable<StepResult>): BootOutcome {
  const failed = [...results].filter((r) => r.outcome === 'failed').sort((a, b) => a.startedAt + a.durationMs - (b.startedAt + b.durationMs));
  if (!failed.length) return { outcome: 'success', failedSteps: [] };
  // The root cause: a failure with a reason of its own, before one that is only a consequence (a
  // need that failed, or the deadline that cut a step waiting on the same slow service).
  const consequence = (r: StepResult) => r.errorCode === 'TPG_DEPENDENCY_FAILED' || r.errorCode === 'TPG_BOOT_DEADLINE';
  const root = failed.find((r) => !consequence(r)) ?? failed.find((r) => r.errorCode !== 'TPG_DEPENDENCY_FAILED') ?? failed[0]!;
  return {
    outcome: 'failed',
    ...(root.errorCode ? { errorCode: root.errorCode } : {}),
    message: `step ${root.id} failed: ${root.message ?? 'no message'}`,
    failedSteps: failed.map((r) => r.id),
  };
}
