/*! One boot, start to end: lock → user data from the metadata service → validate → write
 * /meta/taupage.yaml → run the step graph (boot, finally, after phases) → status, result,
 * metrics → exit code.
 *
 * Every way it can fail is recorded in the status and, when the user data names a stack, signalled
 * to CloudFormation: invalid or missing user data, a failed step, a missed deadline. The only
 * failures that cannot be signalled are those where the stack or the instance id is unknown
 * (the metadata service never answered). */
import { createHash } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import type { AgentConfig } from '../config/schema.js';
import type { Paths } from '../config/paths.js';
import type { Logger } from '../lib/log.js';
import { realClock, type Clock } from '../lib/clock.js';
import { AgentError, ERROR_CODES, EXIT, toAgentError, type ErrorCode } from '../lib/errors.js';
import { writeFileAtomic } from '../lib/atomic-write.js';
import type { Scrubber } from '../lib/scrub.js';
import { validateUserData, type UserDataIssue } from '../user-data/validate.js';
import type { UserData } from '../user-data/schema.js';
import type { IdentityDocument } from '../ports/imds.js';
import { formatIssue } from '../cli/validate.js';
import { steps as defaultSteps } from '../steps/index.js';
import { sendStackSignal } from '../steps/signal/apply.js';
import { VERSION } from '../version.js';
import { checkStepGraph, type AnyStep, type StepPhase } from './step.js';
import type { EndContext } from './context.js';
import { planSteps, runPhase, summarize, type StepResult } from './runner.js';
import { StatusWriter, type BootStatus } from './status.js';
import { acquireBootLock, readBootId } from './lock.js';
import { writeMetrics } from './metrics.js';
import { BootServices } from './services.js';
import type { PortFactory } from '../ports/index.js';

export const USER_DATA_STEP = 'user-data';

export interface BootOptions {
  config: AgentConfig;
  paths: Paths;
  log: Logger;
  /** Registers decrypted plaintexts; the caller's log destination should scrub through it too. */
  scrubber: Scrubber;
  /** Default: steps/index.ts. */
  steps?: readonly AnyStep[];
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
  const clock = o.clock ?? realClock;
  const { config, paths, log } = o;
  const steps = o.steps ?? defaultSteps;
  if (o.steps) checkStepGraph(steps);
  const startedAt = clock.now();
  const processStartedAt = o.processStartedAt ?? startedAt;

  const bootId = await readBootId(paths);
  const lock = await acquireBootLock(paths.bootLock, { bootId, pid: process.pid, startedAt: new Date(startedAt).toISOString() });
  if (!lock.acquired) {
    const h = lock.holder;
    const message = `taupage boot already ran in this boot (boot id ${h.bootId}${h.pid ? `, started ${h.startedAt} by pid ${h.pid}` : ''}); nothing to do. See taupage status; remove ${paths.bootLock} to run it again.`;
    log.info({ bootId, holder: h }, message);
    return { exitCode: EXIT.OK, outcome: 'already-ran', message };
  }

  const deadlineMs = config.boot.deadline_seconds * 1000;
  const deadline = startedAt + deadlineMs;
  const reserveMs = Math.min(config.boot.signal_reserve_seconds * 1000, deadlineMs / 4);
  const mainDeadline = deadline - reserveMs;
  const deadlineName = `the boot deadline (${config.boot.deadline_seconds} s)`;

  const status = new StatusWriter(paths, { bootId, startedAt, deadline, agentVersion: VERSION }, { scrub: (t) => o.scrubber.scrub(t), log });
  status.addStep(USER_DATA_STEP, 'Read and validate the user data', 'boot');
  log.info({ bootId, deadline: new Date(deadline).toISOString(), version: VERSION }, `boot ${bootId} started`);

  const services = new BootServices({ factory: o.ports, log, scrubber: o.scrubber, notAfter: mainDeadline });
  const results = new Map<string, StepResult>();
  const onEnd = (r: StepResult) => status.ended(r);
  // Whom to tell about a failure, as soon as it is known (the safety net below needs it).
  let tell: { target: { stack: string; resource: string }; identity: IdentityDocument } | undefined;
  let resultWritten = false;

