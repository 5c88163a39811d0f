/*! What a boot step is: an id, what it needs, a pure planner and (where built) its effects.
 * The boot graph (index.ts) is a list of these; engine/ runs it. A step's effects see only what
 * context.ts gives them: settings, facts, a deadline and ports. */
import type { UserData } from './schema.js';
import type { AgentConfig } from '../config/schema.js';
import type { Paths } from '../config/paths.js';

export interface PlanInput {
  settings: UserData;
  config: AgentConfig;
  paths: Paths;
}

/** A uid and gid on the host. */
export interface Owner {
  uid: number;
  gid: number;
}

/** Who owns what the application writes or reads on the host (/var/log-custom, volumes, the
 * credentials): root with `root: true` (the container runs as its image's user), else the agent
 * config's application_user. */
export const applicationOwner = ({ settings, config }: Pick<PlanInput, 'settings' | 'config'>): Owner =>
  settings.root ? { uid: 0, gid: 0 } : { uid: config.application_user.uid, gid: config.application_user.gid };

/** A note a planner attaches for people reading the plan ("health check skipped: no port"). */
export interface PlanNote {
  level: 'info' | 'warning';
  message: string;
}

export interface StepPlan {
  /** Human notes shown by `taupage plan`; at boot, info notes are logged when the step starts
   * and warnings become the step's warnings (its result, the log and the status). */
  notes?: PlanNote[];
}

/**
 * When a step runs (engine/runner.ts):
 * - `boot` (default): in the dependency graph; starts when every need succeeded (or was skipped),
 *   fails with TPG_DEPENDENCY_FAILED when a need failed; bounded by the boot deadline.
 * - `finally`: after every boot step has ended, whatever the outcome (the CloudFormation signal);
 *   its needs only order it; runs in the time kept back before the deadline.
 * - `after`: once the boot's result is recorded and only when it succeeded; no boot deadline
 *   (batch shutdown waits for the application to exit).
 */
export type StepPhase = 'boot' | 'finally' | 'after';

/** What an apply may tell the status besides success: a note for people, and warnings about
 * what works only in part (a log server that does not answer): the step still succeeded. */
export interface StepReport {
  note?: string;
  warnings?: string[];
}

export interface Step<P extends StepPlan = StepPlan, C = unknown, R = undefined> {
  id: string;
  title: string;
  /** Steps that must succeed before this one's apply starts (its prepare does not wait for them). */
  needs: readonly string[];
  /**
   * The top-level user-data keys this step owns (its schema fragment's). They decide what a step
   * without effects in this image does: fail the boot when the user data sets one of them
   * (TPG_NOT_APPLIED), be skipped ("not asked for") otherwise; and which keys `taupage plan` and
   * the status list as applied.
   */
  keys?: readonly string[];
  /** Default `boot`. */
  phase?: StepPhase;
  /** Pure: what this step would do for this user data, or null when it has nothing to do. */
  plan(input: PlanInput): P | null;
  /**
   * Only `finally` steps: what to do in a boot whose user data is missing or invalid, from what
   * could be read of it (`document`: the YAML as parsed, unchecked; undefined when there is none).
   * The CloudFormation signal plans a FAILURE here. Absent or null: the step does not run then.
   * Its apply gets no settings (EndContext has none).
   */
  fallback?(document: unknown): P | null;
  /**
   * Only `boot` steps with an apply: the part of the effects that needs none of `needs` (the
   * container's trust check and pull). It starts with the phase, alongside every other step, and
   * what it returns is apply's `prepared` once the needs succeeded. Its failure fails the step at
   * once; a need that fails aborts it (its signal) and the step fails with TPG_DEPENDENCY_FAILED
   * once it has stopped, so nothing it began outlives the step, and apply never runs.
   * The other steps start when it calls `underway()` (its long wait is someone else's now: the
   * engine pulls), when it ends, or after the runner's head start, whichever comes first.
   */
  prepare?(plan: P, ctx: C, underway: () => void): Promise<R>;
  /** The effects; absent until the feature lands: then a boot whose user data sets one of `keys` fails, and any other skips the step. */
  // biome-ignore lint/suspicious/noConfusingVoidType: most applies end with nothing to report (`async () => {}`).
  apply?(plan: P, ctx: C, prepared: R): Promise<void | StepReport>;
}

