/*! pino JSON logs to stdout, synchronous, with redaction as the second net behind `Secret`.
 *
 * Synchronous because worker-thread transports do not survive single-file packaging and because a
 * boot that exits must not lose its last lines. journald picks stdout up under systemd. */
import pino, { type DestinationStream, type Logger } from 'pino';
import { redactDeep } from './secret.js';
import { isAgentError } from './errors.js';

export type { Logger } from 'pino';

export interface LogOptions {
  level?: string;
  /** Where lines go; default: fd 1, synchronous. Tests pass a collecting stream. */
  destination?: DestinationStream;
  name?: string;
}

function serializeError(e: unknown): unknown {
  if (isAgentError(e)) return { type: 'AgentError', ...e.toJSON(), ...(e.cause ? { cause: serializeError(e.cause) } : {}) };
  if (e instanceof Error) {
    const out: Record<string, unknown> = { type: e.name, message: e.message };
    const code = (e as { code?: unknown }).code;
    if (code !== undefined) out.code = code;
    if (e.cause !== undefined) out.cause = serializeError(e.cause);
    if (e.stack && process.env.TAUPAGE_LOG_STACKS === '1') out.stack = e.stack;
    return out;
  }
  return e;
}

export function createLogger(options: LogOptions = {}): Logger {
  const destination = options.destination ?? pino.destination({ dest: 1, sync: true });
  return pino(
    {
      name: options.name ?? 'taupage',
      level: options.level ?? process.env.TAUPAGE_LOG_LEVEL ?? 'info',
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: { err: serializeError, error: serializeError },
      formatters: {
        level: (label) => ({ level: label }),
        log: (object) => redactDeep(object) as Record<string, unknown>,
      },
    },
    destination,
  );
}

/** A logger that drops everything (pure commands, tests that do not look at logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