  try {
    // 1. The user data and who we are.
    status.started(USER_DATA_STEP, startedAt);
    const ud = await readUserData(services, paths, log);
    const udResult: StepResult = ud.ok
      ? {
          id: USER_DATA_STEP,
          outcome: 'success',
          startedAt,
          durationMs: clock.now() - startedAt,
          ...(ud.warnings.length ? { note: `${ud.warnings.length} warning(s); see the log` } : {}),
        }
      : {
          id: USER_DATA_STEP,
          outcome: 'failed',
          startedAt,
          durationMs: clock.now() - startedAt,
          errorCode: ud.error.code,
          message: ud.error.message,
          error: ud.error,
        };
    results.set(USER_DATA_STEP, udResult);
    // The region, worked out once: the agent config's override, else the instance's.
    const region = ud.identity ? (config.aws.region ?? ud.identity.region) : undefined;
    if (ud.identity && region) {
      status.set({ instanceId: ud.identity.instanceId, region });
      services.bind(region);
    }
    if (ud.configHash) status.set({ configHash: ud.configHash });
    const target = ud.ok ? ud.settings.notify_cfn : ud.notifyCfn;
    if (target && ud.identity) tell = { target, identity: ud.identity };

    if (!ud.ok) {
      log.error({ step: USER_DATA_STEP, errorCode: ud.error.code, err: ud.error }, ud.error.message);
      status.ended(udResult);
      // Tell CloudFormation now rather than let it wait for its timeout, when we know whom to tell.
      if (tell) await signalEarlyFailure(tell.target, tell.identity, services, status, results, log, clock, deadline);
      return await finish({ status, results, log, paths, clock, processStartedAt, scrub: (t) => o.scrubber.scrub(t) });
    }
    status.ended(udResult);

    // 2. The graph: plans first (pure), then effects.
    const settings = ud.settings;
    const plans = planSteps(steps, { settings, config, paths });
    for (const s of steps) status.addStep(s.id, s.title, s.phase ?? 'boot');
    await status.flush();
    if (settings.notify_cfn) services.warmStackSignal();
    const kmsValues = services.prefetch(settings);
    if (kmsValues) log.info({ values: kmsValues }, `decrypting ${kmsValues} aws:kms: value(s)`);

    const contextFor =
      (phaseDeadline: number) =>
      (step: AnyStep, signal: AbortSignal): EndContext => ({
        settings,
        config,
        paths,
        facts: { bootId, instance: ud.identity, region: region! },
        log: log.child({ step: step.id }),
        signal,
        deadline: phaseDeadline,
        ports: services.ports,
        decrypt: (v) => services.decrypt(v, signal),
        record: (k, v) => status.record(k, v),
        outcome: () => summarize(results.values()),
      });
    const phase = (p: StepPhase, phaseDeadline: number | undefined, extra: { skipAll?: string } = {}) =>
      runPhase({
        phase: p,
        steps,
        plans,
        results,
        context: contextFor(phaseDeadline ?? Number.POSITIVE_INFINITY),
        ...(phaseDeadline !== undefined ? { deadline: phaseDeadline } : {}),
        deadlineName,
        clock,
        log,
        scrub: (t) => o.scrubber.scrub(t),
        onStart: (id, at) => status.started(id, at),
        onEnd,
        ...extra,
      });

    await phase('boot', mainDeadline);
    await phase('finally', deadline);
    const run = await finish({ status, results, log, paths, clock, processStartedAt, scrub: (t) => o.scrubber.scrub(t) });
    resultWritten = true;

    // 3. After a successful boot: batch shutdown waits for the application, without a deadline.
    await phase('after', undefined, run.outcome === 'success' ? {} : { skipAll: 'the boot failed' });
    await status.writeResult();
    const afterFailure = steps
      .filter((s) => s.phase === 'after')
      .map((s) => results.get(s.id))
      .find((r) => r?.outcome === 'failed');
    if (afterFailure && run.outcome === 'success') {
      return {
        ...run,
        exitCode: ERROR_CODES[afterFailure.errorCode ?? 'TPG_INTERNAL'].exit,
        errorCode: afterFailure.errorCode!,
        message: o.scrubber.scrub(`${run.message}; then ${afterFailure.id} failed: ${afterFailure.message}`),
      };
    }
    return run;
  } catch (e) {
    // A bug, or the host refusing something the agent cannot do without: still record it and,
    // unless the outcome was already told, tell CloudFormation.
    const err = toAgentError(e);
    log.error({ err }, `the boot stopped on an unexpected error: ${err.message}`);
    if (resultWritten) throw e;
    status.addStep('agent', 'The taupage agent itself', 'boot');
    const r: StepResult = {
      id: 'agent',
      outcome: 'failed',
      startedAt: clock.now(),
      durationMs: 0,
      errorCode: err.code,
      message: o.scrubber.scrub(err.message),
    };
    results.set('agent', r);
    status.ended(r);
    if (tell && status.status.facts.signal === undefined) await signalEarlyFailure(tell.target, tell.identity, services, status, results, log, clock, deadline);
    return await finish({ status, results, log, paths, clock, processStartedAt, scrub: (t) => o.scrubber.scrub(t) });
  } finally {
    await services.close();
  }
}

