/*! The small commands scripts/demo starts from test/fakes and test/harness (the Pier One gate,
 * s3rver, the demo image): run `main` when the file is the process's entry point, print the line
 * the demo waits for, and serve until SIGTERM or SIGINT. */
import { fileURLToPath } from 'node:url';

/** Run `main(argv)` if `moduleUrl` (import.meta.url) is the entry point; an error exits `failCode`. */
export function whenMain(moduleUrl: string, main: (argv: string[]) => Promise<void>, failCode = 2): void {
  if (!process.argv[1] || fileURLToPath(moduleUrl) !== process.argv[1]) return;
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(failCode);
  });
}

/** Say `KEY=value` on stdout (the demo reads it), then stop cleanly on SIGTERM or SIGINT. */
export function serveUntilSignal(ready: string, stop: () => Promise<void>): void {
  process.stdout.write(`${ready}\n`);
  const end = () => void stop().then(() => process.exit(0));
  process.on('SIGTERM', end);
  process.on('SIGINT', end);
}
