/*! A scratch instance for the credentials tests: a root directory with the user data the boot
 * would have written (/meta/taupage.yaml) and an agent.yaml pointing S3 at a loopback endpoint,
 * a BootContext for calling the step's apply directly, Mint-shaped objects with recognisable
 * secrets, and a collecting log sink to scan for them. */
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { configFromText, type LoadedConfig } from '../../agent/src/config/load.js';
import { validateUserData } from '../../agent/src/user-data/validate.js';
import type { UserData } from '../../agent/src/user-data/schema.js';
import type { BootContext } from '../../agent/src/engine/context.js';
import { createLogger } from '../../agent/src/lib/log.js';
import { planCredentials, type CredentialsPlan } from '../../agent/src/steps/credentials/plan.js';

export const BUCKET = 'exampleorg-stups-mint-123456789012-us-east-1';
export const APP = 'kio';
export const REGION = 'us-east-1';
/** Every secret the tests put into S3 contains this; no output may. */
export const SECRET_MARK = 'S3CR3T';

export function userJson(version: number, pad = 0): string {
  return JSON.stringify({ application_username: `${APP}-user`, application_password: `pw-${SECRET_MARK}-${version}-${'x'.repeat(pad)}` });
}

export function clientJson(version: number, pad = 0): string {
  return JSON.stringify({ client_id: `${APP}-client`, client_secret: `cs-${SECRET_MARK}-${version}-${'y'.repeat(pad)}` });
}

export interface Scratch extends LoadedConfig {
  dir: string;
  settings: UserData;
  plan: CredentialsPlan;
  agentYaml: string;
  logLines: string[];
  records: Record<string, unknown>;
  /** A BootContext for the credentials step; other services throw when used. */
  context(options?: { deadlineMs?: number; signal?: AbortSignal }): BootContext;
}

export interface ScratchOptions {
  endpoint: string;
  userData?: Record<string, unknown>;
  agent?: Record<string, unknown>;
}

const scratchDirs: string[] = [];

/** Remove every scratch root made by this process (call from afterAll). */
export async function removeScratches(): Promise<void> {
  await Promise.all(scratchDirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

export async function scratch(options: ScratchOptions): Promise<Scratch> {
  const dir = await mkdtemp(join(tmpdir(), 'tpg-cred-'));
  scratchDirs.push(dir);
  const ud = {
    application_id: APP,
    application_version: '1.0',
    runtime: 'Docker',
    source: 'pierone.example.org/team/kio:1.0',
    mint_bucket: BUCKET,
    ...options.userData,
  };
  const text = `#taupage-ami-config\n${stringify(ud)}`;
  const validated = validateUserData(text);
  if (!validated.settings) throw new Error(`test user data invalid: ${JSON.stringify(validated.errors)}`);
  const agent = {
    root: dir,
    aws: { endpoints: { s3: options.endpoint }, s3_force_path_style: true, request_timeout_ms: 5_000, max_attempts: 3 },
    application_user: { uid: 4242, gid: 4243 },
    credentials: { jitter_seconds: 0 },
    ...options.agent,
  };
  const agentText = stringify(agent);
  const loaded = configFromText(agentText, 'agent.yaml', {});
  await mkdir(loaded.paths.meta, { recursive: true });
  await writeFile(loaded.paths.taupageYaml, text);
  const agentYaml = join(dir, 'agent.yaml');
  await writeFile(agentYaml, agentText);
  const plan = planCredentials({ settings: validated.settings, config: loaded.config, paths: loaded.paths });
  if (!plan) throw new Error('no credentials plan');
  const logLines: string[] = [];
  const records: Record<string, unknown> = {};
  const unused = () => {
    throw new Error('not used by the credentials step');
  };
  return {
    ...loaded,
    dir,
    settings: validated.settings,
    plan,
    agentYaml,
    logLines,
    records,
    context({ deadlineMs = 30_000, signal } = {}) {
      return {
        settings: validated.settings!,
        config: loaded.config,
        paths: loaded.paths,
        facts: {
          bootId: 'test-boot',
          instance: { instanceId: 'i-0123456789abcdef0', region: REGION, availabilityZone: `${REGION}a`, accountId: '123456789012' },
        },
        log: createLogger({ level: 'debug', destination: { write: (s: string) => void logLines.push(s) } }),
        signal: signal ?? AbortSignal.timeout(deadlineMs),
        deadline: Date.now() + deadlineMs,
        imds: { userData: unused, identity: unused, identitySignature: unused, metadata: unused },
        kms: { decrypt: unused },
        decrypt: unused,
        record: (k, v) => {
          records[k] = v;
        },
      };
    },
  };
}
