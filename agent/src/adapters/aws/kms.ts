/*! The Kms port over @aws-sdk/client-kms: decrypt `aws:kms:` values in the instance's region.
 *
 * ThrottlingException (and 5xx, network errors) are retried with backoff and full jitter; a bad
 * ciphertext, a missing key or a denied request fail at once with TPG_KMS_DECRYPT_FAILED. Several
 * values decrypt concurrently, at most `concurrency` at a time so a boot does not throttle itself.
 * Plaintext is wrapped in a Secret the moment it arrives; errors name the value, never its text. */
import { KMSClient, DecryptCommand } from '@aws-sdk/client-kms';
import type { Kms } from '../../ports/kms.js';
import { Secret } from '../../lib/secret.js';
import { AgentError } from '../../lib/errors.js';
import type { KmsEncrypted } from '../../values/kms.js';
import { callAws, sdkClientConfig, type AwsCallOptions } from './sdk.js';

export interface KmsClientOptions extends AwsCallOptions {
  /** Decrypt calls in flight at once. */
  concurrency?: number;
}

export class KmsAdapter implements Kms {
  private readonly client: KMSClient;
  private active = 0;
  private readonly queue: Array<() => void> = [];

  constructor(private readonly o: KmsClientOptions) {
    this.client = new KMSClient(sdkClientConfig(o));
  }

  async decrypt(value: KmsEncrypted, signal?: AbortSignal): Promise<Secret> {
    const label = value.ciphertext.label;
    const blob = Buffer.from(value.ciphertext.reveal(), 'base64');
    await this.slot();
    try {
      const out = await callAws(
        `KMS Decrypt of ${label}`,
        this.o,
        (sig) => this.client.send(new DecryptCommand({ CiphertextBlob: blob }), { abortSignal: sig }),
        (info, attempts) =>
          info.retriable
            ? {
                code: 'TPG_KMS_UNAVAILABLE',
                message: info.throttled
                  ? `KMS kept throttling the decryption of ${label} (${attempts} attempts in ${this.o.region})`
                  : `KMS in ${this.o.region} could not be reached to decrypt ${label}: ${info.message} (${attempts} attempts)`,
                hint:
                  info.name === 'CredentialsProviderError'
                    ? 'the agent found no AWS credentials: give the instance an IAM role (instance profile)'
                    : 'KMS may be throttling the account or unreachable from this subnet; the boot can be retried',
              }
            : {
                code: 'TPG_KMS_DECRYPT_FAILED',
                message: `KMS could not decrypt ${label}: ${info.name}${info.message && info.message !== info.name ? `: ${info.message}` : ''}`,
                hint: hintFor(info.name),
              },
        signal,
      );
      if (!out.Plaintext) throw new AgentError('TPG_KMS_DECRYPT_FAILED', `KMS returned no plaintext for ${label}`);
      return new Secret(Buffer.from(out.Plaintext).toString('utf8'), label);
    } finally {
      this.release();
    }
  }

  close(): void {
    this.client.destroy();
  }

  private slot(): Promise<void> {
    if (this.active < (this.o.concurrency ?? 8)) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.queue.push(resolve));
  }

  private release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.active--;
  }
}

function hintFor(name: string): string {
  switch (name) {
    case 'InvalidCiphertextException':
      return 'the value after aws:kms: is not a ciphertext of this account and region, or it was cut when pasted; encrypt the plaintext again and paste the whole base64 CiphertextBlob';
    case 'AccessDeniedException':
    case 'UnrecognizedClientException':
      return "the instance role may not use this key: allow kms:Decrypt on it in the role's policy and the key policy";
    case 'NotFoundException':
    case 'DisabledException':
    case 'KMSInvalidStateException':
      return 'the key that encrypted this value is missing, disabled or pending deletion in this region';
    case 'IncorrectKeyException':
      return 'the value was encrypted under another key';
    default:
      return 'encrypt the value again with the key the instance role may use';
  }
}
