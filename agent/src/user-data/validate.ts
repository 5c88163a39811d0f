/*! User-data text → validated settings, or issues with key path, line, column, code and message.
 * Pure: the same function backs `taupage validate`, `taupage plan` and `taupage boot`.
 *
 * No issue carries a secret (user-data/secrets.ts scrubs paths and messages), and the lists are
 * capped (MAX_LISTED_ISSUES each, with the full counts beside them): a 16 KiB document can hold
 * fourteen thousand mistakes, and nobody reads past the first screen. */
import { INVALID, namedKeyPrefix, secretFieldNames, type InferShape, type ObjectSchema, type Path, type Shape } from '../lib/schema/types.js';
import { parseYamlSource, type PositionIndex, type SourceIssue } from '../lib/schema/yaml-source.js';
import { senzaTaupageConfigSchema, userDataSchema, type SenzaTaupageConfig, type UserData } from '../steps/schema.js';
import { USER_DATA_MAX_BYTES } from './decode.js';
import { userDataSecrets } from './secrets.js';

export { USER_DATA_MAX_BYTES } from './decode.js';

/** The first line of every Taupage user-data document. */
export const USER_DATA_HEADER = '#taupage-ami-config';
/** Keys whose whole value is secret because the schema says so (`.secret()`), whatever their name. */
export const SECRET_FIELDS = secretFieldNames(userDataSchema);
/** Errors (and, apart, warnings) listed at most; the counts say how many there were. */
export const MAX_LISTED_ISSUES = 100;

/** One problem: key path, 1-based line and column, stable code, message saying what to do. */
export type UserDataIssue = SourceIssue;

export interface ValidationResult<T = UserData> {
  valid: boolean;
  settings?: T;
  /** The first MAX_LISTED_ISSUES errors, in document order. */
  errors: UserDataIssue[];
  warnings: UserDataIssue[];
  /** How many there were in all (more than listed when the lists were capped). */
  errorCount: number;
  warningCount: number;
  /** The document's top-level keys as written (what it asks for; defaults are not asked for). */
  keys?: string[];
}

export interface ValidateOptions {
  /** Warnings (unknown or unsupported keys) become errors. */
  strict?: boolean;
  /** Require the `#taupage-ami-config` first line (boot: yes; a document kept without it, such as /meta/taupage.yaml: no). */
  requireHeader?: boolean;
  /** The size EC2 stores (a gzipped document's compressed size); default: the text's own size. */
  storedBytes?: number;
}

export function validateUserData(text: string, options: ValidateOptions = {}): ValidationResult {
  return validateDocument(text, userDataSchema, options);
}

/** A Senza `TaupageConfig` mapping (`taupage validate --senza`): no header, and the keys Senza
 * fills in (application_id, application_version, notify_cfn) may be absent. */
export function validateSenzaTaupageConfig(text: string, options: Pick<ValidateOptions, 'strict' | 'storedBytes'> = {}): ValidationResult<SenzaTaupageConfig> {
  return validateDocument(text, senzaTaupageConfigSchema, { ...options, requireHeader: false });
}

