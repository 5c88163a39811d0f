/*! `taupage plan`: what a boot would do with this user data, decided by pure code, and which of
 * its keys this image applies, ignores or does not apply. Exits 1 when a boot with it would fail
 * before doing anything (a key this image does not apply). */
import { stringify } from 'yaml';
import { parseCommandArgs } from './args.js';
import { readInput, type Io } from './io.js';
import { formatIssue, formatKeyPath, moreIssues, validateSenzaTaupageConfig, validateUserData } from '../user-data/validate.js';
import { renderSenza, SENZA_PLACEHOLDERS } from '../user-data/senza.js';
import type { SenzaTaupageConfig, UserData } from '../steps/schema.js';
import { keyCoverage } from '../steps/step.js';
import { keyLines } from './status.js';
import { steps } from '../steps/index.js';
import { planSteps } from '../engine/runner.js';
import { loadConfig } from '../config/load.js';
import { EXIT } from '../lib/errors.js';
import { isKmsEncrypted } from '../values/kms.js';
import { REDACTED, isSecret } from '../lib/secret.js';

/** A step as `taupage plan` shows it: its plan, why it is skipped, or why a boot would fail there. */
interface StepView {
  id: string;
  title: string;
  plan: unknown;
  note?: string;
  error?: { code: string; message: string };
}

const USAGE = 'taupage plan [--json] [--no-header | --senza] [--config FILE] FILE|-';

export async function runPlan(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    argv,
    { json: { type: 'boolean' }, 'no-header': { type: 'boolean' }, senza: { type: 'boolean' }, config: { type: 'string' } },
    USAGE,
    { min: 1, max: 1 },
  );
  const input = await readInput(positionals[0]!, io);
  const { config, paths } = await loadConfig({ env: io.env, ...(values.config ? { file: values.config } : {}) });
  const result = values.senza ? validateSenzaTaupageConfig(input.text) : validateUserData(input.text, { requireHeader: values['no-header'] !== true });
  if (!result.valid || !result.settings) {
    for (const i of result.errors) io.err(`${formatIssue(input.name, i)}\n`);
    io.err(
      `${input.name}: invalid${moreIssues(result.errors.length, result.errorCount, 'error')}; fix the errors above (taupage validate${values.senza ? ' --senza' : ''} ${input.name})\n`,
    );
    return EXIT.FAILED;
  }
  // A TaupageConfig boots as the user data Senza renders from it; what only `senza create` knows is shown as <placeholders>.
  const { settings, filledIn }: { settings: UserData; filledIn: string[] } = values.senza
    ? renderSenza(result.settings as SenzaTaupageConfig, SENZA_PLACEHOLDERS)
    : { settings: result.settings as UserData, filledIn: [] };
  const written = [...new Set([...(result.keys ?? []), ...filledIn])];
  const plans = planSteps(steps, { settings, config, paths }, new Set(written));
  const keys = keyCoverage(
    steps,
    written,
    result.warnings.map((w) => ({ code: w.code, key: formatKeyPath(w.path) })),
  );
  const view = steps.map((s): StepView => {
    const planned = plans.get(s.id)!;
    if ('error' in planned) return { id: s.id, title: s.title, plan: null, error: { code: planned.error.code, message: planned.error.message } };
    return { id: s.id, title: s.title, plan: toDisplay(planned.plan), ...(planned.note ? { note: planned.note } : {}) };
  });
  const fails = view.some((s) => s.error);
  if (values.json) {
    io.out(
      `${JSON.stringify(
        {
          steps: view,
          keys,
          warnings: result.warnings.map(({ path, line, column, code, message }) => ({ path, line, column, code, message })),
          ...(values.senza ? { senzaFillsIn: filledIn } : {}),
        },
        null,
        2,
      )}\n`,
    );
  } else {
    for (const w of result.warnings) io.out(`${formatIssue(input.name, w)}\n`);
    if (filledIn.length) io.out(`Senza fills in ${placeholders(filledIn)} when it renders the stack; the plan shows these placeholders.\n`);
    for (const line of keyLines(keys)) io.out(`${line}\n`);
    for (const s of view) {
      io.out(`\n## ${s.title} (${s.id})\n`);
      if (s.error) io.out(`a boot fails here: ${s.error.code}: ${s.error.message}\n`);
      else io.out(s.plan === null ? `${s.note ?? 'nothing to do'}\n` : stringify(s.plan, { lineWidth: 0 }));
    }
  }
  if (fails) io.err(`${input.name}: a boot with this user data fails (see above)\n`);
  return fails ? EXIT.FAILED : EXIT.OK;
}

function placeholders(keys: string[]): string {
  const p = SENZA_PLACEHOLDERS;
  const shown: Record<string, string> = {
    application_id: p.name,
    application_version: p.version,
    notify_cfn: `stack ${p.name}-${p.version}, resource ${p.component}`,
  };
  const each = keys.map((k) => `${k} (${shown[k]})`);
  return each.length > 1 ? `${each.slice(0, -1).join(', ')} and ${each.at(-1)}` : each.join('');
}

/** Plans as plain data for people: secrets and aws:kms: values become [redacted]. */
export function toDisplay(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_k, v: unknown) => {
      if (isKmsEncrypted(v)) return `aws:kms:${REDACTED} (decrypted at boot)`;
      if (isSecret(v)) return REDACTED;
      return v;
    }),
  );
}
