/*! `taupage validate`: check user data before it boots anything. */
import { parseCommandArgs } from './args.js';
import { readInput, type Io } from './io.js';
import { validateSenzaTaupageConfig, validateUserData, formatIssue, type UserDataIssue } from '../user-data/validate.js';
import { annotate } from '../user-data/annotate.js';
import { EXIT, AgentError } from '../lib/errors.js';

const USAGE = 'taupage validate [--strict] [--json | --annotate] [--no-header | --senza] FILE|-';

export async function runValidate(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    argv,
    { strict: { type: 'boolean' }, json: { type: 'boolean' }, annotate: { type: 'boolean' }, 'no-header': { type: 'boolean' }, senza: { type: 'boolean' } },
    USAGE,
    { min: 1, max: 1 },
  );
  if (values.json && values.annotate) throw new AgentError('TPG_USAGE', `--json and --annotate do not go together\nusage: ${USAGE}`);
  const input = await readInput(positionals[0]!, io);
  const strict = values.strict === true;
  const result = values.senza
    ? validateSenzaTaupageConfig(input.text, { strict })
    : validateUserData(input.text, { strict, requireHeader: values['no-header'] !== true });
  const strip = (i: UserDataIssue) => ({ path: i.path, line: i.line, column: i.column, code: i.code, message: i.message });
  if (values.json) {
    io.out(`${JSON.stringify({ valid: result.valid, errors: result.errors.map(strip), warnings: result.warnings.map(strip) })}\n`);
  } else if (values.annotate) {
    io.out(
      annotate(
        input.text,
        [...result.errors, ...result.warnings].sort((a, b) => a.line - b.line || a.column - b.column),
      ),
    );
  } else {
    for (const i of [...result.errors, ...result.warnings].sort((a, b) => a.line - b.line || a.column - b.column)) io.out(`${formatIssue(input.name, i)}\n`);
    io.out(`${summary(input.name, result.valid, result.errors.length, result.warnings.length)}\n`);
  }
  return result.valid ? EXIT.OK : EXIT.FAILED;
}

function summary(file: string, valid: boolean, errors: number, warnings: number): string {
  const n = (k: number, word: string) => `${k} ${word}${k === 1 ? '' : 's'}`;
  return valid ? `${file}: valid${warnings ? ` (${n(warnings, 'warning')})` : ''}` : `${file}: invalid: ${n(errors, 'error')}, ${n(warnings, 'warning')}`;
}
