/*! The executable's entry: run main() with the real process and exit with its code. */
import { main } from './main.js';
import { processIo } from './cli/io.js';
import { EXIT } from './lib/errors.js';

main(process.argv.slice(2), processIo()).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`taupage: fatal: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(EXIT.INTERNAL);
  },
);