function validateDocument<S extends Shape, T = InferShape<S>>(text: string, schema: ObjectSchema<S>, options: ValidateOptions): ValidationResult<T> {
  const issues: UserDataIssue[] = [];
  const at = (code: string, message: string, line = 1, column = 1): UserDataIssue => ({ path: [], line, column, code, message, severity: 'error' });
  const bytes = options.storedBytes ?? Buffer.byteLength(text, 'utf8');
  if (bytes > USER_DATA_MAX_BYTES) {
    return finish<T>(
      [
        at(
          'TPG_UD_TOO_LARGE',
          `user data is ${bytes} bytes; EC2 allows at most ${USER_DATA_MAX_BYTES} (16 KiB); move large values (certificates, configs) to S3 or the image`,
        ),
      ],
      options,
    );
  }
  if (
    options.requireHeader !== false &&
    text
      .replace(/^\uFEFF/, '')
      .split('\n', 1)[0]!
      .trimEnd() !== USER_DATA_HEADER
  ) {
    issues.push(
      at('TPG_UD_HEADER', `user data must start with the line ${USER_DATA_HEADER} (Senza adds it for you); without it the instance ignores the document`),
    );
  }
  const parsed = parseYamlSource(text);
  // Applied to the issues that are listed (after the cap): a document with thousands of secrets
  // and thousands of mistakes must not cost their product.
  const secrets = userDataSecrets(text, parsed.value, SECRET_FIELDS);
  const safe = (i: UserDataIssue): UserDataIssue => ({
    ...i,
    path: i.path.map((seg) => (typeof seg === 'string' ? secrets.scrub(seg) : seg)),
    message: secrets.scrub(i.message),
  });
  for (const i of parsed.issues) {
    // Where the parser failed it guessed the structure: a mis-indented value reads as a key. Name
    // only keys the contract itself names; line and column say where.
    issues.push(i.code === 'TPG_UD_YAML_SYNTAX' ? { ...i, path: namedKeyPrefix(schema, i.path) } : i);
  }
  // Duplicate keys are warnings (the last value wins, as PyYAML did); anything else stops here.
  if (parsed.issues.some((i) => i.severity === 'error')) return finish(issues, options, safe);
  if (parsed.value === null || parsed.value === undefined) {
    const required = Object.keys(schema.shape).filter((k) => schema.shape[k]!.presence === 'required');
    issues.push(at('TPG_UD_EMPTY', `the document is empty; it needs at least ${required.slice(0, -1).join(', ')} and ${required.at(-1)}`));
    return finish(issues, options, safe);
  }
  if (typeof parsed.value !== 'object' || Array.isArray(parsed.value)) {
    const p = parsed.positions.find([]);
    issues.push(
      at(
        'TPG_UD_NOT_MAPPING',
        `the top level must be a mapping of keys (application_id: ..., source: ...), not ${Array.isArray(parsed.value) ? 'a list' : 'a single value'}`,
        p.line,
        p.column,
      ),
    );
    return finish(issues, options, safe);
  }
  const settings = schema.check(parsed.value, [], {
    report: (i) => issues.push(withPosition(i, parsed.positions)),
    sourceOf: (path) => parsed.positions.source(path),
  });
  const result = finish<T>(issues, options, safe);
  result.keys = Object.keys(parsed.value);
  if (result.valid && settings !== INVALID) result.settings = settings as T;
  else result.valid = false;
  return result;
}

/** The document's secrets as a scrubber (for echoing the document itself, as --annotate does). */
export function documentSecrets(text: string): { scrub(text: string): string } {
  return userDataSecrets(text, parseYamlSource(text).value, SECRET_FIELDS);
}

function withPosition(
  i: { path: Path; code: string; message: string; severity: 'error' | 'warning'; at: 'key' | 'value' },
  positions: PositionIndex,
): UserDataIssue {
  const p = positions.find(i.path, i.at);
  return { path: i.path, line: p.line, column: p.column, code: i.code, message: i.message, severity: i.severity };
}

function finish<T>(issues: UserDataIssue[], options: ValidateOptions, safe: (i: UserDataIssue) => UserDataIssue = (i) => i): ValidationResult<T> {
  const sorted = [...issues].sort((a, b) => a.line - b.line || a.column - b.column);
  const strict = options.strict === true;
  const errors = sorted.filter((i) => i.severity === 'error' || strict).map((i) => ({ ...i, severity: 'error' as const }));
  const warnings = strict ? [] : sorted.filter((i) => i.severity === 'warning');
  return {
    valid: errors.length === 0,
    errors: errors.slice(0, MAX_LISTED_ISSUES).map(safe),
    warnings: warnings.slice(0, MAX_LISTED_ISSUES).map(safe),
    errorCount: errors.length,
    warningCount: warnings.length,
  };
}

/** "; and 13,926 more errors" when a list was capped, else "". */
export function moreIssues(listed: number, count: number, word: 'error' | 'warning'): string {
  const more = count - listed;
  return more > 0 ? `; and ${more} more ${word}${more === 1 ? '' : 's'} (the first ${listed} are listed)` : '';
}

export function formatKeyPath(path: Path): string {
  return (
    path.map((p, i) => (typeof p === 'number' ? `[${p}]` : /^[A-Za-z0-9_-]+$/.test(p) ? (i ? '.' : '') + p : `[${JSON.stringify(p)}]`)).join('') || '(document)'
  );
}

/** One issue as `taupage validate` prints it and the boot logs it: `file:line:col: severity CODE key.path: message`. */
export function formatIssue(file: string, i: UserDataIssue): string {
  return `${file}:${i.line}:${i.column}: ${i.severity} ${i.code} ${formatKeyPath(i.path)}: ${i.message}`;
}
