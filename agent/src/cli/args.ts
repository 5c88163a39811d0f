/*! Command-line parsing on node:util parseArgs; every mistake is a usage error (exit 2). */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { AgentError } from '../lib/errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export function parseCommandArgs<O extends Options>(argv: string[], options: O, usage: string, positionals: { min: number; max: number }) {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new AgentError('TPG_USAGE', `${(e as Error).message.replace(/\. To specify a positional argument.*$/s, '')}\nusage: ${usage}`);
  }
  const n = parsed.positionals.length;
  if (n < positionals.min || n > positionals.max) {
    throw new AgentError(
      'TPG_USAGE',
      `${n < positionals.min ? 'missing argument' : `unexpected argument ${parsed.positionals[positionals.max]}`}\nusage: ${usage}`,
    );
  }
  return parsed;
}
