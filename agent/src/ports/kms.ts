/*! KMS decryption of `aws:kms:` values. Implemented over @aws-sdk/client-kms in adapters/aws/kms.ts. */
import type { Secret } from '../lib/secret.js';
import type { KmsEncrypted } from '../values/kms.js';

export interface Kms {
  /** Plaintext as a Secret; throws AgentError TPG_KMS_DECRYPT_FAILED / TPG_KMS_UNAVAILABLE. */
  decrypt(value: KmsEncrypted, signal?: AbortSignal): Promise<Secret>;
}
