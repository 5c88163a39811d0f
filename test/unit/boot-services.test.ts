// The boot's KMS cache: a value several steps need is decrypted once, under the boot's signal, and
// a step that stops waiting (its signal aborted) does not take the value away from the others.
import { describe, expect, it } from 'vitest';
import { BootServices } from '../../agent/src/engine/services.js';
import { silentLogger } from '../../agent/src/lib/log.js';
import { Scrubber } from '../../agent/src/lib/scrub.js';
import { Secret } from '../../agent/src/lib/secret.js';
import { deadlineSignal } from '../../agent/src/lib/retry.js';
import { checkKms, type KmsEncrypted } from '../../agent/src/values/kms.js';
import type { PortFactory } from '../../agent/src/ports/index.js';

const value = checkKms('aws:kms:AQICAHhzZWNyZXQ=', [], { report: () => undefined }, 'DB_PASSWORD') as KmsEncrypted;

/** A KMS that answers after `answerMs`, unless the signal of its call aborts first (then it fails
 * with `cause`, or the signal's reason); counts its calls. */
function services(boot: AbortSignal, { answerMs = 50, cause }: { answerMs?: number; cause?: Error } = {}) {
  const kms = {
    calls: 0,
    decrypt: (_v: KmsEncrypted, signal?: AbortSignal) => {
      kms.calls++;
      return new Promise<Secret>((resolve, reject) => {
        const t = setTimeout(() => resolve(new Secret('hunter2')), answerMs);
        signal?.addEventListener('abort', () => {
          clearTimeout(t);
          reject(cause ?? signal.reason);
        });
      });
    },
  };
  const factory = { imds: () => ({ close: () => undefined }), forRegion: () => ({ kms }) } as unknown as PortFactory;
  const s = new BootServices({ factory, log: silentLogger(), scrubber: new Scrubber(), notAfter: Date.now() + 60_000, signal: boot });
  s.bind('eu-central-1');
  return { s, kms };
}

describe('BootServices.decrypt', () => {
  it('a step that stops waiting does not fail the others that wait for the same value', async () => {
    const { s, kms } = services(new AbortController().signal);
    const first = new AbortController();
    const gone = s.decrypt(value, first.signal);
    first.abort(new Error('the container is not needed any more'));
    await expect(gone).rejects.toThrow('the container is not needed any more');
    expect((await s.decrypt(value, new AbortController().signal)).reveal()).toBe('hunter2');
    expect(kms.calls).toBe(1);
  });
  it("the boot's signal ends the decryption itself", async () => {
    const boot = new AbortController();
    const { s } = services(boot.signal);
    const waiting = s.decrypt(value);
    boot.abort(new Error('the boot deadline passed'));
    await expect(waiting).rejects.toThrow('the boot deadline passed');
  });
  it("a step whose signal ends with the boot's deadline gets KMS's own error (the root cause), whichever timer fires first", async () => {
    const now = Date.now();
    const deadline = () => new Error('the boot deadline passed');
    const boot = deadlineSignal(now + 120, { reason: deadline });
    const { s } = services(boot.signal, { answerMs: 30_000, cause: new Error('KMS did not answer within 400 ms') });
    // The step's timer for the same deadline fires first (timers for one moment fire in any order).
    const step = deadlineSignal(now + 100, { reason: deadline });
    await expect(s.decrypt(value, step.signal)).rejects.toThrow('KMS did not answer within 400 ms');
    boot.dispose();
    step.dispose();
  });
  it('a step cancelled long before the deadline stops waiting at once', async () => {
    const boot = deadlineSignal(Date.now() + 60_000, { reason: () => new Error('the boot deadline passed') });
    const { s } = services(boot.signal, { answerMs: 30_000 });
    const step = new AbortController();
    const gone = s.decrypt(value, step.signal);
    step.abort(new Error('a step it needs failed'));
    // Not after KMS's answer (30 s), nor a grace period: the boot's deadline is a minute away.
    const stillWaiting = new Promise((r) => setTimeout(() => r('still waiting'), 5_000).unref());
    await expect(Promise.race([gone, stillWaiting])).rejects.toThrow('a step it needs failed');
    boot.dispose();
  });
});
