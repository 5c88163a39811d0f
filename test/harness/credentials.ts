/*! A scratch instance for the credentials tests: a root with the user data the boot would have
 * written (/meta/taupage.yaml) and an agent.yaml pointing S3 at a loopback endpoint, the
 * credentials plan, a BootContext for calling the step's apply directly (test/harness/boot-context.ts),
 * and Mint-shaped objects with recognisable secrets to scan outputs for. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { planCredentials, type CredentialsPlan } from '../../agent/src/steps/credentials/plan.js';
import { applyCredentials } from '../../agent/src/steps/credentials/apply.js';
import { StatusWriter } from '../../agent/src/engine/status.js';
import { testBoot, type TestBoot } from './boot-context.js';
import { scratchRoot } from './scratch.js';

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

export interface CredentialsInstance extends TestBoot {
  /** The instance's root (TAUPAGE_ROOT). */
  dir: string;
  plan: CredentialsPlan;
  /** The agent.yaml the commands are given (--config). */
  agentYaml: string;
  /** What a boot does for the credentials: the step's apply, and the region recorded in the boot's status (`taupage credentials` reads it there). */
  boot(): Promise<void>;
}

export interface CredentialsInstanceOptions {
  /** The S3 endpoint (s3rver, or a fault proxy in front of it). */
  endpoint: string;
  /** User-data keys over application_id kio and mint_bucket BUCKET. */
  userData?: Record<string, unknown>;
  /** Agent settings over the test defaults. */
  agent?: Record<string, unknown>;
}

export async function credentialsInstance(options: CredentialsInstanceOptions): Promise<CredentialsInstance> {
  const dir = await scratchRoot({ purpose: 'cred' });
  const text = `#taupage-ami-config\n${stringify({
    application_id: APP,
    application_version: '1.0',
    runtime: 'Docker',
    source: 'pierone.example.org/team/kio:1.0',
    mint_bucket: BUCKET,
    ...options.userData,
  })}`;
  const agent = {
    root: dir,
    aws: { endpoints: { s3: options.endpoint }, s3_force_path_style: true, request_timeout_ms: 5_000, max_attempts: 3 },
    application_user: { uid: 4242, gid: 4243 },
    credentials: { jitter_seconds: 0 },
    ...options.agent,
  };
  const boot = testBoot({ userData: text, config: agent, region: REGION, deadlineMs: 30_000 });
  await mkdir(boot.paths.meta, { recursive: true });
  await writeFile(boot.paths.taupageYaml, text);
  const agentYaml = join(dir, 'agent.yaml');
  await writeFile(agentYaml, stringify(agent));
  const plan = planCredentials({ settings: boot.settings, config: boot.config, paths: boot.paths });
  if (!plan) throw new Error('no credentials plan');
  return Object.assign(boot, {
    dir,
    plan,
    agentYaml,
    async boot() {
      await applyCredentials(plan, boot.context());
      const now = Date.now();
      const status = new StatusWriter(
        boot.paths,
        { bootId: 'test-boot', startedAt: now, deadline: now + 60_000, agentVersion: 'test' },
        { scrub: (t) => t, log: boot.log },
      );
      status.set({ region: REGION });
      await status.flush();
    },
  });
}
