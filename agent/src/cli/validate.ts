/*! `taupage validate`: check user data before it boots anything. A file may be gzipped, as EC2
 * takes it; the 16 KiB limit is then on the compressed size. Lists are capped (the counts say how
 * many there were) and no output carries a secret of the document: `--annotate` prints the file
 * with them redacted. */
import { readFile } from 'node:fs/promises';
import { parseCommandArgs } from './args.js';
import { readInput, type Io } from './io.js';
import {
  validateSenzaTaupageConfig,
  validateUserData,
  formatIssue,
  moreIssues,
  documentSecrets,
  type UserDataIssue,
  type ValidationResult,
} from '../user-data/validate.js';
import { decodeUserData } from '../user-data/decode.js';
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
  const input = await readUserDataInput(positionals[0]!, io);
  const strict = values.strict === true;
  const result: ValidationResult<unknown> =
    'issue' in input
      ? { valid: false, errors: [input.issue], warnings: [], errorCount: 1, warningCount: 0 }
      : values.senza
        ? validateSenzaTaupageConfig(input.text, { strict, storedBytes: input.storedBytes })
        : validateUserData(input.text, { strict, requireHeader: values['no-header'] !== true, storedBytes: input.storedBytes });
  const strip = (i: UserDataIssue) => ({ path: i.path, line: i.line, column: i.column, code: i.code, message: i.message });
  const listed = [...result.errors, ...result.warnings].sort((a, b) => a.line - b.line || a.column - b.column);
  if (values.json) {
    io.out(
      `${JSON.stringify({
        valid: result.valid,
        errors: result.errors.map(strip),
        warnings: result.warnings.map(strip),
        errorCount: result.errorCount,
        warningCount: result.warningCount,
      })}\n`,
    );
  } else if (values.annotate) {
    const text = 'text' in input ? input.text : '';
    io.out(annotate(documentSecrets(text).scrub(text), listed));
  } else {
    for (const i of listed) io.out(`${formatIssue(input.name, i)}\n`);
    io.out(`${summary(input.name, result)}\n`);
  }
  return result.valid ? EXIT.OK : EXIT.FAILED;
}

/** FILE or stdin as text; a gzipped file is unpacked (bounded) and its stored size kept, or its problem returned. */
async function readUserDataInput(file: string, io: Io): Promise<{ name: string; text: string; storedBytes?: number } | { name: string; issue: UserDataIssue }> {
  if (file === '-') return readInput(file, io);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch {
    return readInput(file, io); // its error, as every command reports it
  }
  const decoded = decodeUserData(bytes);
  return decoded.ok ? { name: file, text: decoded.text, storedBytes: decoded.storedBytes } : { name: file, issue: decoded.issue };
}

function summary(file: string, r: ValidationResult<unknown>): string {
  const n = (k: number, word: string) => `${k} ${word}${k === 1 ? '' : 's'}`;
  const capped =
    moreIssues(r.errors.length, r.errorCount, 'error') || moreIssues(r.warnings.length, r.warningCount, 'warning')
      ? ` (the first ${r.errors.length + r.warnings.length} are listed)`
      : '';
  return r.valid
    ? `${file}: valid${r.warningCount ? ` (${n(r.warningCount, 'warning')})` : ''}${capped}`
    : `${file}: invalid: ${n(r.errorCount, 'error')}, ${n(r.warningCount, 'warning')}${capped}`;
}
