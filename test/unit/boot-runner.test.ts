import { describe, it, expect } from 'vitest';
import { planSteps, runPhase, summarize, NOT_ASKED_NOTE, NOTHING_TO_DO_NOTE, type StepResult } from '../../agent/src/engine/runner.js';
import { checkStepGraph, type AnyStep, type StepPhase } from '../../agent/src/steps/step.js';
import { AgentError } from '../../agent/src/lib/errors.js';
import { realClock } from '../../agent/src/lib/clock.js';
import { silentLogger } from '../../agent/src/lib/log.js';
import { steps as bootGraph } from '../../agent/src/steps/index.js';

type Ctx = { signal: AbortSignal; outcome: () => ReturnType<typeof summarize> };

function step(id: string, needs: string[], apply?: (ctx: Ctx) => ReturnType<NonNullable<AnyStep['apply']>>, extra: Partial<AnyStep> = {}): AnyStep {
  return {
    id,
    title: id,
    needs,
    plan: () => ({}),
    ...(apply
      ? {
          apply: (_p: unknown, ctx: Ctx) => apply(ctx),
        }
      : {}),
    ...extra,
  };
}

async function run(
  steps: AnyStep[],
  phases: StepPhase[] = ['boot', 'finally', 'after'],
  opts: {
    deadline?: number;
    written?: string[];
    headStartMs?: number;
    stop?: AbortSignal;
    settleMs?: number;
    scrub?: (text: string) => string;
    gate?: Promise<AgentError | undefined>;
  } = {},
) {
  checkStepGraph(steps);
  const results = new Map<string, StepResult>();
  const events: string[] = [];
  const plans = planSteps(steps, {} as never, new Set(opts.written ?? []));
  for (const phase of phases) {
    await runPhase<Ctx>({
      phase,
      steps,
      plans,
      results,
      context: (_s, signal) => ({ signal, outcome: () => summarize(results.values()) }),
      ...(phase === 'boot' && opts.deadline !== undefined ? { deadline: opts.deadline } : {}),
      ...(phase === 'boot' && opts.stop ? { stop: opts.stop } : {}),
      ...(phase === 'boot' && opts.settleMs !== undefined ? { settleMs: opts.settleMs } : {}),
      ...(phase === 'boot' && opts.gate ? { gate: opts.gate } : {}),
      ...(opts.scrub ? { scrub: opts.scrub } : {}),
      ...(phase === 'after' && summarize(results.values()).outcome === 'failed' ? { skipAll: 'the boot failed' } : {}),
      clock: realClock,
      log: silentLogger(),
      onStart: (id) => events.push(`start ${id}`),
      onEnd: (r) => events.push(`end ${r.id} ${r.outcome}`),
      ...(phase === 'boot' && opts.headStartMs !== undefined ? { headStartMs: opts.headStartMs, onHeadStartOver: () => events.push('head start over') } : {}),
    });
  }
  return { results, events, get: (id: string) => results.get(id)! };
}

