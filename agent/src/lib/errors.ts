/*! Typed errors with stable codes, and the one table that maps codes to exit codes.
 *
 * Match on `error.code`, never on the message. Every code is listed in ERROR_CODES with its exit
 * code and a one-line meaning; docs/exit-codes.md is generated from this table. Only main.ts turns
 * an error into a process exit. */

export interface ErrorCodeInfo {
  exit: number;
  meaning: string;
}

/** Exit codes, documented in docs/exit-codes.md. Grouped by what an operator does next. */
export const EXIT = {
  OK: 0,
  FAILED: 1, // the command ran and the answer is "no": invalid input, failed boot, refused request
  USAGE: 2, // wrong arguments, unreadable file
  RUNNING: 3, // `status`: the boot has not ended yet
  CONFIG: 4, // the agent's own configuration is invalid
  UNAVAILABLE: 5, // a dependency (IMDS, AWS, registry, S3, Even) could not be reached in time
  INTERNAL: 70, // a bug: please report (EX_SOFTWARE)
  INTERRUPTED: 143, // stopped by SIGTERM or SIGINT (128 + 15, as shells report it); the boot recorded and signalled it
} as const;

export const ERROR_CODES = {
  TPG_USAGE: { exit: EXIT.USAGE, meaning: 'The command line is wrong; see `taupage help`.' },
  TPG_READ_FAILED: { exit: EXIT.USAGE, meaning: 'An input file could not be read.' },
  TPG_CONFIG_INVALID: { exit: EXIT.CONFIG, meaning: "The agent's own configuration (agent.yaml or TAUPAGE_* variables) is invalid." },
  TPG_USERDATA_INVALID: { exit: EXIT.FAILED, meaning: 'The user data does not satisfy the contract (see docs/user-data.md).' },
  TPG_USERDATA_MISSING: { exit: EXIT.FAILED, meaning: 'The instance has no user data, or it lacks the #taupage-ami-config header.' },
  TPG_IMDS_UNAVAILABLE: { exit: EXIT.UNAVAILABLE, meaning: 'The instance metadata service did not answer in time.' },
  TPG_AWS_CREDENTIALS: {
    exit: EXIT.FAILED,
    meaning: 'The instance has no usable AWS credentials: no instance profile (IAM role) and none in the environment.',
  },
  TPG_KMS_DECRYPT_FAILED: { exit: EXIT.FAILED, meaning: 'An aws:kms: value could not be decrypted.' },
  TPG_KMS_UNAVAILABLE: { exit: EXIT.UNAVAILABLE, meaning: 'KMS could not be reached or kept throttling.' },
  TPG_IMAGE_UNTRUSTED: { exit: EXIT.FAILED, meaning: 'Pier One does not mark the image as approved.' },
  TPG_IMAGE_NOT_FOUND: { exit: EXIT.FAILED, meaning: 'The registry has no such image or tag.' },
  TPG_IMAGE_DIGEST_MISMATCH: { exit: EXIT.FAILED, meaning: 'The image digest differs from the approved or pinned one.' },
  TPG_REGISTRY_AUTH: { exit: EXIT.FAILED, meaning: 'The registry refused our credentials.' },
  TPG_REGISTRY_UNAVAILABLE: { exit: EXIT.UNAVAILABLE, meaning: 'The registry could not be reached in time.' },
  TPG_PULL_FAILED: { exit: EXIT.FAILED, meaning: 'Docker could not pull the image.' },
  TPG_PULL_TIMEOUT: { exit: EXIT.UNAVAILABLE, meaning: 'The image pull did not finish before its deadline.' },
  TPG_DOCKER_UNAVAILABLE: { exit: EXIT.UNAVAILABLE, meaning: 'The Docker engine did not answer.' },
  TPG_CONTAINER_FAILED: { exit: EXIT.FAILED, meaning: 'The application container could not be created or started.' },
  TPG_HEALTH_TIMEOUT: {
    exit: EXIT.FAILED,
    meaning: 'The application did not answer HTTP 200 on its health check (or its Docker HEALTHCHECK did not pass) in time.',
  },
  TPG_CREDENTIALS_FAILED: { exit: EXIT.FAILED, meaning: 'Mint credentials could not be fetched or are invalid.' },
  TPG_CREDENTIALS_INVALID: { exit: EXIT.FAILED, meaning: 'A Mint credentials object is not the JSON Mint writes; the local file was kept.' },
  TPG_S3_ACCESS_DENIED: { exit: EXIT.FAILED, meaning: "S3 refused the request (403): the instance role's policy or credentials." },
  TPG_S3_NOT_FOUND: { exit: EXIT.FAILED, meaning: 'The S3 object or bucket does not exist (404).' },
  TPG_S3_WRONG_REGION: { exit: EXIT.FAILED, meaning: 'The S3 bucket is in another region than the one asked.' },
  TPG_S3_UNAVAILABLE: { exit: EXIT.UNAVAILABLE, meaning: 'S3 could not be reached, timed out, throttled or failed (5xx).' },
  TPG_LOGGING_FAILED: { exit: EXIT.FAILED, meaning: 'Log shipping could not be configured.' },
  TPG_CUSTOM_LOG_UNPROTECTED: {
    exit: EXIT.FAILED,
    meaning:
      "/var/log-custom (mount_custom_log) is not on the image's protective mount (nosymfollow, nodev, nosuid, noexec); the boot stopped before the application or any reader touched it.",
  },
  TPG_SSH_REFUSED: { exit: EXIT.FAILED, meaning: 'The SSH access request was refused.' },
  TPG_SSH_FAILED: { exit: EXIT.FAILED, meaning: 'Granting or revoking SSH access failed.' },
  TPG_SSH_KEY_INVALID: { exit: EXIT.FAILED, meaning: 'The public key Even served is not an acceptable OpenSSH key.' },
  TPG_EVEN_NOT_FOUND: { exit: EXIT.FAILED, meaning: 'Even has no public key for this user.' },
  TPG_EVEN_UNAVAILABLE: { exit: EXIT.UNAVAILABLE, meaning: 'Even (the access-granting service) could not be reached in time.' },
  TPG_SSH_SERVICE_UNAVAILABLE: {
    exit: EXIT.UNAVAILABLE,
    meaning: 'The SSH access service (`taupage ssh-service`) is not running or its socket cannot be reached; nothing was changed.',
  },
  TPG_AUDIT_BROKEN: { exit: EXIT.FAILED, meaning: 'The SSH audit trail failed verification.' },
  TPG_AUDIT_WRITE_FAILED: { exit: EXIT.FAILED, meaning: 'The audit record could not be written, so nothing was done.' },
  TPG_DISK_FAILED: { exit: EXIT.FAILED, meaning: 'A volume could not be prepared or mounted (RAID, format, file system check, grow, mount).' },
  TPG_VOLUME_NOT_FOUND: {
    exit: EXIT.FAILED,
    meaning: "No available EBS volume with the Name tag `volumes.ebs` names is in the instance's availability zone.",
  },
  TPG_VOLUME_IN_USE: { exit: EXIT.FAILED, meaning: 'The EBS volume with that Name tag is attached to another instance.' },
  TPG_VOLUME_TIMEOUT: { exit: EXIT.FAILED, meaning: 'An attached EBS volume (or a RAID member) did not appear as a block device in time.' },
  TPG_EC2_FAILED: { exit: EXIT.FAILED, meaning: 'EC2 refused a request (permissions of the instance role, invalid device name, ...).' },
  TPG_EC2_UNAVAILABLE: { exit: EXIT.UNAVAILABLE, meaning: 'EC2 could not be reached, timed out or kept throttling.' },
  TPG_HOST_FAILED: { exit: EXIT.FAILED, meaning: 'A host setting (sysctl, sysfs, ...) could not be applied.' },
  TPG_SIGNAL_FAILED: { exit: EXIT.UNAVAILABLE, meaning: 'CloudFormation could not be signalled.' },
  TPG_SHUTDOWN_FAILED: { exit: EXIT.FAILED, meaning: 'The application exited but the shutdown command failed.' },
  TPG_NOT_APPLIED: {
    exit: EXIT.FAILED,
    meaning: 'The user data sets a key this image does not apply yet (`taupage plan` lists them); the boot fails rather than report success without it.',
  },
  TPG_BOOT_DEADLINE: { exit: EXIT.FAILED, meaning: 'The boot did not finish before its deadline.' },
  TPG_BOOT_FAILED: { exit: EXIT.FAILED, meaning: 'A boot step failed; `taupage status` names it.' },
  TPG_BOOT_INTERRUPTED: {
    exit: EXIT.INTERRUPTED,
    meaning:
      'The boot was stopped by SIGTERM or SIGINT (systemd stopping it, a shutdown); it recorded and signalled FAILURE, and the next `taupage boot` runs again.',
  },
  TPG_DEPENDENCY_FAILED: { exit: EXIT.FAILED, meaning: 'A step did not run because a step it needs failed.' },
  TPG_TIMEOUT: { exit: EXIT.UNAVAILABLE, meaning: 'A network call did not answer in time.' },
  TPG_CANCELLED: { exit: EXIT.FAILED, meaning: 'The operation was cancelled (deadline or signal).' },
  TPG_INTERNAL: { exit: EXIT.INTERNAL, meaning: 'A bug in taupage; please report it with the log.' },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface AgentErrorOptions {
  /** What the user should do about it. */
  hint?: string;
  cause?: unknown;
  /** false: retrying cannot help. Undefined means "ask the retry policy". */
  retriable?: boolean;
  /** Wait at least this long before retrying (e.g. from Retry-After). */
  retryAfterMs?: number;
  /** Structured, secret-free details for logs and status. */
  details?: Record<string, unknown>;
}

export class AgentError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  readonly retriable?: boolean;
  readonly retryAfterMs?: number;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: AgentErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AgentError';
    this.code = code;
    if (options.hint !== undefined) this.hint = options.hint;
    if (options.retriable !== undefined) this.retriable = options.retriable;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
    if (options.details !== undefined) this.details = options.details;
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exit;
  }

  /** The one-paragraph form people read: message, then what to do. */
  describe(): string {
    return this.hint ? `${this.message}\n  hint: ${this.hint}` : this.message;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...(this.hint ? { hint: this.hint } : {}), ...(this.details ? { details: this.details } : {}) };
  }
}

export function isAgentError(e: unknown): e is AgentError {
  return e instanceof AgentError;
}

/** Wrap anything thrown into an AgentError, keeping AgentErrors as they are. */
export function toAgentError(e: unknown, fallback: ErrorCode = 'TPG_INTERNAL'): AgentError {
  if (isAgentError(e)) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new AgentError(fallback, message, { cause: e });
}

/** How a command reports an AgentError on stderr: `taupage NAME: error CODE: message`, then the hint. */
export function errorText(command: string, e: AgentError): string {
  return `taupage ${command}: error ${e.code}: ${e.describe()}\n`;
}

export function exitCodeFor(e: unknown): number {
  return isAgentError(e) ? e.exitCode : EXIT.INTERNAL;
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
