/*! A command's Io in memory: run `main()` in-process with this stdin, read what it printed. */
import type { Io } from '../../agent/src/cli/io.js';

export interface MemoryIo {
  io: Io;
  out(): string;
  err(): string;
}

export function memoryIo(stdin = '', env: NodeJS.ProcessEnv = {}): MemoryIo {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: {
      out: (s) => {
        out.push(s);
      },
      err: (s) => {
        err.push(s);
      },
      env,
      isTty: false,
      readStdin: async () => stdin,
    },
    out: () => out.join(''),
    err: () => err.join(''),
  };
}
