/*! Load the agent's settings: environment > agent.yaml (--config / TAUPAGE_CONFIG) > defaults,
 * validated at start. A bad setting stops the agent with file:line:col and what to write instead. */
import { readFile } from 'node:fs/promises';
import { INVALID, type Path } from '../lib/schema/types.js';
import { parseYamlSource } from '../lib/schema/yaml-source.js';
import { AgentError } from '../lib/errors.js';
import { agentConfigSchema, configProblems, type AgentConfig } from './schema.js';
import { paths, type Paths } from './paths.js';

export const DEFAULT_CONFIG_PATH = '/etc/taupage/agent.yaml';

export interface LoadedConfig {
  config: AgentConfig;
  paths: Paths;
  /** The file that was read, if any. */
  source?: string;
}

export interface LoadOptions {
  /** Explicit --config; a missing explicit file is an error, a missing default file is not. */
  file?: string;
  env?: NodeJS.ProcessEnv;
}

/** Environment variables that override agent.yaml, and where each lands. */
const ENV_OVERRIDES: Array<[string, Path, (v: string) => unknown]> = [
  ['TAUPAGE_ROOT', ['root'], String],
  ['TAUPAGE_LOG_LEVEL', ['log_level'], String],
  ['AWS_EC2_METADATA_SERVICE_ENDPOINT', ['metadata', 'endpoint'], (v) => v.replace(/\/+$/, '')],
  ['AWS_REGION', ['aws', 'region'], String],
  ['AWS_ENDPOINT_URL_KMS', ['aws', 'endpoints', 'kms'], String],
  ['AWS_ENDPOINT_URL_CLOUDFORMATION', ['aws', 'endpoints', 'cloudformation'], String],
  ['AWS_ENDPOINT_URL_S3', ['aws', 'endpoints', 's3'], String],
  ['AWS_ENDPOINT_URL_EC2', ['aws', 'endpoints', 'ec2'], String],
  ['DOCKER_HOST', ['docker', 'host'], String],
];

/** The agent config file loadConfig reads (whether or not it exists). */
export function configFileFor(options: LoadOptions = {}): string {
  const env = options.env ?? process.env;
  return options.file ?? env.TAUPAGE_CONFIG ?? (env.TAUPAGE_ROOT ? `${env.TAUPAGE_ROOT.replace(/\/+$/, '')}${DEFAULT_CONFIG_PATH}` : DEFAULT_CONFIG_PATH);
}

export async function loadConfig(options: LoadOptions = {}): Promise<LoadedConfig> {
  const env = options.env ?? process.env;
  const file = configFileFor(options);
  const explicit = options.file !== undefined || env.TAUPAGE_CONFIG !== undefined;
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' || explicit) {
      throw new AgentError('TPG_CONFIG_INVALID', `cannot read agent config ${file}: ${(e as Error).message}`, {
        hint: 'pass an existing file with --config or TAUPAGE_CONFIG, or remove the setting to use the defaults',
      });
    }
  }
  return configFromText(text ?? '', text === undefined ? undefined : file, env);
}

export function configFromText(text: string, source: string | undefined, env: NodeJS.ProcessEnv = {}): LoadedConfig {
  const where = source ?? 'agent config';
  const parsed = parseYamlSource(text);
  const problems: string[] = parsed.issues.map((i) => `${where}:${i.line}:${i.column}: ${i.message}`);
  let raw: Record<string, unknown> = {};
  if (!problems.length) {
    if (parsed.value !== null && parsed.value !== undefined) {
      if (typeof parsed.value !== 'object' || Array.isArray(parsed.value)) problems.push(`${where}:1:1: the agent config must be a mapping of settings`);
      else raw = parsed.value as Record<string, unknown>;
    }
  }
  for (const [name, path, conv] of ENV_OVERRIDES) {
    const v = env[name];
    if (v !== undefined && v !== '') setPath(raw, path, conv(v));
  }
  let config: AgentConfig | typeof INVALID = INVALID;
  if (!problems.length) {
    config = agentConfigSchema.check(raw, [], {
      report: (i) => {
        if (i.severity !== 'error') return;
        const envName = ENV_OVERRIDES.find(([, p]) => JSON.stringify(p) === JSON.stringify(i.path))?.[0];
        const origin =
          envName && env[envName] !== undefined
            ? `environment ${envName}`
            : (() => {
                const p = parsed.positions.find(i.path, i.at);
                return `${where}:${p.line}:${p.column}`;
              })();
        problems.push(`${origin}: ${i.path.join('.') || '(top level)'}: ${i.message}`);
      },
      sourceOf: (p) => parsed.positions.source(p),
    });
  }
  if (!problems.length && config !== INVALID) problems.push(...configProblems(config).map((m) => `${where}: ${m}`));
  if (problems.length || config === INVALID) {
    throw new AgentError('TPG_CONFIG_INVALID', `invalid agent config:\n  ${problems.join('\n  ')}`, {
      hint: 'fix the settings above; every setting and its default is in docs/agent-config.md',
    });
  }
  return { config, paths: paths(config.root), ...(source ? { source } : {}) };
}

function setPath(obj: Record<string, unknown>, path: Path, value: unknown): void {
  let cur = obj;
  for (const k of path.slice(0, -1)) {
    const next = cur[k as string];
    if (next === null || typeof next !== 'object') cur[k as string] = {};
    cur = cur[k as string] as Record<string, unknown>;
  }
  cur[path[path.length - 1] as string] = value;
}

/** Defaults only (pure commands such as validate and plan need no file). */
export function defaultConfig(): LoadedConfig {
  return configFromText('', undefined, {});
}
