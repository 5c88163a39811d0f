/*! `taupage boot`: the whole boot of an instance; systemd runs it once per boot. Here the boot
 * graph (steps/index.ts) meets the real adapters (adapters/index.ts) and the engine runs them.
 * Logs are JSON lines on stdout (journald), one summary line for people on stderr.
 *
 * SIGTERM or SIGINT (systemd stopping the unit, a shutdown) stops the boot's steps; the engine
 * records TPG_BOOT_INTERRUPTED, signals FAILURE and releases the lock, and the process exits 143.
 * An invalid agent config still leaves a status record (TPG_CONFIG_INVALID) before exiting 4. */
import { parseCommandArgs } from './args.js';
import type { Io } from './io.js';
import { loadConfig } from '../config/load.js';
import { paths as pathsUnder } from '../config/paths.js';
import { createLogger } from '../lib/log.js';
import { Scrubber } from '../lib/scrub.js';
import { AgentError, isAgentError } from '../lib/errors.js';
import { recordFailedStart, runBoot } from '../engine/boot.js';
import { realPorts } from '../adapters/index.js';
import { steps } from '../steps/index.js';

const USAGE = 'taupage boot [--config FILE]';

export async function runBootCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseCommandArgs(argv, { config: { type: 'string' } }, USAGE, { min: 0, max: 0 });
  let loaded: Awaited<ReturnType<typeof loadConfig>>;
  try {
    loaded = await loadConfig({ env: io.env, ...(values.config ? { file: values.config } : {}) });
  } catch (e) {
    if (isAgentError(e) && e.code === 'TPG_CONFIG_INVALID') {
      const log = createLogger({ destination: { write: (line) => io.out(line) } });
      await recordFailedStart(pathsUnder(io.env.TAUPAGE_ROOT || '/'), e, { log }).catch((err: unknown) =>
        log.warn({ err }, 'cannot write the boot status for the invalid agent config'),
      );
    }
    throw e;
  }
  const { config, paths } = loaded;
  const scrubber = new Scrubber();
  const log = createLogger({ level: config.log_level, destination: scrubber.stream({ write: (line) => io.out(line) }) });
  const stop = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (stop.signal.aborted) return log.warn({ signal: name }, `${name} again: the boot is already stopping and signalling FAILURE`);
    log.warn({ signal: name }, `${name}: stopping the boot's steps, then signalling FAILURE`);
    stop.abort(
      new AgentError('TPG_BOOT_INTERRUPTED', `the boot was interrupted by ${name} (systemd stopping taupage-boot, or the instance shutting down)`, {
        hint: 'the next taupage boot runs the whole boot again; systemctl start taupage-boot does it now',
      }),
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    const run = await runBoot({
      config,
      paths,
      log,
      scrubber,
      steps,
      ports: realPorts({ config, log }),
      processStartedAt: Math.round(performance.timeOrigin),
      stop: stop.signal,
    });
    io.err(`taupage boot: ${scrubber.scrub(run.message)}\n`);
    return run.exitCode;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
