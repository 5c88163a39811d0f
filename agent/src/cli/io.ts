/*! What a command may touch of the process: output streams, stdin, environment, cwd.
 * Commands take an Io so tests run them in-process; main.ts gives them the real one. */
import { readFile } from 'node:fs/promises';
import { AgentError } from '../lib/errors.js';

export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
  readStdin(): Promise<string>;
  /** stdout is a terminal (tables and colours for people). */
  isTty: boolean;
}

export function processIo(): Io {
  return {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    env: process.env,
    isTty: Boolean(process.stdout.isTTY),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}

/**
 * Exit with `code` once everything written to stdout and stderr has left the process. A pipe (the
 * journal, `| jq`) takes 64 KiB at a time; `process.exit()` right after a write drops the rest.
 * A reader that went away (EPIPE) ends the wait too.
 */
export function exitWhenFlushed(code: number): void {
  process.exitCode = code;
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', () => undefined); // EPIPE: nobody reads; nothing more to flush
    if (stream.destroyed || !stream.writable) done();
    else stream.write('', () => done());
  }
}

/** Read FILE, or stdin for `-`. A missing or unreadable file is a usage error (exit 2). */
export async function readInput(file: string, io: Io): Promise<{ name: string; text: string }> {
  if (file === '-') return { name: '<stdin>', text: await io.readStdin() };
  try {
    return { name: file, text: await readFile(file, 'utf8') };
  } catch (e) {
    throw new AgentError('TPG_READ_FAILED', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, {
      cause: e,
    });
  }
}