type UserDataOutcome =
  | { ok: true; text: string; settings: UserData; identity: IdentityDocument; configHash: string; warnings: UserDataIssue[] }
  | { ok: false; error: AgentError; identity?: IdentityDocument; configHash?: string; notifyCfn?: { stack: string; resource: string } };

async function readUserData(services: BootServices, paths: Paths, log: Logger): Promise<UserDataOutcome> {
  const [idR, textR] = await Promise.allSettled([services.imds.identity(), services.imds.userData()]);
  const identity = idR.status === 'fulfilled' ? idR.value.document : undefined;
  if (textR.status === 'rejected' || idR.status === 'rejected') {
    const e = toAgentError(textR.status === 'rejected' ? textR.reason : (idR as PromiseRejectedResult).reason, 'TPG_IMDS_UNAVAILABLE');
    const notifyCfn = textR.status === 'fulfilled' && textR.value ? notifyCfnOf(textR.value) : undefined;
    return { ok: false, error: e, ...(identity ? { identity } : {}), ...(notifyCfn ? { notifyCfn } : {}) };
  }
  const text = textR.value;
  const base = { ...(identity ? { identity } : {}) };
  if (text === undefined || text.trim() === '') {
    return {
      ok: false,
      error: new AgentError('TPG_USERDATA_MISSING', text === undefined ? 'the instance has no user data' : 'the user data is empty', {
        hint: 'launch the instance with a #taupage-ami-config document as its user data (Senza writes it from TaupageConfig)',
      }),
      ...base,
    };
  }
  const configHash = `sha256:${createHash('sha256').update(text).digest('hex')}`;
  const notifyCfn = notifyCfnOf(text);
  const result = validateUserData(text, { requireHeader: true });
  for (const w of result.warnings) log.warn({ step: USER_DATA_STEP, code: w.code, line: w.line, column: w.column }, formatIssue('user-data', w));
  if (!result.valid || !result.settings) {
    const lines = result.errors.map((i) => formatIssue('user-data', i));
    for (const i of result.errors) log.error({ step: USER_DATA_STEP, code: i.code, line: i.line, column: i.column }, formatIssue('user-data', i));
    const headerMissing = result.errors.some((i) => i.code === 'TPG_UD_HEADER');
    const error = headerMissing
      ? new AgentError('TPG_USERDATA_MISSING', `the user data is not a Taupage document: ${lines.join('; ')}`, {
          hint: 'the first line must be #taupage-ami-config; check it with taupage validate',
        })
      : new AgentError('TPG_USERDATA_INVALID', `the user data is invalid (${lines.length} error${lines.length === 1 ? '' : 's'}): ${lines.join('; ')}`, {
          hint: 'fix the user data (taupage validate FILE shows the same messages) and launch again',
        });
    return { ok: false, error, configHash, ...base, ...(notifyCfn ? { notifyCfn } : {}) };
  }
  if (!identity) throw new AgentError('TPG_INTERNAL', 'identity missing after a successful read');
  // The document as the team wrote it (secrets stay encrypted), replacing last boot's whole file,
  // so keys removed from the user data do not survive a stop/start.
  try {
    await writeFileAtomic(paths.taupageYaml, text, { mode: 0o444, mkdirParents: true });
  } catch (e) {
    return {
      ok: false,
      error: new AgentError('TPG_BOOT_FAILED', `cannot write ${paths.taupageYaml}: ${(e as Error).message}`, { cause: e }),
      configHash,
      ...base,
      ...(notifyCfn ? { notifyCfn } : {}),
    };
  }
  return { ok: true, text, settings: result.settings, identity, configHash, warnings: result.warnings };
}

