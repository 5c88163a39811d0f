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
import { isSecretKey, SECRET_KEY_PATTERN } from '../lib/secret.js';
import { Scrubber } from '../lib/scrub.js';

const KMS_VALUE = /aws:kms:[^\s,}\]#]*/g;
/** Characters that end a key in a line (YAML indicators and quotes). */
const NOT_KEY = `[^\\s:"'{},\\[\\]]*`;
/** A key named like a secret, anywhere in a line (after indent, `- `, `? `, `{` or `,`), and its `:`. */
const SECRET_KEY = new RegExp(`(?:^|[\\s{,\\[?-])["']?${NOT_KEY}(?:${SECRET_KEY_PATTERN.source})${NOT_KEY}["']?\\s*:(?=\\s|$)`, 'gi');
const KEY_LINE = /^\s*(?:-\s+)*["']?[^\s:"']+["']?\s*:(?:\s|$)/;
/** Lines after a secret key looked at for its value (a block scalar, a mis-indented continuation). */
const MAX_CONTINUATION_LINES = 50;

/**
 * `secretKeys`: keys whose whole value is secret whatever their name (the schema's `.secret()`
 * fields, such as dockercfg and scalyr_account_key).
 */
export function userDataSecrets(text: string, value?: unknown, secretKeys: readonly string[] = []): Scrubber {
  const scrubber = new Scrubber();
  const add = (s: string) => {
    const t = s.trim();
    if (!t) return;
    scrubber.add(t);
    const unquoted = t.replace(/^["']|["',]$/g, '').replace(/\s+#.*$/, '');
    if (unquoted !== t) scrubber.add(unquoted.trim());
    // After a block scalar header (`>-`, `|2+`): what a header with "extra characters" quotes.
    const afterHeader = t.replace(/^[|>][-+0-9]*\s*/, '');
    if (afterHeader !== t) scrubber.add(afterHeader);
    // The value of a nested `key: value` line, and of a list item.
    const nested = /^(?:-\s+)?["']?[^\s:"']+["']?\s*:\s+(.+)$/.exec(t)?.[1] ?? /^-\s+(.+)$/.exec(t)?.[1];
    if (nested && nested !== t) add(nested);
  };
  for (const m of text.matchAll(KMS_VALUE)) {
    add(m[0]);
    add(m[0].slice('aws:kms:'.length));
  }
  const named = secretKeys.length ? new RegExp(`(?:^|[\\s{,\\[?-])["']?(?:${secretKeys.map(escapeRegExp).join('|')})["']?\\s*:(?=\\s|$)`, 'g') : undefined;
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    const keys = [...line.matchAll(SECRET_KEY), ...(named ? line.matchAll(named) : [])];
    for (const m of keys) {
      const rest = line.slice(m.index + m[0].length).trim();
      if (rest) {
        add(rest);
        add(rest.split(/[,}\]]/)[0]!); // in a flow mapping, up to the next entry
      }
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
        add(next.trim().replace(/:\s*$/, ''));
      }
    }
  });
  if (value !== undefined) collect(value, false, add, 0, new Set(secretKeys));
  return scrubber;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
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
