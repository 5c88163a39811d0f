/*! Entry point: pick the command, run it, turn its result or error into an exit code.
 * bin.ts runs it and exits once the output is flushed (cli/io.ts exitWhenFlushed, the one process.exit). */
import { commands, findCommand } from './cli/commands.js';
import type { Io } from './cli/io.js';
import { EXIT, errorText, exitCodeFor, isAgentError } from './lib/errors.js';
import { VERSION, versionLine } from './version.js';

export async function main(argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V' || name === 'version') {
    io.out(`${versionLine()}\n`);
    return EXIT.OK;
  }
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const topic = name === 'help' ? rest[0] : undefined;
    const cmd = topic ? findCommand(topic) : undefined;
    if (topic && !cmd) {
      io.err(`taupage: unknown command ${topic}\n`);
      return EXIT.USAGE;
    }
    io.out(cmd ? commandHelp(cmd.name) : overview());
    return name === undefined ? EXIT.USAGE : EXIT.OK;
  }
  const cmd = findCommand(name);
  if (!cmd) {
    io.err(`taupage: unknown command ${name}\n${overview()}`);
    return EXIT.USAGE;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(commandHelp(cmd.name));
    return EXIT.OK;
  }
  try {
    return await cmd.run(rest, io);
  } catch (e) {
    if (isAgentError(e)) io.err(errorText(cmd.name, e));
    else
      io.err(
        `taupage ${cmd.name}: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\nThis is a bug in taupage; please report it with the output above.\n`,
      );
    return exitCodeFor(e);
  }
}

function overview(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    `taupage ${VERSION}: boot agent for Taupage instances`,
    '',
    'usage: taupage <command> [options]',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'taupage help <command> or taupage <command> --help for details; taupage --version.',
    'Exit codes: docs/exit-codes.md.',
    '',
  ].join('\n');
}

function commandHelp(name: string): string {
  const c = findCommand(name)!;
  return `${c.summary}\n\nusage: ${c.usage}\n${c.help ? `\n${c.help}\n` : ''}`;
}