describe('boot graph runner', () => {
  it('runs independent steps at the same time', async () => {
    // Each waits until both have started: run one after the other, they would never finish.
    let started = 0;
    let release!: () => void;
    const both = new Promise<void>((r) => (release = r));
    const meet = async () => {
      if (++started === 2) release();
      await both;
    };
    const r = await run([step('a', [], meet), step('b', [], meet)], ['boot'], { deadline: Date.now() + 10_000 });
    expect(r.get('a').outcome).toBe('success');
    expect(r.get('b').outcome).toBe('success');
  });

  it("a plan's warnings are the step's warnings at boot (not only in `taupage plan`), before what apply reports", async () => {
    const logging = step('logging', [], async () => ({ warnings: ['the Scalyr agent is not installed'] }), {
      plan: () => ({
        notes: [
          { level: 'info', message: 'rsyslog_protocol udp: lines sent while the server is down are lost' },
          { level: 'warning', message: 'log_destination s3: nothing goes to S3' },
        ],
      }),
    });
    const r = await run([logging], ['boot'], { deadline: Date.now() + 10_000 });
    expect(r.get('logging')).toMatchObject({
      outcome: 'success',
      warnings: ['log_destination s3: nothing goes to S3', 'the Scalyr agent is not installed'],
    });
  });

  it('starts a step only after what it needs has ended', async () => {
    const r = await run([step('c', ['a', 'b'], async () => {}), step('a', [], async () => {}), step('b', ['a'], async () => {})]);
    const e = r.events;
    expect(e.indexOf('end a success')).toBeLessThan(e.indexOf('start b'));
    expect(e.indexOf('end b success')).toBeLessThan(e.indexOf('start c'));
  });

  it('fails the dependents of a failed step, and only them', async () => {
    const r = await run([
      step('a', [], async () => {
        throw new AgentError('TPG_CREDENTIALS_FAILED', 'no credentials');
      }),
      step('b', [], async () => {}),
      step('c', ['a'], async () => {}),
      step('d', ['c', 'b'], async () => {}),
    ]);
    expect(r.get('a')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_CREDENTIALS_FAILED' });
    expect(r.get('b').outcome).toBe('success');
    expect(r.get('c')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_DEPENDENCY_FAILED', message: 'not run: it needs a, which failed' });
    expect(r.get('d')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_DEPENDENCY_FAILED' });
    expect(r.events).not.toContain('start c');
    const o = summarize(r.results.values());
    expect(o).toMatchObject({ outcome: 'failed', errorCode: 'TPG_CREDENTIALS_FAILED' });
    expect(o.message).toContain('step a failed: no credentials');
  });

  it('skips steps with nothing to do, or without effects when the user data sets none of their keys, and runs what needs them', async () => {
    const r = await run(
      [
        step('planned-only', [], undefined, { keys: ['fancy_logs'] }),
        step('idle', [], async () => {}, { plan: () => null }),
        step('next', ['planned-only', 'idle'], async () => {}),
      ],
      undefined,
      { written: ['application_id'] },
    );
    expect(r.get('planned-only')).toMatchObject({ outcome: 'skipped', note: NOT_ASKED_NOTE });
    expect(r.get('idle')).toMatchObject({ outcome: 'skipped', note: NOTHING_TO_DO_NOTE });
    expect(r.get('next').outcome).toBe('success');
  });

  it('fails a step without effects in this image when the user data sets one of its keys, and what needs it', async () => {
    const r = await run(
      [step('planned-only', [], undefined, { title: 'Fancy logs', keys: ['fancy_logs', 'fancy_level'] }), step('next', ['planned-only'], async () => {})],
      undefined,
      { written: ['application_id', 'fancy_level'] },
    );
    expect(r.get('planned-only')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_NOT_APPLIED' });
    expect(r.get('planned-only').message).toMatch(/^the user data sets fancy_level, which this image does not apply \(fancy logs: not implemented yet\)/);
    expect(r.get('next')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_DEPENDENCY_FAILED' });
    expect(summarize(r.results.values())).toMatchObject({ outcome: 'failed', errorCode: 'TPG_NOT_APPLIED' });
  });

  it('fails a step whose planner throws', async () => {
    const r = await run([
      step('a', [], async () => {}, {
        plan: () => {
          throw new AgentError('TPG_HOST_FAILED', 'bad plan');
        },
      }),
    ]);
    expect(r.get('a')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_HOST_FAILED' });
  });

  it('runs finally steps after a failure and tells them the outcome; skips after steps', async () => {
    let seen: string | undefined;
    const r = await run([
      step('a', [], async () => {
        throw new AgentError('TPG_DISK_FAILED', 'no disk');
      }),
      step('container', ['a'], async () => {}),
      step(
        'signal',
        ['container'],
        async (ctx) => {
          seen = ctx.outcome().errorCode;
        },
        { phase: 'finally' },
      ),
      step('shutdown', ['signal'], async () => {}, { phase: 'after' }),
    ]);
    expect(r.get('signal').outcome).toBe('success');
    expect(seen).toBe('TPG_DISK_FAILED');
    expect(r.get('shutdown')).toMatchObject({ outcome: 'skipped', note: 'the boot failed' });
  });

  it('runs after steps when the boot succeeded', async () => {
    const r = await run([
      step('a', [], async () => {}),
      step('signal', ['a'], async () => {}, { phase: 'finally' }),
      step('shutdown', ['signal'], async () => ({ note: 'bye' }), { phase: 'after' }),
    ]);
    expect(r.get('shutdown')).toMatchObject({ outcome: 'success', note: 'bye' });
  });

  it("keeps a step's warnings with its success (a log server that does not answer): the boot still succeeds", async () => {
    const r = await run([
      step('logging', [], async () => ({ note: 'configured', warnings: ['remote syslog h:514 (tcp) does not answer'] })),
      step('c', ['logging'], async () => {}),
    ]);
    expect(r.get('logging')).toMatchObject({ outcome: 'success', note: 'configured', warnings: ['remote syslog h:514 (tcp) does not answer'] });
    expect(r.get('c').outcome).toBe('success');
    expect(summarize(r.results.values()).outcome).toBe('success');
  });

  it("scrubs a step's note and warnings before they are kept (and logged)", async () => {
    const r = await run([step('logging', [], async () => ({ note: 'configured with s3cret', warnings: ['token s3cret here'] }))], ['boot'], {
      scrub: (t) => t.replaceAll('s3cret', '[redacted]'),
    });
    expect(r.get('logging')).toMatchObject({ outcome: 'success', note: 'configured with [redacted]', warnings: ['token [redacted] here'] });
    expect(JSON.stringify(r.get('logging'))).not.toContain('s3cret');
  });

  it('cuts the phase at its deadline: running and waiting steps fail, the phase ends without them', async () => {
    let aborted = false;
    const r = await run(
      [
        step('hangs', [], (ctx) => {
          ctx.signal.addEventListener('abort', () => (aborted = true));
          return new Promise(() => {}); // never settles, even when aborted
        }),
        step('after-hangs', ['hangs'], async () => {}),
        step('quick', [], async () => {}),
      ],
      ['boot'],
      { deadline: Date.now() + 150 },
    );
    expect(aborted).toBe(true);
    expect(r.get('hangs')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_BOOT_DEADLINE', message: 'did not finish before the boot deadline' });
    expect(r.get('after-hangs')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_BOOT_DEADLINE', message: 'not started before the boot deadline' });
    expect(r.get('quick').outcome).toBe('success');
    expect(summarize(r.results.values()).errorCode).toBe('TPG_BOOT_DEADLINE');
  });

  describe('steps still running when the phase is cut get settleMs to end with their own error', () => {
    /** kms ends with its own error when its signal aborts; stuck never ends; next needs stuck. Once both run, `cut`. */
    function cutGraph(cut: () => void) {
      let started = 0;
      const bothRunning = () => {
        if (++started === 2) cut();
      };
      return [
        step('kms', [], (ctx) => {
          const ended = new Promise<never>((_, reject) =>
            ctx.signal.addEventListener('abort', () => reject(new AgentError('TPG_KMS_UNAVAILABLE', 'KMS did not answer')), { once: true }),
          );
          bothRunning();
          return ended;
        }),
        step('stuck', [], () => {
          bothRunning();
          return new Promise(() => {}); // ignores its signal
        }),
        step('next', ['stuck'], async () => {}),
      ];
    }

    it('stopped (SIGTERM): interrupted, with what a step that ended in time was at; a step that never ends is recorded after settleMs', async () => {
      const stop = new AbortController();
      const why = 'the boot was interrupted by SIGTERM';
      const r = await run(
        cutGraph(() => stop.abort(new AgentError('TPG_BOOT_INTERRUPTED', why))),
        ['boot'],
        { stop: stop.signal, settleMs: 200 },
      );
      expect(r.get('kms')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_BOOT_INTERRUPTED' });
      expect(r.get('kms').message).toBe(`interrupted while running: ${why} (it was at: KMS did not answer)`);
      expect(r.get('kms').error).toMatchObject({ code: 'TPG_KMS_UNAVAILABLE' });
      expect(r.get('stuck')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_BOOT_INTERRUPTED', message: `interrupted while running: ${why}` });
      expect(r.get('stuck').durationMs).toBeGreaterThanOrEqual(190); // given its settleMs (timers may round 1 ms early)
      expect(r.get('next')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_BOOT_INTERRUPTED', message: `not started: ${why}` });
      expect(r.events.indexOf('end kms failed')).toBeLessThan(r.events.indexOf('end stuck failed'));
      expect(summarize(r.results.values()).errorCode).toBe('TPG_BOOT_INTERRUPTED');
    });

    it('at the deadline: a step that ended in time keeps its own code, its message says the deadline cut it', async () => {
      const r = await run(
        cutGraph(() => undefined),
        ['boot'],
        { deadline: Date.now() + 150, settleMs: 200 },
      );
      expect(r.get('kms')).toMatchObject({
        outcome: 'failed',
        errorCode: 'TPG_KMS_UNAVAILABLE',
        message: 'KMS did not answer (did not finish before the boot deadline)',
      });
      expect(r.get('stuck')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_BOOT_DEADLINE', message: 'did not finish before the boot deadline' });
      expect(r.get('next')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_BOOT_DEADLINE', message: 'not started before the boot deadline' });
      // The root cause is the service that did not answer, not the deadline.
      expect(summarize(r.results.values())).toMatchObject({ errorCode: 'TPG_KMS_UNAVAILABLE' });
    });
  });

  describe('a step that prepares before its needs have ended (the container: trust check and pull)', () => {
    /** A need that ends when told, and a step with a prepare that records what it saw. */
    function graph(o: { prepare: (ctx: Ctx, underway: () => void) => Promise<unknown>; need?: () => Promise<void>; plan?: () => object | null }) {
      let releaseNeed!: (fail?: Error) => void;
      const needDone = new Promise<void>((resolve, reject) => (releaseNeed = (fail) => (fail ? reject(fail) : resolve())));
      const applied: unknown[] = [];
      const steps = [
        step('need', [], o.need ?? (() => needDone)),
        step(
          'app',
          ['need'],
          async () => {
            throw new Error('apply is given prepare’s result, not called like this');
          },
          {
            plan: o.plan ?? (() => ({})),
            prepare: (_p: unknown, ctx: Ctx, underway: () => void) => o.prepare(ctx, underway),
            apply: async (_p: unknown, _ctx: Ctx, prepared: unknown) => {
              applied.push(prepared);
            },
          },
        ),
      ];
      return { steps, releaseNeed, applied };
    }

    it('starts it with the phase, alongside its needs, and applies with its result once they succeeded', async () => {
      const seen: string[] = [];
      const g = graph({
        prepare: async () => {
          seen.push('prepare');
          await new Promise((r) => setTimeout(r, 20));
          seen.push('prepared');
          g.releaseNeed();
          return 'the pulled image';
        },
      });
      const r = await run(g.steps, ['boot'], { deadline: Date.now() + 10_000 });
      expect(r.events.slice(0, 2).sort()).toEqual(['start app', 'start need']);
      expect(seen).toEqual(['prepare', 'prepared']);
      expect(g.applied).toEqual(['the pulled image']);
      expect(r.get('app').outcome).toBe('success');
      expect(r.events.indexOf('end need success')).toBeLessThan(r.events.indexOf('end app success'));
    });

    it('gives it a head start: the other steps start once it says its wait is underway, before it ends', async () => {
      // Like the pull: underway, then it waits for something only the other step's start releases.
      // Were the head start to last until the prepare ends, nothing would release it before the deadline.
      let needStarted!: () => void;
      const otherStepRan = new Promise<void>((r) => (needStarted = r));
      const order: string[] = [];
      const g = graph({
        prepare: async (_ctx, underway) => {
          order.push('prepare underway');
          underway();
          await otherStepRan;
          order.push('prepare ended');
          return 'pulled';
        },
      });
      g.steps[0]!.apply = async () => {
        order.push('need started');
        needStarted();
        g.releaseNeed();
      };
      const r = await run(g.steps, ['boot'], { deadline: Date.now() + 2_000, headStartMs: 60_000 });
      expect(order).toEqual(['prepare underway', 'need started', 'prepare ended']);
      expect(r.events.slice(0, 3)).toEqual(['start app', 'head start over', 'start need']);
      expect(r.get('need').outcome).toBe('success');
      expect(g.applied).toEqual(['pulled']);
    });

    it('with a gate (the user data being kept): the prepare runs meanwhile, the others start once it passed', async () => {
      let pass!: (e: AgentError | undefined) => void;
      const gate = new Promise<AgentError | undefined>((r) => (pass = r));
      const order: string[] = [];
      const g = graph({
        prepare: async (_ctx, underway) => {
          order.push('prepare underway');
          underway();
          await new Promise((r) => setTimeout(r, 30));
          order.push('gate passed');
          pass(undefined);
          return 'pulled';
        },
      });
      g.steps[0]!.apply = async () => {
        order.push('need started');
        g.releaseNeed();
      };
      const r = await run(g.steps, ['boot'], { deadline: Date.now() + 2_000, headStartMs: 60_000, gate });
      expect(order).toEqual(['prepare underway', 'gate passed', 'need started']);
      expect(r.get('app').outcome).toBe('success');
      expect(g.applied).toEqual(['pulled']);
    });

    it('a gate that fails stops the phase at once: the prepare is stopped, the others never start', async () => {
      const order: string[] = [];
      const g = graph({
        prepare: async (ctx, underway) => {
          underway();
          await new Promise((_r, reject) =>
            ctx.signal.addEventListener('abort', () => {
              order.push('prepare stopped');
              reject(ctx.signal.reason);
            }),
          );
          return 'never';
        },
      });
      g.steps[0]!.apply = async () => {
        order.push('need started');
      };
      const kept = new AgentError('TPG_BOOT_FAILED', 'cannot write /meta/taupage.yaml: read-only file system');
      // settleMs longer than the test's timeout: the phase ends when the stopped prepare ends, not after it.
      const r = await run(g.steps, ['boot'], { deadline: Date.now() + 200_000, headStartMs: 60_000, settleMs: 120_000, gate: Promise.resolve(kept) });
      expect(order).toEqual(['prepare stopped']);
      expect(r.get('need')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_BOOT_FAILED', message: `not started: ${kept.message}` });
      expect(r.get('app')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_BOOT_FAILED', message: `stopped: ${kept.message}` });
      expect(g.applied).toEqual([]);
    });

    it('ends the head start after headStartMs when the prepare never hands off, and when the prepare fails', async () => {
      const order: string[] = [];
      const slow = graph({
        prepare: async () => {
          await new Promise((r) => setTimeout(r, 400));
          order.push('prepare ended');
          return 'late';
        },
      });
      const t0 = Date.now();
      slow.steps[0]!.apply = async () => {
        order.push('need started');
        throw new AgentError('TPG_LOGGING_FAILED', `started after ${Date.now() - t0} ms`);
      };
      const r = await run(slow.steps, ['boot'], { deadline: Date.now() + 10_000, headStartMs: 60 });
      expect(Number(/after (\d+) ms/.exec(r.get('need').message!)![1])).toBeGreaterThanOrEqual(55);
      expect(order).toEqual(['need started', 'prepare ended']);

      const failing = graph({
        prepare: async () => {
          throw new AgentError('TPG_IMAGE_UNTRUSTED', 'not approved');
        },
      });
      failing.steps[0]!.apply = async () => undefined;
      const f = await run(failing.steps, ['boot'], { deadline: Date.now() + 2_000, headStartMs: 60_000 });
      expect(f.get('need').outcome).toBe('success');
      expect(f.get('app')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_IMAGE_UNTRUSTED' });
      // The failed prepare ended the head start: its work ran once, before the other step started.
      expect(f.events.filter((e) => e === 'head start over')).toHaveLength(1);
      expect(f.events.indexOf('head start over')).toBeLessThan(f.events.indexOf('start need'));
    });

    it('a deadline during the head start starts nothing more: the others are "not started", no head-start work runs', async () => {
      const g = graph({ prepare: (ctx) => new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))) });
      const r = await run(g.steps, ['boot'], { deadline: Date.now() + 50, headStartMs: 5_000 });
      await new Promise((resolve) => setTimeout(resolve, 20)); // what the head start's end would do happens after the phase ended
      expect(r.get('need')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_BOOT_DEADLINE', message: 'not started before the boot deadline' });
      expect(r.get('app')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_BOOT_DEADLINE' });
      expect(r.events).not.toContain('head start over');
      expect(r.events).not.toContain('start need');
    });

    it('fails the step as soon as its prepare fails, while the needs still run; apply never runs', async () => {
      const g = graph({
        prepare: async () => {
          throw new AgentError('TPG_IMAGE_UNTRUSTED', 'not approved');
        },
      });
      const phase = run(g.steps, ['boot'], { deadline: Date.now() + 10_000 });
      await new Promise((r) => setTimeout(r, 20));
      g.releaseNeed();
      const r = await phase;
      expect(r.get('app')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_IMAGE_UNTRUSTED', message: 'not approved' });
      expect(r.events.indexOf('end app failed')).toBeLessThan(r.events.indexOf('end need success'));
      expect(g.applied).toEqual([]);
    });

    it('stops the prepare when a need fails, and fails the step only once the prepare has ended', async () => {
      const order: string[] = [];
      const g = graph({
        prepare: (ctx) =>
          new Promise((_resolve, reject) => {
            ctx.signal.addEventListener('abort', () => {
              order.push(`prepare aborted: ${(ctx.signal.reason as AgentError).message}`);
              // Like a pull: it takes a moment to wind down after the abort.
              setTimeout(() => {
                order.push('prepare ended');
                reject(ctx.signal.reason);
              }, 30);
            });
            setTimeout(() => g.releaseNeed(new AgentError('TPG_CREDENTIALS_FAILED', 'no credentials')), 10);
          }),
      });
      const r = await run(g.steps, ['boot'], { deadline: Date.now() + 10_000 });
      r.events.push('phase ended');
      expect(order).toEqual(['prepare aborted: app is not needed any more: need failed', 'prepare ended']);
      expect(r.get('app')).toMatchObject({
        outcome: 'failed',
        errorCode: 'TPG_DEPENDENCY_FAILED',
        message: 'not run: it needs need, which failed (what it had begun without them was stopped)',
      });
      expect(r.get('app').durationMs).toBeGreaterThanOrEqual(30);
      expect(g.applied).toEqual([]);
      expect(summarize(r.results.values())).toMatchObject({ errorCode: 'TPG_CREDENTIALS_FAILED' });
    });

    it('fails a step whose prepare had finished when a need failed, without applying', async () => {
      const g = graph({ prepare: async () => 'pulled' });
      const phase = run(g.steps, ['boot'], { deadline: Date.now() + 10_000 });
      await new Promise((r) => setTimeout(r, 20));
      g.releaseNeed(new AgentError('TPG_LOGGING_FAILED', 'rsyslog refused'));
      const r = await phase;
      expect(r.get('app')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_DEPENDENCY_FAILED' });
      expect(g.applied).toEqual([]);
    });

    it('counts a step cut by the deadline while it prepared as running (not "not started"), and does not prepare a step with nothing to do', async () => {
      let aborted = false;
      const g = graph({ prepare: (ctx) => new Promise(() => ctx.signal.addEventListener('abort', () => (aborted = true))) });
      const r = await run(g.steps, ['boot'], { deadline: Date.now() + 100 });
      expect(aborted).toBe(true);
      expect(r.get('need')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_BOOT_DEADLINE', message: 'did not finish before the boot deadline' });
      expect(r.get('app')).toMatchObject({ outcome: 'failed', errorCode: 'TPG_BOOT_DEADLINE', message: 'did not finish before the boot deadline' });

      let prepared = false;
      const idle = graph({
        plan: () => null,
        prepare: async () => {
          prepared = true;
        },
      });
      idle.releaseNeed();
      const s = await run(idle.steps, ['boot'], { deadline: Date.now() + 10_000 });
      expect(s.get('app')).toMatchObject({ outcome: 'skipped', note: NOTHING_TO_DO_NOTE });
      expect(prepared).toBe(false);
    });

    it('is only for boot steps with an apply', () => {
      expect(() => checkStepGraph([step('a', [], undefined, { prepare: async () => 1 })])).toThrow(/has a prepare but is not a boot step with an apply/);
      expect(() => checkStepGraph([step('a', [], async () => {}, { phase: 'finally', prepare: async () => 1 })])).toThrow(/has a prepare/);
    });
  });

  it('rejects a graph whose boot step needs a later phase', () => {
    expect(() => checkStepGraph([step('signal', [], undefined, { phase: 'finally' }), step('a', ['signal'])])).toThrow(/cannot need signal/);
    expect(() => checkStepGraph(bootGraph)).not.toThrow();
  });

  it('declares signal as finally and shutdown as after in the boot graph', () => {
    expect(bootGraph.find((s) => s.id === 'signal')).toMatchObject({ phase: 'finally' });
    expect(bootGraph.find((s) => s.id === 'shutdown')).toMatchObject({ phase: 'after' });
  });

  it('names the root cause: a failure with its own reason before the deadline that cut a step waiting on the same service', () => {
    const r = (id: string, errorCode: StepResult['errorCode'], endsAt: number): StepResult => ({
      id,
      outcome: 'failed',
      startedAt: 0,
      durationMs: endsAt,
      errorCode,
      message: id,
    });
    // The logging step, cut at the deadline while KMS hung, ended before the step that says KMS hung.
    const o = summarize([r('logging', 'TPG_BOOT_DEADLINE', 10), r('container', 'TPG_DEPENDENCY_FAILED', 10), r('consumer', 'TPG_KMS_UNAVAILABLE', 20)]);
    expect(o).toMatchObject({ errorCode: 'TPG_KMS_UNAVAILABLE', message: 'step consumer failed: consumer', failedSteps: ['logging', 'container', 'consumer'] });
    // Only the deadline: it is the cause.
    expect(summarize([r('container', 'TPG_DEPENDENCY_FAILED', 5), r('logging', 'TPG_BOOT_DEADLINE', 10)]).errorCode).toBe('TPG_BOOT_DEADLINE');
  });
});
