/*! `taupage credentials --once|--watch`: keep Mint's user.json and client.json current in the
 * credentials directory after the boot (berry's job). Reads the user data the boot left in
 * /meta/taupage.yaml and the agent config; SIGTERM/SIGINT stop it cleanly, even mid-request. */
import { parseCommandArgs } from './args.js';
import { readInput, type Io } from './io.js';
import { loadConfig } from '../config/load.js';
import { validateUserData } from '../user-data/validate.js';
import { AgentError, EXIT, isAgentError } from '../lib/errors.js';
import { DEFAULT_RETRY } from '../lib/retry.js';
import { createLogger } from '../lib/log.js';
import { planCredentials } from '../steps/credentials/plan.js';
import { CredentialsRefresher, describeFailures, type PassResult } from '../steps/credentials/refresh.js';
import { watchCredentials } from '../steps/credentials/watch.js';
import { readBootStatus } from '../engine/status.js';
import { realPorts } from '../adapters/index.js';

export const USAGE = 'taupage credentials --once|--watch [--interval SECONDS] [--config FILE]';

export async function runCredentials(argv: string[], io: Io): Promise<number> {
  const { values } = parseCommandArgs(
    argv,
    { once: { type: 'boolean' }, watch: { type: 'boolean' }, interval: { type: 'string' }, config: { type: 'string' } },
    USAGE,
    { min: 0, max: 0 },
  );
  if (Boolean(values.once) === Boolean(values.watch)) throw new AgentError('TPG_USAGE', `give exactly one of --once and --watch\nusage: ${USAGE}`);
  const intervalSeconds = values.interval === undefined ? undefined : Number(values.interval);
  if (intervalSeconds !== undefined && !(intervalSeconds > 0 && intervalSeconds <= 86_400))
    throw new AgentError('TPG_USAGE', `--interval must be a number of seconds between 0 and 86400, not ${values.interval}\nusage: ${USAGE}`);

  const { config, paths } = await loadConfig({ env: io.env, ...(values.config ? { file: values.config } : {}) });
  const log = createLogger({ level: config.log_level, name: 'taupage-credentials' });
  const userData = await readInput(paths.taupageYaml, io).catch((e: unknown) => {
    throw new AgentError('TPG_READ_FAILED', isAgentError(e) ? e.message : String(e), {
      hint: 'the boot writes the validated user data there (taupage boot); run this after the boot',
      cause: e,
    });
  });
  const validated = validateUserData(userData.text, { requireHeader: false });
  if (!validated.valid || !validated.settings) {
    throw new AgentError(
      'TPG_USERDATA_INVALID',
      `${paths.taupageYaml} is not valid user data: ${validated.errors.map((i) => `${i.line}:${i.column} ${i.message}`).join('; ')}`,
      { hint: `taupage validate --no-header ${paths.taupageYaml}` },
    );
  }
  const plan = planCredentials({ settings: validated.settings, config, paths });
  if (!plan) {
    log.info('mint_bucket is not set in the user data: there are no credentials to keep current');
    return EXIT.OK;
  }
  // The region the boot worked out and recorded (the agent config's aws.region still overrides it).
  const region = config.aws.region ?? (await readBootStatus(paths).catch(() => undefined))?.region;
  if (!region) {
    throw new AgentError('TPG_CONFIG_INVALID', 'the S3 region is unknown: the boot has not recorded it and aws.region is not set', {
      hint: `run after taupage boot (it records the region in ${paths.statusFile}), or set AWS_REGION or aws.region in the agent config`,
    });
  }

  const controller = new AbortController();
  const stop = (sig: NodeJS.Signals) => {
    log.info({ signal: sig }, 'stopping the credentials refresher');
    controller.abort(new AgentError('TPG_CANCELLED', `stopped by ${sig}`, { retriable: false }));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const store = realPorts({ config, log }).forRegion(region).objectStore;
  try {
    const refresher = await CredentialsRefresher.open(plan, { store, region, log, paths });
    if (values.once) {
      const result = await refresher.pass({
        attempts: config.aws.max_attempts,
        baseMs: DEFAULT_RETRY.baseMs,
        capMs: DEFAULT_RETRY.capMs,
        signal: controller.signal,
      });
      if (!result.ok) throw onceFailure(result);
      log.info({ files: result.files.map((f) => ({ file: f.file, outcome: f.outcome })) }, `credentials for ${plan.applicationId} are current`);
      return EXIT.OK;
    }
    const intervalMs = Math.round((intervalSeconds ?? plan.refreshIntervalSeconds) * 1000);
    log.info({ bucket: plan.bucket, applicationId: plan.applicationId, region, directory: plan.directory, intervalMs }, 'keeping Mint credentials current');
    await watchCredentials(refresher, {
      intervalMs,
      jitterMs: config.credentials.jitter_seconds * 1000,
      signal: controller.signal,
      log,
      attempts: config.aws.max_attempts,
    });
    log.info('credentials refresher stopped');
    return EXIT.OK;
  } finally {
    store.close();
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
}

/** One failure keeps its own code (exit 5 for S3 unavailable, 1 otherwise); mixed ones are
 * TPG_CREDENTIALS_FAILED. */
function onceFailure(result: PassResult): AgentError {
  const errors = result.files.flatMap((f) => (f.outcome === 'failed' ? [f.error] : []));
  const codes = new Set(errors.map((e) => e.code));
  const code = codes.size === 1 ? errors[0]!.code : 'TPG_CREDENTIALS_FAILED';
  return new AgentError(code, `credentials not current: ${describeFailures(result)}`, {
    ...(errors[0]?.hint ? { hint: errors[0].hint } : {}),
    cause: errors[0],
  });
}
