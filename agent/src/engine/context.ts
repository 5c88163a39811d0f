/*! What a step's effects receive at boot. Services are created lazily, once, by the boot command;
 * a step uses only the ones it needs, so a boot without mint_bucket never loads the S3 client. */
import type { Logger } from '../lib/log.js';
import type { AgentConfig } from '../config/schema.js';
import type { Paths } from '../config/paths.js';
import type { UserData } from '../user-data/schema.js';
import type { IdentityDocument, Imds } from '../ports/imds.js';
import type { Kms } from '../ports/kms.js';
import type { Secret } from '../lib/secret.js';
import type { KmsEncrypted } from '../user-data/values.js';

export interface BootFacts {
  bootId: string;
  instance: IdentityDocument;
}

export interface BootContext {
  settings: UserData;
  config: AgentConfig;
  paths: Paths;
  facts: BootFacts;
  /** Child logger named for the step. */
  log: Logger;
  /** Aborted at the boot deadline. */
  signal: AbortSignal;
  /** Epoch ms by which the whole boot must end. */
  deadline: number;
  imds: Imds;
  kms: Kms;
  /** Decrypt with caching (a value used by two steps is decrypted once). */
  decrypt(value: KmsEncrypted): Promise<Secret>;
  /** Record a secret-free fact in the boot status (e.g. imageDigest). */
  record(key: string, value: string | number | boolean): void;
}
