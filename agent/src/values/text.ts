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
