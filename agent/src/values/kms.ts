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

/** A string that may hold an `aws:kms:` value (keys such as scalyr_account_key). */
export const maybeKms = (label: string) =>
  t
    .string({ minLength: 1, singleLine: true })
    .refine<string | KmsEncrypted | Secret>((v, path, ctx) => (v.startsWith(KMS_PREFIX) ? checkKms(v, path, ctx, label) : new Secret(v, label)))
    .secret();
