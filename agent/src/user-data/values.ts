/*! Validated value types shared by the user-data fragments: ports, environment values, KMS
 * ciphertexts, single-line strings. Each checker reports actionable problems and returns a
 * normalized value. */
import { Secret, isSecretKey } from '../lib/secret.js';
import { t, INVALID, error, describeValue, type Checked, type Path, type CheckContext } from '../lib/schema/types.js';

export type Protocol = 'tcp' | 'udp';

export interface PortSpec {
  port: number;
  protocol?: Protocol;
}

const PORT_TEXT = /^([0-9]{1,5})(?:\/(tcp|udp))?$/;

export function parsePort(value: unknown): PortSpec | string {
  let text: string;
  if (typeof value === 'number' && Number.isInteger(value)) text = String(value);
  else if (typeof value === 'string') text = value;
  else return `expected a port number (1-65535, optionally /tcp or /udp), got ${describeValue(value)}`;
  const m = PORT_TEXT.exec(text);
  if (!m) return `"${text}" is not a port: write a number from 1 to 65535, optionally followed by /tcp or /udp`;
  const port = Number(m[1]);
  if (port < 1 || port > 65535) return `port ${port} is out of range 1-65535`;
  return m[2] ? { port, protocol: m[2] as Protocol } : { port };
}

/** A port, optionally with /tcp or /udp: `8080`, `"53/udp"`. */
export const portSpec = t
  .any(
    {
      anyOf: [
        { type: 'integer', minimum: 1, maximum: 65535 },
        { type: 'string', pattern: PORT_TEXT.source },
      ],
    },
    'port',
  )
  .refine<PortSpec>((v, path, ctx) => {
    const p = parsePort(v);
    if (typeof p === 'string') {
      ctx.report(error(path, 'TPG_UD_PORT', p));
      return INVALID;
    }
    return p;
  });

/** An `aws:kms:` value as the team wrote it: the ciphertext is kept, but never printed. */
export interface KmsEncrypted {
  readonly kind: 'kms';
  /** Base64 ciphertext blob (without the `aws:kms:` prefix). */
  readonly ciphertext: Secret;
}

export const KMS_PREFIX = 'aws:kms:';
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function isKmsEncrypted(v: unknown): v is KmsEncrypted {
  return typeof v === 'object' && v !== null && (v as KmsEncrypted).kind === 'kms' && (v as KmsEncrypted).ciphertext instanceof Secret;
}

/** Check an `aws:kms:...` string; report at `path` without ever echoing the value. */
export function checkKms(text: string, path: Path, ctx: CheckContext, label: string): Checked<KmsEncrypted> {
  const b64 = text.slice(KMS_PREFIX.length).trim();
  if (b64 === '' || !BASE64.test(b64) || Buffer.from(b64, 'base64').length === 0) {
    ctx.report(
      error(
        path,
        'TPG_UD_KMS_BASE64',
        'the aws:kms: value does not carry valid base64 ciphertext; encrypt the plaintext with KMS and paste the base64 CiphertextBlob after aws:kms:',
      ),
    );
    return INVALID;
  }
  return { kind: 'kms', ciphertext: new Secret(b64, label) };
}

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

/** A string that may hold an `aws:kms:` value (keys such as scalyr_account_key). */
export const maybeKms = (label: string) =>
  t
    .string({ minLength: 1, singleLine: true })
    .refine<string | KmsEncrypted | Secret>((v, path, ctx) => (v.startsWith(KMS_PREFIX) ? checkKms(v, path, ctx, label) : new Secret(v, label)));

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

export type { Secret };
