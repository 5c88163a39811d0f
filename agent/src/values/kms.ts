/*! `aws:kms:<base64>` values: checked without ever echoing them, kept encrypted in a Secret until
 * the boot decrypts them with KMS. */
import { Secret } from '../lib/secret.js';
import { t, INVALID, error, type Checked, type Path, type CheckContext } from '../lib/schema/types.js';

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

/**
 * A secret that may be `aws:kms:` encrypted, as a string only: a number is refused (the original
 * crashed on one). `allowEmpty`: an empty string means "not set" (Senza templates write '').
 * `pattern`: what a plaintext value must look like.
 */
export const secretText = (label: string, opts: { allowEmpty?: boolean; pattern?: RegExp; patternMessage?: string } = {}) =>
  t
    .string({ singleLine: true, acceptNumbers: false, ...(opts.allowEmpty ? {} : { minLength: 1 }) })
    .refine<'' | KmsEncrypted | Secret>((v, path, ctx) => {
      if (v.startsWith(KMS_PREFIX)) return checkKms(v, path, ctx, label);
      if (v !== '' && opts.pattern && !opts.pattern.test(v)) {
        ctx.report(error(path, 'TPG_UD_PATTERN', opts.patternMessage ?? 'has characters that are not allowed here'));
        return INVALID;
      }
      return v === '' ? ('' as const) : new Secret(v, label);
    })
    // Its value never appears in a message, whatever the key is called (validate's scrubber).
    .secret();
