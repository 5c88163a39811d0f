/*! The Pier One trust check against the real registry behind our gate: headers, approvals by tag
 * and digest, identity auth, missing images, an unreachable or failing registry, a lying one. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { PierOneTrust } from '../../agent/src/adapters/pierone.js';
import { AgentError } from '../../agent/src/lib/errors.js';
import { Secret } from '../../agent/src/lib/secret.js';
import { parseImageRef, type ImageRef } from '../../agent/src/values/image-ref.js';
import { startPierOneGate, type GateRequest, type PierOneGate } from '../fakes/pierone.js';
import { createLogger } from '../../agent/src/lib/log.js';
import { deadlineOf } from '../../agent/src/lib/retry.js';
import { deadlineIn } from '../harness/deadline.js';
import { jsonLines } from '../harness/log-lines.js';
import { buildDemoImage, dockerFromEnv, type DemoImage } from '../fakes/demo-image.js';
import { registryFromEnv } from '../harness/services.js';

const registry = process.env.TAUPAGE_REGISTRY!;
const org = `trust${randomBytes(3).toString('hex')}`;
let gate: PierOneGate;
let image: DemoImage;

const trust = (over: Partial<ConstructorParameters<typeof PierOneTrust>[0]> = {}) =>
  new PierOneTrust({ registries: [gate.address, registry], timeoutMs: 2_000, attemptsWithoutDeadline: 3, baseMs: 20, capMs: 100, ...over });
const ref = (text: string): ImageRef => {
  const r = parseImageRef(text);
  if (!r.ok) throw new Error(r.reason);
  return r.ref;
};
/** A logger whose warnings the test reads. */
function captured() {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', destination: { write: (line: string) => void lines.push(line) } });
  return { log, warnings: () => jsonLines(lines.join('')).filter((l) => l.level === 'warn') };
}
async function refusal(p: Promise<unknown>): Promise<AgentError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(AgentError);
  return e as AgentError;
}

beforeAll(async () => {
  registryFromEnv();
  image = await buildDemoImage(dockerFromEnv(), { reference: `${registry}/${org}/app:1.0` });
  gate = await startPierOneGate({ registry });
});

afterAll(async () => {
  await gate?.close();
});

