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
import type { StackSignal } from '../ports/stack-signal.js';
import type { AppContainer } from '../ports/app-container.js';
import type { ErrorCode } from '../lib/errors.js';

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

/** How the boot steps went, as the `finally` and `after` steps see it. */
export interface BootOutcome {
  outcome: 'success' | 'failed';
  /** The first failure's code (TPG_BOOT_DEADLINE when the deadline cut the boot short). */
  errorCode?: ErrorCode;
  message?: string;
  /** Steps that failed, in the order they ended. */
  failedSteps: string[];
}

/** What `finally` and `after` steps (signal, shutdown) receive: the boot context plus the outcome. */
export interface EndContext extends BootContext {
  /** The outcome of every step that ran before this one. */
  outcome(): BootOutcome;
  stackSignal: StackSignal;
  appContainer: AppContainer;
}
