/*! Strings with rules: single lines (anything rendered into a config file), http(s) URLs and
 * normalized absolute paths. */
import { t, INVALID, error } from '../lib/schema/types.js';

export const singleLine = (opts: { maxLength?: number; minLength?: number } = {}) => t.string({ singleLine: true, minLength: 1, maxLength: 1024, ...opts });

export const httpUrl = () => t.string({ singleLine: true, pattern: /^https?:\/\/[^\s/$.?#][^\s]*$/i, patternMessage: 'must be an http:// or https:// URL' });

export const absolutePath = (what = 'path') =>
  t.string({ singleLine: true, minLength: 1 }).refine<string>((v, path, ctx) => {
    if (!v.startsWith('/') || v.split('/').some((seg) => seg === '..' || seg === '.') || /\/\/|\s/.test(v) || (v.length > 1 && v.endsWith('/'))) {
      ctx.report(error(path, 'TPG_UD_PATH', `${what} must be an absolute, normalized path without . or .. segments or spaces, e.g. /data`));
      return INVALID;
    }
    return v;
  });

/** Characters that could end a quoted value or start a new line in the files the agent renders
 * (rsyslog, logrotate): quotes, backslashes and control characters. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses.
const UNSAFE_IN_CONFIG = /["'\\\u0000-\u001f\u007f\u0085\u2028\u2029]/;

/** A single line that goes into an rsyslog or logrotate file as it is: no line breaks, quotes,
 * backslashes or control characters (nothing that could end the value and start configuration). */
export const configText = (opts: { maxLength?: number; minLength?: number; pattern?: RegExp; patternMessage?: string } = {}) =>
  t.string({ singleLine: true, minLength: 1, maxLength: 1024, ...opts }).refine<string>((v, path, ctx) => {
    if (UNSAFE_IN_CONFIG.test(v)) {
      ctx.report(
        error(path, 'TPG_UD_CONFIG_CHARACTER', 'must not contain quotes, backslashes or control characters: the value is written into a configuration file'),
      );
      return INVALID;
    }
    return v;
  });

/** Whether `text` is safe to write between double quotes of a rendered configuration file. */
export function isConfigSafe(text: string): boolean {
  return !UNSAFE_IN_CONFIG.test(text);
}
