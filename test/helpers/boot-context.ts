/*! A BootContext for driving a step's `apply` directly in integration tests: real agent config
 * and paths under a scratch root, a tiny IMDS fake (the identity signature is all the container
 * step asks for), a KMS `decrypt` that maps ciphertexts to Secrets, and a log captured as parsed
 * JSON lines. */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { configFromText } from '../../agent/src/config/load.js';
import { createLogger } from '../../agent/src/lib/log.js';
import { AgentError } from '../../agent/src/lib/errors.js';
import { Secret } from '../../agent/src/lib/secret.js';
import { validateUserData } from '../../agent/src/user-data/validate.js';
import type { BootContext } from '../../agent/src/engine/context.js';
import type { Imds } from '../../agent/src/ports/imds.js';
import type { UserData } from '../../agent/src/user-data/schema.js';
import type { KmsEncrypted } from '../../agent/src/user-data/values.js';

export interface TestBootOptions {
  /** User data text (with the #taupage-ami-config header). */
  userData: string;
  /** Agent settings, merged over the defaults as agent.yaml would be. */
  config?: Record<string, unknown>;
  /** PKCS7 identity signature the fake IMDS returns. */
  identity?: string;
  /** Ciphertext (base64, as in aws:kms:<base64>) → plaintext. */
  secrets?: Record<string, string>;
  /** The boot's deadline from now. */
  deadlineMs?: number;
  bootId?: string;
}

export interface TestBoot {
  ctx: BootContext;
  settings: UserData;
  records: Record<string, string | number | boolean>;
  /** Parsed log lines so far. */
  logs(): Array<Record<string, unknown>>;
  /** The raw log text (to prove a secret never reached it). */
  logText(): string;
  /** How often the fake KMS was asked. */
  decrypts: number;
}

export function settingsFrom(userData: string): UserData {
  const v = validateUserData(userData);
  if (!v.valid || !v.settings) throw new Error(`test user data is invalid: ${v.errors.map((e) => `${e.line}:${e.column} ${e.code} ${e.message}`).join('; ')}`);
  return v.settings;
}

export function testBoot(options: TestBootOptions): TestBoot {
  const settings = settingsFrom(options.userData);
  const { config, paths } = configFromText(JSON.stringify(options.config ?? {}), 'test agent config', {});
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const log = createLogger({ destination, level: 'debug' });
  const controller = new AbortController();
  const deadline = Date.now() + (options.deadlineMs ?? 120_000);
  const timer = setTimeout(() => controller.abort(new AgentError('TPG_BOOT_DEADLINE', 'test boot deadline')), options.deadlineMs ?? 120_000);
  timer.unref();
  const records: TestBoot['records'] = {};
  const result: TestBoot = {
    settings,
    records,
    decrypts: 0,
    logs: () =>
      lines
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    logText: () => lines.join(''),
    ctx: undefined as unknown as BootContext,
  };
  const decrypt = async (value: KmsEncrypted): Promise<Secret> => {
    result.decrypts++;
    const plain = options.secrets?.[value.ciphertext.reveal()];
    if (plain === undefined) throw new AgentError('TPG_KMS_DECRYPT_FAILED', 'the test KMS does not know this ciphertext', { retriable: false });
    return new Secret(plain, value.ciphertext.label);
  };
  const imds: Imds = {
    identitySignature: async () => {
      if (options.identity === undefined) throw new AgentError('TPG_IMDS_UNAVAILABLE', 'the test IMDS has no identity signature');
      return options.identity;
    },
    userData: async () => options.userData,
    identity: async () => ({ document: instance, raw: JSON.stringify(instance) }),
    metadata: async () => undefined,
  };
  const instance = { instanceId: 'i-0123456789abcdef0', region: 'eu-central-1', availabilityZone: 'eu-central-1a', accountId: '123456789012' };
  result.ctx = {
    settings,
    config,
    paths,
    facts: { bootId: options.bootId ?? randomUUID(), instance },
    log,
    signal: controller.signal,
    deadline,
    imds,
    kms: { decrypt },
    decrypt,
    record: (key, value) => {
      records[key] = value;
    },
  };
  return result;
}
