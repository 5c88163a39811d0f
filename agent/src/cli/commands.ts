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
    name: 'ssh-hook',
    summary: "Even's forced command: grant or revoke SSH access (reads SSH_ORIGINAL_COMMAND)",
    usage: 'taupage ssh-hook   (SSH_ORIGINAL_COMMAND="grant-ssh-access [--remote-host=HOST] NAME" | "revoke-ssh-access [--remote-host=HOST] [--keep-local] NAME")',
    help: 'Run by sshd (via sudo) for granting-service. Every run leaves one audit record. Exit 0 done, 1 refused or failed, 4 agent config invalid, 5 Even unreachable.',
    run: async (argv, io) => (await import('./ssh-hook.js')).runSshHook(argv, io),
  },
  {
    name: 'ssh',
    summary: 'SSH access chores: expire grants, render the granting-service key line and sudoers entry',
    usage: 'taupage ssh expire [--json] | authorized-keys-line [--command CMD] [--agent-forwarding] FILE|- | sudoers [--user NAME] [--hook PATH]',
    help: `  expire                revoke every grant whose time is up (run every minute by a timer)
  authorized-keys-line  print granting-service's authorized_keys line for Even's public key FILE
  sudoers               print the sudoers entry that lets granting-service run the hook as root`,
    run: async (argv, io) => (await import('./ssh.js')).runSsh(argv, io),
  },
  {
    name: 'audit',
    summary: 'list the SSH audit trail, or verify its hash chain',
    usage: 'taupage audit list [--user U] [--since T] [--json] | verify [--json]',
    help: `  list    records, oldest first; --since takes an ISO time or an age (30m, 8h, 7d)
  verify  exit 0 when the chain is intact, 1 with the first broken sequence number and why`,
    run: async (argv, io) => (await import('./audit.js')).runAudit(argv, io),
  },
];

export function findCommand(name: string): Command | undefined {
  return commands.find((c) => c.name === name);
}

