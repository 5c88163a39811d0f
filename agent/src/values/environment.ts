/*! Environment variables for the container: names, and values rendered as written (aws:kms:
 * values stay encrypted, secret-named ones become Secrets). */
import { Secret, isSecretKey } from '../lib/secret.js';
import { t, INVALID, error, describeValue, type Checked, type Path, type CheckContext } from '../lib/schema/types.js';
import { checkKms, KMS_PREFIX, type KmsEncrypted } from './kms.js';

/** What an environment variable holds after validation. */
export type EnvValue = string | Secret | KmsEncrypted;

// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL cannot be in an environment name; that is the point.
const ENV_NAME = /^[^=\u0000]+$/;

export const envName = t.string({ minLength: 1, acceptNumbers: true }).refine<string>((name, path, ctx) => {
  if (!ENV_NAME.test(name)) {
    ctx.report(error(path, 'TPG_UD_ENV_NAME', `environment variable names must not contain "=" or NUL`, 'key'));
    return INVALID;
  }
  return name;
});

/** An environment value: any scalar, rendered as written; `aws:kms:` becomes encrypted; secret-named keys become Secret. */
export function envValue(value: unknown, path: Path, ctx: CheckContext): Checked<EnvValue> {
  const name = String(path[path.length - 1]);
  let text: string;
  if (value === null || value === undefined) text = '';
  else if (typeof value === 'string') text = value;
  else if (typeof value === 'number' || typeof value === 'boolean' || value instanceof Date) text = ctx.sourceOf?.(path) ?? String(value);
  else {
    ctx.report(error(path, 'TPG_UD_TYPE', `an environment value must be a single value (string, number or boolean), got ${describeValue(value)}`));
    return INVALID;
  }
  if (text.includes('\u0000')) {
    ctx.report(error(path, 'TPG_UD_ENV_VALUE', 'environment values must not contain NUL'));
    return INVALID;
  }
  if (text.startsWith(KMS_PREFIX)) return checkKms(text, path, ctx, `environment.${name}`);
  return isSecretKey(name) ? new Secret(text, `environment.${name}`) : text;
}

export const environmentValue = t.any({ type: ['string', 'number', 'boolean', 'null'] }, 'scalar').refine<EnvValue>(envValue);
