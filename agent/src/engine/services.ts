/*! What a boot's steps share besides their plans: the ports, made by the factory the command
 * passes (the real adapters, or a test's) and bound to the boot's region once the identity
 * document names it; and the boot's `decrypt`: cached per ciphertext (two steps using one value
 * cause one KMS call, also while the first call is in flight), every plaintext registered with
 * the scrubber. Everything made here is closed by close(). */
import type { BootPorts, Closable, PortFactory, RegionPorts } from '../ports/index.js';
import type { Imds } from '../ports/imds.js';
import type { Logger } from '../lib/log.js';
import type { Scrubber } from '../lib/scrub.js';
import type { Secret } from '../lib/secret.js';
import type { AgentError } from '../lib/errors.js';
import { isKmsEncrypted, type KmsEncrypted } from '../values/kms.js';
import { untilAborted } from '../lib/retry.js';
import type { Clock } from '../lib/clock.js';

export interface BootServicesOptions {
  factory: PortFactory;
  log: Logger;
  scrubber: Scrubber;
  /** No metadata call goes past this (clock ms). */
  notAfter: number;
  /** The boot's own signal: a value decrypted once for every step is decrypted under it, not
   * under the signal of the step that asked first (which may be cancelled while others wait). */
  signal?: AbortSignal;
  clock?: Clock;
}

export class BootServices {
  readonly imds: Imds & Closable;
  private bound?: { ports: BootPorts; made: RegionPorts };
  private readonly plaintexts = new Map<string, Promise<Secret>>();

  constructor(private readonly o: BootServicesOptions) {
    this.imds = o.factory.imds({ notAfter: o.notAfter });
  }

  /** The ports for `region` (the boot's, decided once); a second call returns the same ports. */
  bind(region: string): BootPorts {
    if (!this.bound) {
      const made = this.o.factory.forRegion(region);
      this.bound = { ports: { imds: this.imds, ...made }, made };
    }
    return this.bound.ports;
  }

  get ports(): BootPorts {
    if (!this.bound) throw new Error('the boot asked for its ports before its region was known');
    return this.bound.ports;
  }

  /**
   * Load the CloudFormation client and its credentials now, while the steps run, so the signal at
   * the end does not pay for them. Errors are left for the signal itself to report.
   */
  warmStackSignal(): void {
    this.bound?.made.stackSignal.warm?.().catch(() => undefined);
  }

  /** Decrypt with caching; the plaintext joins the scrubber before anyone sees it. `signal` ends
   * this caller's wait, not the decryption others may wait on too. */
  decrypt(value: KmsEncrypted, signal?: AbortSignal): Promise<Secret> {
    const key = value.ciphertext.reveal();
    let p = this.plaintexts.get(key);
    if (!p) {
      p = this.ports.kms.decrypt(value, this.o.signal ?? signal).then((secret) => {
        this.o.scrubber.add(secret.reveal());
        return secret;
      });
      this.plaintexts.set(key, p);
    }
    return untilAborted(p, signal, { signal: this.o.signal, clock: this.o.clock });
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
    const made: Closable[] = Object.values(this.bound?.made ?? {});
    for (const c of [this.imds, ...made]) await Promise.resolve(c.close?.()).catch(() => undefined);
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
