/*! What a step's effects receive at boot: the validated settings, facts, a deadline, and the
 * ports (ctx.ports) through which alone it reaches the outside world. A port's adapter is loaded
 * on its first use, so a boot without mint_bucket never loads the S3 client. */
import type { Logger } from '../lib/log.js';
import type { AgentConfig } from '../config/schema.js';
import type { Paths } from '../config/paths.js';
import type { UserData } from './schema.js';
import type { IdentityDocument } from '../ports/imds.js';
import type { BootPorts } from '../ports/index.js';
import type { Secret } from '../lib/secret.js';
import type { KmsEncrypted } from '../values/kms.js';
import type { ErrorCode } from '../lib/errors.js';

export interface BootFacts {
  bootId: string;
  instance: IdentityDocument;
  /** The AWS region the boot works in: agent config aws.region, else the instance's (also in the status). */
  region: string;
}

/** What every step's effects receive. */
export interface StepContext {
  config: AgentConfig;
  paths: Paths;
  facts: BootFacts;
  /** Child logger named for the step. */
  log: Logger;
  /** Aborted at the boot deadline. */
  signal: AbortSignal;
  /** Epoch ms by which the whole boot must end. */
  deadline: number;
  ports: BootPorts;
  /** Decrypt with caching (a value used by two steps is decrypted once). */
  decrypt(value: KmsEncrypted): Promise<Secret>;
  /** Record a secret-free fact in the boot status (e.g. imageDigest). */
  record(key: string, value: string | number | boolean): void;
}

/** What a `boot` step's effects receive: also the validated user data. */
export interface BootContext extends StepContext {
  settings: UserData;
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

/** What `finally` and `after` steps (signal, shutdown) receive: the outcome so far, and no settings
 * (a finally step also runs, with its fallback plan, when the user data was invalid). */
export interface EndContext extends StepContext {
  /** The outcome of every step that ran before this one. */
  outcome(): BootOutcome;
}