/** notify_cfn from a document that may not validate: enough to tell CloudFormation it failed. */
function notifyCfnOf(text: string): { stack: string; resource: string } | undefined {
  try {
    const doc = parseYaml(text, { uniqueKeys: false }) as { notify_cfn?: { stack?: unknown; resource?: unknown } } | null;
    const n = doc && typeof doc === 'object' ? doc.notify_cfn : undefined;
    const ok = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '' && !/[\r\n]/.test(v) && v.length <= 255;
    return n && typeof n === 'object' && ok(n.stack) && ok(n.resource) ? { stack: n.stack, resource: n.resource } : undefined;
  } catch {
    return undefined;
  }
}

async function signalEarlyFailure(
  target: { stack: string; resource: string },
  identity: IdentityDocument,
  services: BootServices,
  status: StatusWriter,
  results: Map<string, StepResult>,
  log: Logger,
  clock: Clock,
  deadline: number,
): Promise<void> {
  status.addStep('signal', 'CloudFormation signal', 'finally');
  const at = clock.now();
  status.started('signal', at);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new AgentError('TPG_BOOT_DEADLINE', 'the boot deadline passed')), Math.max(0, deadline - at));
  let r: StepResult;
  try {
    await sendStackSignal(
      services.ports.stackSignal,
      { ...target, uniqueId: identity.instanceId, status: 'FAILURE' },
      { log: log.child({ step: 'signal' }), record: (k, v) => status.record(k, v), signal: controller.signal },
    );
    r = { id: 'signal', outcome: 'success', startedAt: at, durationMs: clock.now() - at, note: `FAILURE sent to ${target.stack}/${target.resource}` };
  } catch (e) {
    const err = toAgentError(e, 'TPG_SIGNAL_FAILED');
    log.error({ step: 'signal', errorCode: err.code, err }, `step signal failed: ${err.message}`);
    r = { id: 'signal', outcome: 'failed', startedAt: at, durationMs: clock.now() - at, errorCode: err.code, message: err.message };
  } finally {
    clearTimeout(timer);
  }
  results.set('signal', r);
  status.ended(r);
}

async function finish(f: {
  status: StatusWriter;
  results: Map<string, StepResult>;
  log: Logger;
  paths: Paths;
  clock: Clock;
  processStartedAt: number;
  scrub: (text: string) => string;
}): Promise<BootRun> {
  const outcome = summarize(f.results.values());
  if (outcome.message) outcome.message = f.scrub(outcome.message);
  const at = f.clock.now();
  await f.status.finish({
    at,
    outcome: outcome.outcome,
    ...(outcome.errorCode ? { errorCode: outcome.errorCode } : {}),
    ...(outcome.message ? { message: outcome.message } : {}),
  });
  try {
    await writeMetrics(f.paths, f.status.status, f.processStartedAt);
  } catch (e) {
    f.log.warn({ err: e, file: f.paths.metricsFile }, 'cannot write the boot metrics');
  }
  const seconds = ((at - Date.parse(f.status.status.startedAt)) / 1000).toFixed(2);
  const s = f.status.status;
  if (outcome.outcome === 'success') {
    const message = `boot ${s.bootId} succeeded in ${seconds} s`;
    f.log.info({ outcome: 'success', durationMs: s.durationMs, instanceId: s.instanceId }, message);
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
  f.log.error({ outcome: 'failed', errorCode: code, failedSteps: outcome.failedSteps, durationMs: s.durationMs }, message);
  return { exitCode: ERROR_CODES[code].exit, outcome: 'failed', errorCode: code, message, status: s };
}
