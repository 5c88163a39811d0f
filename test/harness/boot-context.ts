/*! The one way tests build what a step's effects receive at boot (a BootContext) without a boot:
 * the agent config and paths from settings merged over the defaults (as agent.yaml would be),
 * validated user data, the real ports (adapters/index.ts) except a tiny IMDS (the identity
 * signature is all the container step asks for) and a KMS that maps ciphertexts to Secrets,
 * facts recorded in a map, and the log captured as JSON lines. A test passes its own ports where
 * it needs them. `context()` makes another one over the same log and records (a second boot
 * pass, a shorter deadline, other ports). Ports made here are closed after the test file (cleanup.ts). */
import { randomUUID } from 'node:crypto';
import { jsonLines } from './log-lines.js';
import { afterFile } from './cleanup.js';
import { configFromText, type LoadedConfig } from '../../agent/src/config/load.js';
import { createLogger, type Logger } from '../../agent/src/lib/log.js';
import { anySignal, deadlineSignal } from '../../agent/src/lib/retry.js';
import { AgentError } from '../../agent/src/lib/errors.js';
import { Secret } from '../../agent/src/lib/secret.js';
import { validateUserData } from '../../agent/src/user-data/validate.js';
import type { BootContext } from '../../agent/src/steps/context.js';
import type { Imds, IdentityDocument } from '../../agent/src/ports/imds.js';
import type { BootPorts, Closable } from '../../agent/src/ports/index.js';
import { realPorts } from '../../agent/src/adapters/index.js';
import type { UserData } from '../../agent/src/steps/schema.js';
import type { KmsEncrypted } from '../../agent/src/values/kms.js';

export interface TestBootOptions {
  /** User data text (with the #taupage-ami-config header). */
  userData: string;
  /** Agent settings, merged over the defaults as agent.yaml would be. */
  config?: Record<string, unknown>;
  /** PKCS7 identity signature the test IMDS returns; without it, asking for it fails. */
  identity?: string;
  /** Ciphertext (base64, as in aws:kms:<base64>) → plaintext. */
  secrets?: Record<string, string>;
  /** The boot's deadline from now (default 120 s); its signal aborts then. */
  deadlineMs?: number;
  bootId?: string;
  /** The instance's region (identity document), also the boot's. */
  region?: string;
  /** Ports instead of the real ones. */
  ports?: Partial<BootPorts>;
  /** What the test IMDS answers for meta-data paths (e.g. `local-ipv4`); others are absent. */
  metadata?: Record<string, string>;
}

export interface ContextOptions {
  deadlineMs?: number;
  signal?: AbortSignal;
  ports?: Partial<BootPorts>;
}

export interface TestBoot extends LoadedConfig {
  ctx: BootContext;
  settings: UserData;
  /** Another context over the same log and records, with its own deadline, signal or ports. */
  context(options?: ContextOptions): BootContext;
  records: Record<string, string | number | boolean>;
  /** The contexts' logger (debug level), for whatever else a test runs beside the step. */
  log: Logger;
  /** Parsed log lines so far. */
  logs(): Array<Record<string, unknown>>;
  /** The raw log text (to prove a secret never reached it). */
  logText(): string;
  /** How often the test KMS was asked. */
  decrypts: number;
}

export const INSTANCE_ID = 'i-0123456789abcdef0';

const opened: Closable[] = [];

async function closePorts(): Promise<void> {
  await Promise.all(opened.splice(0).map((p) => Promise.resolve(p.close?.()).catch(() => undefined)));
}

/** Validated settings from user-data text; invalid text fails the test with the issues. */
export function settingsFrom(userData: string): UserData {
  const v = validateUserData(userData);
  if (!v.valid || !v.settings) throw new Error(`test user data is invalid: ${v.errors.map((e) => `${e.line}:${e.column} ${e.code} ${e.message}`).join('; ')}`);
  return v.settings;
}

export function testBoot(options: TestBootOptions): TestBoot {
  const settings = settingsFrom(options.userData);
  const loaded = configFromText(JSON.stringify(options.config ?? {}), 'test agent config', {});
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', destination: { write: (line: string) => void lines.push(line) } });
  const region = options.region ?? 'eu-central-1';
  const instance: IdentityDocument = { instanceId: INSTANCE_ID, region, availabilityZone: `${region}a`, accountId: '123456789012' };
  const bootId = options.bootId ?? randomUUID();
  const records: TestBoot['records'] = {};
  const decrypt = async (value: KmsEncrypted): Promise<Secret> => {
    boot.decrypts++;
    const plain = options.secrets?.[value.ciphertext.reveal()];
    if (plain === undefined) throw new AgentError('TPG_KMS_DECRYPT_FAILED', 'the test KMS does not know this ciphertext', { retriable: false });
    return new Secret(plain, value.ciphertext.label);
  };
  const imds: Imds = {
    identitySignature: async () => {
      if (options.identity === undefined) throw new AgentError('TPG_IMDS_UNAVAILABLE', 'the test IMDS has no identity signature');
      return options.identity;
    },
    userData: async () => Buffer.from(options.userData),
    identity: async () => ({ document: instance, raw: JSON.stringify(instance) }),
    metadata: async (path) => options.metadata?.[path],
  };
  const context = ({ deadlineMs = options.deadlineMs ?? 120_000, signal, ports }: ContextOptions = {}): BootContext => {
    // As the engine's: a signal that aborts at the deadline and carries it, so every retry loop under it runs until then.
    const deadline = Date.now() + deadlineMs;
    const phase = deadlineSignal(deadline, { reason: () => new AgentError('TPG_BOOT_DEADLINE', 'test boot deadline') });
    const made = realPorts({ config: loaded.config, log }).forRegion(region);
    opened.push(...Object.values(made));
    afterFile(closePorts);
    return {
      settings,
      config: loaded.config,
      paths: loaded.paths,
      facts: { bootId, instance, region },
      log,
      signal: signal ? anySignal([signal, phase.signal]) : phase.signal,
      deadline,
      ports: { ...made, imds, kms: { decrypt }, ...options.ports, ...ports },
      decrypt,
      record: (key, value) => {
        records[key] = value;
      },
    };
  };
  const boot: TestBoot = {
    ...loaded,
    settings,
    records,
    log,
    decrypts: 0,
    logs: () => jsonLines(lines.join('')),
    logText: () => lines.join(''),
    context,
    ctx: undefined as unknown as BootContext,
  };
  boot.ctx = context();
  return boot;
}
