/*! The command table: name, one-line summary, usage, and a lazy loader, so `taupage ssh-hook`
 * does not pay for loading the AWS SDK. Adding a command = one entry here + one file in cli/. */
import type { Io } from './io.js';

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Extra help text after the usage line. */
  help?: string;
  run: (argv: string[], io: Io) => Promise<number>;
}

export const commands: Command[] = [
  {
    name: 'validate',
    summary: 'check a user-data document against the contract',
    usage: 'taupage validate [--strict] [--json | --annotate] [--no-header] FILE|-',
    help: `Exit 0 valid (warnings allowed), 1 invalid, 2 usage or read error.
  --strict     unknown and unsupported keys are errors
  --json       print one object: {"valid", "errors", "warnings"}
  --annotate   print the file with each problem marked under its line
  --no-header  do not require the #taupage-ami-config first line (a Senza TaupageConfig fragment)`,
    run: async (argv, io) => (await import('./validate.js')).runValidate(argv, io),
  },
  {
    name: 'plan',
    summary: 'show what a boot would do with a user-data document (no network, no Docker)',
    usage: 'taupage plan [--json] [--no-header] [--config FILE] FILE|-',
    help: 'Secrets and aws:kms: values are shown as [redacted]. Exit 0, 1 when the user data is invalid, 2 usage.',
    run: async (argv, io) => (await import('./plan.js')).runPlan(argv, io),
  },
  {
    name: 'schema',
    summary: 'print the user-data JSON Schema (draft 2020-12)',
    usage: 'taupage schema [--markdown]',
    help: 'Point your editor at it with a first line: # yaml-language-server: $schema=<file>. --markdown prints the reference table of docs/user-data.md.',
    run: async (argv, io) => (await import('./schema.js')).runSchema(argv, io),
  },
  {
    name: 'credentials',
    summary: 'keep the Mint credentials (user.json, client.json) current from S3',
    usage: 'taupage credentials --once|--watch [--interval SECONDS] [--config FILE]',
    help: `Reads mint_bucket and application_id from the user data the boot wrote (/meta/taupage.yaml).
  --once      one pass; exit 0 only if both files are current
  --watch     refresh every credentials.refresh_interval_seconds (default 120) plus jitter, until SIGTERM
  --interval  override the interval (seconds, decimals allowed)
Files change only when Mint rotated them; a failure never deletes or damages them.
Status (last refresh, ETags; never contents): /run/taupage/credentials.json.`,
    run: async (argv, io) => (await import('./credentials.js')).runCredentials(argv, io),
  },
];

export function findCommand(name: string): Command | undefined {
  return commands.find((c) => c.name === name);
}

