/*! `taupage plan`: what a boot would do with this user data, decided by pure code. */
import { stringify } from 'yaml';
import { parseCommandArgs } from './args.js';
import { readInput, type Io } from './io.js';
import { formatIssue, moreIssues, validateUserData } from '../user-data/validate.js';
import { steps } from '../steps/index.js';
import { planSteps } from '../engine/runner.js';
import { loadConfig } from '../config/load.js';
import { EXIT } from '../lib/errors.js';
import { isKmsEncrypted } from '../values/kms.js';
import { REDACTED, isSecret } from '../lib/secret.js';

const USAGE = 'taupage plan [--json] [--no-header] [--config FILE] FILE|-';

export async function runPlan(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, { json: { type: 'boolean' }, 'no-header': { type: 'boolean' }, config: { type: 'string' } }, USAGE, {
    min: 1,
    max: 1,
  });
  const input = await readInput(positionals[0]!, io);
  const { config, paths } = await loadConfig({ env: io.env, ...(values.config ? { file: values.config } : {}) });
  const result = validateUserData(input.text, { requireHeader: values['no-header'] !== true });
  if (!result.valid || !result.settings) {
    for (const i of result.errors) io.err(`${formatIssue(input.name, i)}\n`);
    io.err(`${input.name}: invalid${moreIssues(result.errors.length, result.errorCount, 'error')}; fix the errors above (taupage validate ${input.name})\n`);
    return EXIT.FAILED;
  }
  const plans = planSteps(steps, { settings: result.settings, config, paths });
  const view = toDisplay(
    steps.map((s) => {
      const planned = plans.get(s.id)!;
      if ('error' in planned) throw planned.error;
      return { id: s.id, title: s.title, plan: planned.plan };
    }),
  ) as Array<{ id: string; title: string; plan: unknown }>;
  if (values.json) {
    io.out(
      `${JSON.stringify(
        { steps: view, warnings: result.warnings.map(({ path, line, column, code, message }) => ({ path, line, column, code, message })) },
        null,
        2,
      )}\n`,
    );
  } else {
    for (const w of result.warnings) io.out(`${formatIssue(input.name, w)}\n`);
    for (const s of view) {
      io.out(`\n## ${s.title} (${s.id})\n`);
      io.out(s.plan === null ? 'nothing to do\n' : stringify(s.plan, { lineWidth: 0 }));
    }
  }
  return EXIT.OK;
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
