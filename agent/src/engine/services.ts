/*! The services a boot's steps use, created on first use: a boot that decrypts nothing never
 * loads the KMS client, and one without notify_cfn never loads CloudFormation's. Adapters are
 * imported dynamically for the same reason. Tests replace any factory.
 *
 * Also the boot's `decrypt`: cached per ciphertext (two steps using one value cause one KMS
 * call, also while the first call is in flight), every plaintext registered with the scrubber. */
import type { AgentConfig } from '../config/schema.js';
import type { Imds } from '../ports/imds.js';
import type { Kms } from '../ports/kms.js';
import type { StackSignal } from '../ports/stack-signal.js';
import type { AppContainer } from '../ports/app-container.js';
import type { Logger } from '../lib/log.js';
import type { Clock } from '../lib/clock.js';
import type { Scrubber } from '../lib/scrub.js';
import type { Secret } from '../lib/secret.js';
import { AgentError } from '../lib/errors.js';
import { isKmsEncrypted, type KmsEncrypted } from '../user-data/values.js';
import { ImdsClient, type ImdsClientOptions } from '../adapters/aws/imds.js';
import type { AwsCallOptions } from '../adapters/aws/sdk.js';

type Closable = { close?(): unknown; warm?(): Promise<void> };

export interface ServiceFactories {
  imds(o: ImdsClientOptions): Imds & Closable;
  kms(o: AwsCallOptions): Promise<Kms & Closable>;
  stackSignal(o: AwsCallOptions): Promise<StackSignal & Closable>;
  appContainer(config: AgentConfig): Promise<AppContainer & Closable>;
}

/** The real adapters; the IMDS client is needed by every boot, the others are loaded on first use. */
export function defaultFactories(): ServiceFactories {
  return {
    imds: (o) => new ImdsClient(o),
    kms: async (o) => new (await import('../adapters/aws/kms.js')).KmsAdapter(o),
    stackSignal: async (o) => new (await import('../adapters/aws/cfn.js')).CfnAdapter(o),
    appContainer: async (config) => (await import('../steps/container/apply.js')).applicationContainer(config),
  };
}

export interface BootServicesOptions {
  config: AgentConfig;
  factories: ServiceFactories;
  log: Logger;
  clock: Clock;
  scrubber: Scrubber;
  /** No metadata call goes past this (clock ms). */
  notAfter: number;
}

export class BootServices {
  readonly imds: Imds & Closable;
  readonly kms: Kms;
  readonly stackSignal: StackSignal;
  readonly appContainer: AppContainer;
  private region?: string;
  private readonly cfn: () => Promise<StackSignal & Closable>;
  private readonly made: Array<Promise<Closable>> = [];
  private readonly plaintexts = new Map<string, Promise<Secret>>();

  constructor(private readonly o: BootServicesOptions) {
    const c = o.config;
    this.imds = o.factories.imds({
      endpoint: c.metadata.endpoint,
      timeoutMs: c.metadata.timeout_ms,
      attempts: c.metadata.attempts,
      deadlineMs: c.metadata.deadline_seconds * 1000,
      retryBaseMs: c.metadata.retry_base_ms,
      notAfter: o.notAfter,
      clock: o.clock,
      log: o.log.child({ service: 'imds' }),
    });
    const kms = this.lazy(() => o.factories.kms(this.awsOptions('kms')));
    const cfn = this.lazy(() => o.factories.stackSignal(this.awsOptions('cloudformation')));
    this.cfn = cfn;
    const app = this.lazy(() => o.factories.appContainer(c));
    this.kms = { decrypt: async (v, signal) => (await kms()).decrypt(v, signal) };
    this.stackSignal = { signal: async (input, signal) => (await cfn()).signal(input, signal) };
    this.appContainer = { waitForExit: async (signal) => (await app()).waitForExit(signal) };
  }

  /** The AWS region (agent config, else the identity document); needed before KMS or CloudFormation. */
  setRegion(region: string): void {
    this.region = region;
  }

  /**
   * Load the CloudFormation client and its credentials now, while the steps run, so the signal at
   * the end does not pay for them. Errors are left for the signal itself to report.
   */
  warmStackSignal(): void {
    this.cfn()
      .then((c) => c.warm?.())
      .catch(() => undefined);
  }

  /** Decrypt with caching; the plaintext joins the scrubber before anyone sees it. */
  decrypt(value: KmsEncrypted, signal?: AbortSignal): Promise<Secret> {
    const key = value.ciphertext.reveal();
    let p = this.plaintexts.get(key);
    if (!p) {
      p = this.kms.decrypt(value, signal).then((secret) => {
        this.o.scrubber.add(secret.reveal());
        return secret;
      });
      this.plaintexts.set(key, p);
    }
    return p;
  }

  /**
   * Start decrypting every aws:kms: value of the user data now, concurrently, so the steps that
   * need them find them ready. Failures stay in the cache for the step that uses the value.
   */
  prefetch(settings: unknown, signal?: AbortSignal): number {
    const values = collectKmsValues(settings);
    for (const v of values) {
      this.decrypt(v, signal).catch((e: unknown) =>
        this.o.log.warn(
          { value: v.ciphertext.label, errorCode: (e as AgentError).code },
          `could not decrypt ${v.ciphertext.label}; the step that uses it will fail`,
        ),
      );
    }
    return values.length;
  }

  async close(): Promise<void> {
    const made = await Promise.allSettled(this.made);
    for (const m of made) if (m.status === 'fulfilled') await Promise.resolve(m.value.close?.()).catch(() => undefined);
    await Promise.resolve(this.imds.close?.()).catch(() => undefined);
  }

  private awsOptions(service: 'kms' | 'cloudformation'): AwsCallOptions {
    const c = this.o.config;
    if (!this.region) throw new AgentError('TPG_INTERNAL', `${service} was asked for before the region was known`);
    const endpoint = c.aws.endpoints[service];
    return {
      region: this.region,
      ...(endpoint ? { endpoint } : {}),
      timeoutMs: c.aws.request_timeout_ms,
      attempts: c.aws.max_attempts,
      retryBaseMs: c.aws.retry_base_ms,
      clock: this.o.clock,
      log: this.o.log.child({ service }),
      metadataEndpoint: c.metadata.endpoint,
    };
  }

  private lazy<T extends Closable>(make: () => Promise<T>): () => Promise<T> {
    let p: Promise<T> | undefined;
    return () => {
      if (!p) {
        p = make();
        this.made.push(p);
      }
      return p;
    };
  }
}

/** Every aws:kms: value in the settings, once per ciphertext. */
export function collectKmsValues(value: unknown): KmsEncrypted[] {
  const out = new Map<string, KmsEncrypted>();
  const walk = (v: unknown, depth: number) => {
    if (depth > 20 || v === null || typeof v !== 'object') return;
    if (isKmsEncrypted(v)) {
      out.set(v.ciphertext.reveal(), v);
      return;
    }
    for (const x of Array.isArray(v) ? v : Object.values(v)) walk(x, depth + 1);
  };
  walk(value, 0);
  return [...out.values()];
}
