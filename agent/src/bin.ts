/*! The executable's entry: run main() with the real process and exit with its code. */
import { main } from './main.js';
import { exitWhenFlushed, processIo } from './cli/io.js';
import { EXIT } from './lib/errors.js';

main(process.argv.slice(2), processIo()).then(
  (code) => exitWhenFlushed(code),
  (e) => {
    process.stderr.write(`taupage: fatal: ${e instanceof Error ? e.stack : String(e)}\n`);
    exitWhenFlushed(EXIT.INTERNAL);
  },
);