// biome-ignore lint/suspicious/noExplicitAny: a list of steps whose plan and context types differ; each step's own functions are typed.
export type AnyStep = Step<any, any, any>;

/** Reject a malformed step list at start: missing metadata, unknown or circular needs. */
export function checkStepGraph(steps: readonly AnyStep[]): void {
  const ids = new Set<string>();
  for (const s of steps) {
    if (!s.id || !s.title || !Array.isArray(s.needs) || typeof s.plan !== 'function') throw new Error(`step ${s.id || '(no id)'} is missing metadata`);
    if (ids.has(s.id)) throw new Error(`step ${s.id} is declared twice`);
    ids.add(s.id);
  }
  for (const s of steps) for (const n of s.needs) if (!ids.has(n)) throw new Error(`step ${s.id} needs unknown step ${n}`);
  const order: Record<StepPhase, number> = { boot: 0, finally: 1, after: 2 };
  const phaseOf = (id: string) => steps.find((x) => x.id === id)!.phase ?? 'boot';
  for (const s of steps) {
    if (s.phase !== undefined && !(s.phase in order)) throw new Error(`step ${s.id} has unknown phase ${String(s.phase)}`);
    if (s.fallback && s.phase !== 'finally') throw new Error(`step ${s.id} has a fallback plan but is not a finally step`);
    if (s.prepare && ((s.phase ?? 'boot') !== 'boot' || !s.apply)) throw new Error(`step ${s.id} has a prepare but is not a boot step with an apply`);
    for (const n of s.needs)
      if (order[phaseOf(n)] > order[s.phase ?? 'boot'])
        throw new Error(`step ${s.id} (${s.phase ?? 'boot'}) cannot need ${n}, which runs later (${phaseOf(n)})`);
  }
  const visiting = new Set<string>();
  const done = new Set<string>();
  const byId = new Map(steps.map((s) => [s.id, s]));
  const visit = (id: string, trail: string[]) => {
    if (done.has(id)) return;
    if (visiting.has(id)) throw new Error(`steps form a cycle: ${[...trail, id].join(' → ')}`);
    visiting.add(id);
    for (const n of byId.get(id)!.needs) visit(n, [...trail, id]);
    visiting.delete(id);
    done.add(id);
  };
  for (const s of steps) visit(s.id, []);
}

/** Which of the keys a document sets this image applies, ignores, or cannot apply. */
export interface KeyCoverage {
  /** Set by the user data and applied by a step of this image. */
  applied: string[];
  /** Accepted but ignored (each also a validation warning): unsupported or unknown keys, as key paths. */
  ignored: string[];
  /** Set by the user data, owned by a step that has no effects in this image: such a boot fails (TPG_NOT_APPLIED). */
  notApplied: string[];
}

/** The step owning each top-level key, for the steps that declare keys. */
function keyOwners(steps: readonly AnyStep[]): Map<string, AnyStep> {
  const owners = new Map<string, AnyStep>();
  for (const s of steps) for (const k of s.keys ?? []) owners.set(k, s);
  return owners;
}

/** The keys a step owns that the user data sets (`written`: the document's top-level keys). */
export function keysAskedOf(step: AnyStep, written: ReadonlySet<string>): string[] {
  return (step.keys ?? []).filter((k) => written.has(k));
}

/**
 * Sort the document's keys by what this image does with them. `written`: its top-level keys;
 * `ignored`: the key paths of its unsupported and unknown keys (the validation warnings).
 */
/** The validation warnings that say a key is not used at all (every other warning is about a key
 * that is used: deprecated, repeated, taken as the original took it). */
const IGNORED_KEY_CODES = new Set(['TPG_UD_UNKNOWN_KEY', 'TPG_UD_UNSUPPORTED_KEY']);

/** `warnings`: the validation warnings, each with its key path as written. */
export function keyCoverage(steps: readonly AnyStep[], written: Iterable<string>, warnings: readonly { code: string; key: string }[]): KeyCoverage {
  const ignored = warnings.filter((w) => IGNORED_KEY_CODES.has(w.code)).map((w) => w.key);
  const owners = keyOwners(steps);
  const applied: string[] = [];
  const notApplied: string[] = [];
  for (const k of [...written].sort()) {
    const owner = owners.get(k);
    if (!owner) continue; // unsupported or unknown: among `ignored`
    (owner.apply ? applied : notApplied).push(k);
  }
  return { applied, ignored: [...new Set(ignored)], notApplied };
}