describe.sequential('Pier One trust check', () => {
  it('approves a production-ready tag and returns the digest the registry names', async () => {
    gate.approve(`${org}/app:1.0`, { productionReady: true });
    const approved = await trust().approve(ref(`${gate.address}/${org}/app:1.0`), {});
    expect(approved).toEqual({ digest: image.digest, mediaType: 'application/vnd.docker.distribution.manifest.v2+json' });
  });

  it('uses X-Trusted when X-Production-Ready-Taupage is absent, and approvals by digest', async () => {
    gate.approve(`${org}/app:1.0`, { trusted: true });
    expect((await trust().approve(ref(`${gate.address}/${org}/app:1.0`), {})).digest).toBe(image.digest);
    gate.revoke(`${org}/app:1.0`);
    gate.approve(`${org}/app@${image.digest}`, { trusted: true });
    expect((await trust().approve(ref(`${gate.address}/${org}/app:1.0`), {})).digest).toBe(image.digest);
    gate.revoke(`${org}/app@${image.digest}`);
  });

  it('refuses with the registry reason when X-Production-Ready-Taupage is not true, even if X-Trusted is', async () => {
    gate.approve(`${org}/app:1.0`, { trusted: true, productionReady: false, reason: 'no production-ready incident recorded' });
    const e = await refusal(trust().approve(ref(`${gate.address}/${org}/app:1.0`), {}));
    expect(e.code).toBe('TPG_IMAGE_UNTRUSTED');
    expect(e.message).toContain('no production-ready incident recorded');
  });

  it('refuses X-Trusted: false and a registry that sends neither header', async () => {
    gate.approve(`${org}/app:1.0`, { trusted: false, reason: 'scm-source missing' });
    expect((await refusal(trust().approve(ref(`${gate.address}/${org}/app:1.0`), {}))).message).toContain('scm-source missing');
    gate.revoke(`${org}/app:1.0`);
    const e = await refusal(trust().approve(ref(`${gate.address}/${org}/app:1.0`), {}));
    expect(e.code).toBe('TPG_IMAGE_UNTRUSTED');
    // the bare registry (not Pier One) sends no trust headers at all
    expect((await refusal(trust().approve(ref(`${registry}/${org}/app:1.0`), {}))).code).toBe('TPG_IMAGE_UNTRUSTED');
  });

  it('reports a missing tag or repository as TPG_IMAGE_NOT_FOUND, without retrying', async () => {
    gate.requests.length = 0;
    const tag = await refusal(trust().approve(ref(`${gate.address}/${org}/app:9.9`), {}));
    expect(tag.code).toBe('TPG_IMAGE_NOT_FOUND');
    expect(tag.message).toContain(`${org}/app:9.9 does not exist`);
    const repo = await refusal(trust().approve(ref(`${gate.address}/${org}/nothing:1.0`), {}));
    expect(repo.code).toBe('TPG_IMAGE_NOT_FOUND');
    expect(gate.seen('manifest')).toHaveLength(2);
  });

  it('logs in with the instance identity; no or wrong credentials are an auth failure that does not show the password', async () => {
    gate.approve(`${org}/app:1.0`);
    gate.identity = 'MIAGCSqGSIb3DQEHAqCAMIACAQExCzAJBgUrDgMCGgUAMIAGCSqGSIb3DQEHAaCAJIAEggHb';
    try {
      const image1 = ref(`${gate.address}/${org}/app:1.0`);
      const none = await refusal(trust().approve(image1, {}));
      expect(none.code).toBe('TPG_REGISTRY_AUTH');
      const wrong = await refusal(
        trust().approve(image1, { credentials: { username: 'instance-identity-document', password: new Secret('forged-signature') } }),
      );
      expect(wrong.code).toBe('TPG_REGISTRY_AUTH');
      expect(JSON.stringify(wrong) + wrong.message + (wrong.hint ?? '')).not.toContain('forged-signature');
      const ok = await trust().approve(image1, { credentials: { username: 'instance-identity-document', password: new Secret(gate.identity) } });
      expect(ok.digest).toBe(image.digest);
    } finally {
      gate.identity = undefined;
    }
  });

  it('retries a registry that fails at first, then approves', async () => {
    gate.approve(`${org}/app:1.0`);
    gate.requests.length = 0;
    Object.assign(gate.faults, { failFirst: 2, failWith: 503 });
    const { log, warnings } = captured();
    const approved = await trust({ log }).approve(ref(`${gate.address}/${org}/app:1.0`), {});
    expect(approved.digest).toBe(image.digest);
    expect(warnings().map((l) => l.attempt)).toEqual([1, 2]);
    expect(gate.requests.map((r) => r.outcome)).toEqual(['failed', 'failed', 'proxied']);
  });

  it('under a boot, retries until the deadline its signal carries (not pierone.attempts), logs each retry as every client does, and says what it tried', async () => {
    gate.approve(`${org}/app:1.0`);
    const asked: number[] = [];
    const when = (r: GateRequest) => r.kind === 'manifest' && asked.push(Date.now()) > 0;
    Object.assign(gate.faults, { down: true, failWith: 503, when });
    const boot = deadlineIn(1_500);
    const deadline = deadlineOf(boot.signal)!;
    const { log, warnings } = captured();
    try {
      const e = await refusal(
        trust({ attemptsWithoutDeadline: 1, baseMs: 50, capMs: 200, log }).approve(ref(`${gate.address}/${org}/app:1.0`), { signal: boot.signal }),
      );
      expect(e.code).toBe('TPG_REGISTRY_UNAVAILABLE');
      // A count of 1 would have asked once; the deadline let it ask again and again, never after it.
      expect(asked.length).toBeGreaterThan(2);
      expect(Math.max(...asked)).toBeLessThanOrEqual(deadline);
      const tally = /answered HTTP 503 for \S+ \((\d+) attempts in \d+\.\d s, stopped by the deadline\)$/.exec(e.message);
      expect(tally, e.message).not.toBeNull();
      const attempts = Number(tally![1]);
      expect(attempts).toBeGreaterThanOrEqual(asked.length);
      expect(e.details).toMatchObject({ attempts });
      // Each retry is a warning in the shape lib/retry gives every client (IMDS, AWS, Docker, Even).
      const retried = warnings();
      expect(retried.map((l) => l.attempt)).toEqual(Array.from({ length: attempts - 1 }, (_, i) => i + 1));
      expect(retried[0]).toMatchObject({
        registry: gate.address,
        image: `${org}/app:1.0`,
        delayMs: expect.any(Number),
        reason: expect.stringContaining('HTTP 503'),
        msg: expect.stringMatching(/^registry \S+ failed \(.*HTTP 503.*\); retrying in \d+ ms$/),
      });
    } finally {
      boot.dispose();
      Object.assign(gate.faults, { down: false, when: undefined });
    }
  });

  it('gives up on a registry that stays down (503 or dropped connections) with TPG_REGISTRY_UNAVAILABLE', async () => {
    Object.assign(gate.faults, { down: true, failWith: 503 });
    try {
      const e = await refusal(trust().approve(ref(`${gate.address}/${org}/app:1.0`), {}));
      expect(e.code).toBe('TPG_REGISTRY_UNAVAILABLE');
      expect(e.message).toMatch(/HTTP 503/);
      gate.faults.failWith = 'reset';
      expect((await refusal(trust().approve(ref(`${gate.address}/${org}/app:1.0`), {}))).code).toBe('TPG_REGISTRY_UNAVAILABLE');
    } finally {
      Object.assign(gate.faults, { down: false, failWith: 503 });
    }
  });

  it('times out a registry that does not answer, and an unreachable one is TPG_REGISTRY_UNAVAILABLE', async () => {
    gate.faults.delayMs = 5_000;
    try {
      const slow = await refusal(trust({ timeoutMs: 200, attemptsWithoutDeadline: 2 }).approve(ref(`${gate.address}/${org}/app:1.0`), {}));
      expect(slow.code).toBe('TPG_REGISTRY_UNAVAILABLE');
      expect(slow.message).toMatch(/did not answer within 200 ms/);
      // A check is a GET: a timed-out attempt is tried again, like any other failure (once was final).
      expect(slow.message).toMatch(/\(2 attempts in \d+\.\d s\)$/);
      expect(slow.details).toMatchObject({ attempts: 2 });
    } finally {
      gate.faults.delayMs = 0;
    }
    const closed = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    const e = await refusal(trust({ registries: [`127.0.0.1:${closed}`] }).approve(ref(`127.0.0.1:${closed}/${org}/app:1.0`), {}));
    expect(e.code).toBe('TPG_REGISTRY_UNAVAILABLE');
    expect(e.message).toMatch(/ECONNREFUSED/);
  });

  it('a registry not in pierone.registries is refused, however trusted it says the image is, and is never asked', async () => {
    const asked: string[] = [];
    const teams: Server = createServer((req, res) => {
      asked.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'application/vnd.docker.distribution.manifest.v2+json', 'x-trusted': 'true', 'x-production-ready-taupage': 'true' });
      res.end('{"schemaVersion":2}');
    });
    await new Promise<void>((resolve) => teams.listen(0, '127.0.0.1', () => resolve()));
    try {
      const at = `127.0.0.1:${(teams.address() as AddressInfo).port}`;
      const e = await refusal(trust().approve(ref(`${at}/${org}/app:1.0`), {}));
      expect(e.code).toBe('TPG_IMAGE_UNTRUSTED');
      expect(e.message).toBe(`${at} is not Pier One: only registries in pierone.registries (${gate.address}, ${registry}) may approve an image to run`);
      expect(asked).toEqual([]);
    } finally {
      teams.close();
    }
  });

  it('fails closed when the manifest does not hash to the announced digest', async () => {
    const liar: Server = createServer((_req, res) => {
      res.writeHead(200, {
        'content-type': 'application/vnd.docker.distribution.manifest.v2+json',
        'docker-content-digest': image.digest,
        'x-production-ready-taupage': 'true',
      });
      res.end('{"schemaVersion":2,"tampered":true}');
    });
    await new Promise<void>((resolve) => liar.listen(0, '127.0.0.1', () => resolve()));
    try {
      const at = `127.0.0.1:${(liar.address() as AddressInfo).port}`;
      const e = await refusal(trust({ attemptsWithoutDeadline: 1, registries: [at] }).approve(ref(`${at}/${org}/app:1.0`), {}));
      expect(e.code).toBe('TPG_IMAGE_DIGEST_MISMATCH');
    } finally {
      liar.close();
    }
  });
});
