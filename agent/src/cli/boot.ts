/*! `taupage boot`: the whole boot of an instance; systemd runs it once per boot. Here the boot
 * graph (steps/index.ts) meets the real adapters (adapters/index.ts) and the engine runs them.
 * Logs are JSON lines on stdout (journald), one summary line for people on stderr. */
import { parseCommandArgs } from './args.js';
import type { Io } from './io.js';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../lib/log.js';
import { Scrubber } from '../lib/scrub.js';
import { runBoot } from '../engine/boot.js';
import { realPorts } from '../adapters/index.js';
import { steps } from '../steps/index.js';

const USAGE = 'taupage boot [--config FILE]';

export async function runBootCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseCommandArgs(argv, { config: { type: 'string' } }, USAGE, { min: 0, max: 0 });
  const { config, paths } = await loadConfig({ env: io.env, ...(values.config ? { file: values.config } : {}) });
  const scrubber = new Scrubber();
  const log = createLogger({ level: config.log_level, destination: scrubber.stream({ write: (line) => io.out(line) }) });
  const run = await runBoot({ config, paths, log, scrubber, steps, ports: realPorts({ config, log }), processStartedAt: Math.round(performance.timeOrigin) });
  io.err(`taupage boot: ${scrubber.scrub(run.message)}\n`);
  return run.exitCode;
}
