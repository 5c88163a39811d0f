/*! `taupage ssh-hook`: the forced command of granting-service (run through sudo, which must keep
 * SSH_ORIGINAL_COMMAND and SSH_CONNECTION). Prints one line; exit 0 done, 1 refused or failed
 * (the reason on stderr, which Even shows), 5 Even unreachable. Every run leaves one audit record. */
import { AgentError } from '../lib/errors.js';
import type { Io } from './io.js';

export async function runSshHook(argv: string[], io: Io): Promise<number> {
  if (argv.length) throw new AgentError('TPG_USAGE', 'taupage ssh-hook takes no arguments: the request comes in SSH_ORIGINAL_COMMAND');
  // Once started, finish: a client that hangs up (Even's timeout) must not cut a grant in half
  // or lose its audit record. Output to a closed connection is dropped, not fatal.
  process.on('SIGHUP', () => undefined);
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  // Imported here, after the cheap checks, and without the AWS SDK, dockerode or pino.
  const { accessContext } = await import('./access-context.js');
  const { runHook, resultError } = await import('../access/hook.js');
  const ctx = await accessContext(io);
  const result = await runHook({ command: io.env.SSH_ORIGINAL_COMMAND, connection: io.env.SSH_CONNECTION }, ctx);
  if (!result.ok) throw resultError(result);
  io.out(`${result.message}\n`);
  return 0;
}
