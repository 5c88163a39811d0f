/*! The secrets a user-data document holds, as a scrubber for every message made from it.
 *
 * The schema never prints a secret on purpose (`aws:kms:` values and secret-named keys become
 * Secrets); this is the net under it, for text that reaches a message without passing through
 * the schema: a syntax error whose position the parser guessed (a mis-indented password becomes
 * a "key"), a library message that quotes the line, a value printed as "got the string ...".
 *
 * Collected from the parsed value when there is one, and always from the text line by line, so a
 * document that does not parse is covered too:
 * - every `aws:kms:` value (with and without its prefix);
 * - every value under a key named like a secret (`*pass*`, `*secret*`, `*private*`), on the key's
 *   line or, for a block scalar or an empty value, on the lines after it, whatever their indent. */
import { isSecretKey } from '../lib/secret.js';
import { Scrubber } from '../lib/scrub.js';

const KMS_VALUE = /aws:kms:[^\s,}\]#]*/g;
const KEY_LINE = /^\s*(?:-\s+)*["']?[^\s:"']+["']?\s*:(?:\s|$)/;
/** Characters that end a key (YAML indicators, quotes, whitespace). */
const KEY_END = /[\s:"'{},[\]]/;
/** Lines after a secret key looked at for its value (a block scalar, a mis-indented continuation). */
const MAX_CONTINUATION_LINES = 50;
/** Longer text is not kept as one needle (its parts are): the scrubber's cost stays near the document's size. */
const MAX_NEEDLE = 4096;

/**
 * Every `key:` in a line (a `:` followed by a space or the end), with where its value starts; the
 * key is the run of key characters before the colon (quotes dropped), wherever it stands (after
 * `- `, in a flow mapping, glued to the rest of a broken line). One pass, no backtracking: a
 * fuzzer's 200 KB line costs 200 KB.
 */
function keysIn(line: string, limit = Number.POSITIVE_INFINITY): Array<{ key: string; keyAt: number; valueAt: number }> {
  const out: Array<{ key: string; keyAt: number; valueAt: number }> = [];
  for (let colon = line.indexOf(':'); colon >= 0 && out.length < limit; colon = line.indexOf(':', colon + 1)) {
    if (colon + 1 < line.length && !/\s/.test(line[colon + 1]!)) continue;
    let end = colon;
    while (end > 0 && line[end - 1] === ' ') end--;
    if (end > 0 && (line[end - 1] === '"' || line[end - 1] === "'")) end--;
    let start = end;
    while (start > 0 && !KEY_END.test(line[start - 1]!)) start--;
    if (start < end) out.push({ key: line.slice(start, end), keyAt: start, valueAt: colon + 1 });
  }
  return out;
}

/**
 * `secretKeys`: keys whose whole value is secret whatever their name (the schema's `.secret()`
 * fields, such as dockercfg and scalyr_account_key).
 */
export function userDataSecrets(text: string, value?: unknown, secretKeys: readonly string[] = []): Scrubber {
  const scrubber = new Scrubber();
  const add = (s: string, nestedToo = true) => {
    const t = s.trim();
    if (!t || t.length > MAX_NEEDLE) return;
    scrubber.add(t);
    const comment = t.search(/\s#/);
    const unquoted = (comment >= 0 ? t.slice(0, comment) : t).trim().replace(/^["']|["',]$/g, '');
    if (unquoted !== t) scrubber.add(unquoted.trim());
    // After a block scalar header (`>-`, `|2+`): what a header with "extra characters" quotes.
    const afterHeader = t.replace(/^[|>][-+0-9]*\s*/, '');
    if (afterHeader !== t) scrubber.add(afterHeader);
    // The value of a nested `key: value` line, and of a list item (one level: each costs the text's length).
    if (!nestedToo) return;
    const nested = keysIn(t, 1)[0]?.valueAt ?? (/^-\s/.test(t) ? 1 : undefined);
    if (nested !== undefined && t.slice(nested).trim()) add(t.slice(nested), false);
  };
  for (const m of text.matchAll(KMS_VALUE)) {
    add(m[0]);
    add(m[0].slice('aws:kms:'.length));
  }
  const named = (key: string) => isSecretKey(key) || secretKeys.some((k) => key === k || key.endsWith(k));
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    let secretKey = false;
    const keys = keysIn(line);
    keys.forEach(({ key, valueAt }, k) => {
      if (!named(key)) return;
      // Its own value (up to the next key on the line, as in a flow mapping), and once the whole
      // rest of the line: a line of a thousand keys costs its length, not its square.
      const own = line.slice(valueAt, Math.min(keys[k + 1]?.keyAt ?? line.length, valueAt + MAX_NEEDLE + 1));
      add(own);
      add(own.split(/[,}\]]/, 1)[0]!);
      if (!secretKey) add(line.slice(valueAt, valueAt + MAX_NEEDLE + 1));
      secretKey = true;
    });
    if (!secretKey) return;
    // A block scalar, an empty value, a flow collection or a plain scalar may go on over the
    // following lines (or, mis-indented, seem to): up to the next key at the key's indent or less.
    const indent = line.length - line.trimStart().length;
    for (let j = i + 1; j < Math.min(lines.length, i + 1 + MAX_CONTINUATION_LINES); j++) {
      const next = lines[j]!;
      if (!next.trim()) continue;
      const nextIndent = next.length - next.trimStart().length;
      if (nextIndent <= indent && KEY_LINE.test(next)) break;
      add(next);
      // A mis-indented continuation the parser read as `word:`.
      add(next.trim().replace(/:$/, ''));
    }
  });
  if (value !== undefined) collect(value, false, add, 0, new Set(secretKeys));
  return scrubber;
}

function collect(v: unknown, secret: boolean, add: (s: string) => void, depth: number, secretKeys: ReadonlySet<string>): void {
  if (depth > 50 || v === null || v === undefined) return;
  if (typeof v === 'string') {
    if (secret || v.startsWith('aws:kms:')) add(v);
    return;
  }
  if (typeof v === 'number' || typeof v === 'boolean') {
    if (secret) add(String(v));
    return;
  }
  if (typeof v !== 'object' || v instanceof Date) return;
  if (Array.isArray(v)) {
    for (const x of v) collect(x, secret, add, depth + 1, secretKeys);
    return;
  }
  for (const [k, x] of Object.entries(v)) collect(x, secret || isSecretKey(k) || secretKeys.has(k), add, depth + 1, secretKeys);
}
