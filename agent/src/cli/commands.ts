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
    name: 'boot',
    summary: 'boot this instance from its EC2 user data (run by systemd once per boot)',
    usage: 'taupage boot [--config FILE]',
    help: `Reads the user data from the instance metadata service, validates it, writes /meta/taupage.yaml,
runs the boot steps, records /run/taupage/status.json and result.json and signals CloudFormation
(notify_cfn) SUCCESS or FAILURE. Logs are JSON lines on stdout; a summary line goes to stderr.
Runs once per boot: a second run in the same boot exits 0 and says so.
Exit 0 success (or already ran), 1 failed (invalid user data, a failed step, the deadline),
4 the agent config is invalid, 5 a dependency could not be reached (metadata service, KMS,
CloudFormation), 70 a bug. The failed step and its error code: taupage status.`,
    run: async (argv, io) => (await import('./boot.js')).runBootCommand(argv, io),
  },
  {
    name: 'status',
    summary: "show this boot's progress and outcome, slowest step first",
    usage: 'taupage status [--json] [--wait [--timeout SECONDS]] [--config FILE]',
    help: `Exit 0 the boot succeeded, 1 it failed (or its process died), 3 it is still running or has
not started. --wait blocks until the boot ends (or --timeout passes: exit 3).
--json prints the status record (schema in /run/taupage/status.json) with a "view" field.`,
    run: async (argv, io) => (await import('./status.js')).runStatus(argv, io),
  },
  {
    name: 'validate',
    summary: 'check a user-data document against the contract',
    usage: 'taupage validate [--strict] [--json | --annotate] [--no-header | --senza] FILE|-',
    help: `Exit 0 valid (warnings allowed), 1 invalid, 2 usage or read error.
  --strict     warnings (unknown, unsupported and duplicate keys) are errors
  --json       print one object: {"valid", "errors", "warnings"}
  --annotate   print the file with each problem marked under its line
  --no-header  do not require the #taupage-ami-config first line (user data kept without it,
               such as /meta/taupage.yaml); every key is still checked
  --senza      a Senza TaupageConfig mapping: no header, and application_id, application_version
               and notify_cfn may be left out (Senza fills them in); the rest is checked as user data`,
    run: async (argv, io) => (await import('./validate.js')).runValidate(argv, io),
  },
  {
    name: 'plan',
    summary: 'show what a boot would do with a user-data document (no network, no Docker)',
    usage: 'taupage plan [--json] [--no-header | --senza] [--config FILE] FILE|-',
    help: `Secrets and aws:kms: values are shown as [redacted]. Exit 0, 1 when the user data is invalid, 2 usage.
--senza plans a Senza TaupageConfig as the user data Senza renders from it: what it fills in shows
as <StackName>, <StackVersion> and <ComponentName>.`,
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
  {
    name: 'ssh-hook',
    summary: "Even's forced command: ask the SSH access service to grant or revoke access (reads SSH_ORIGINAL_COMMAND)",
    usage:
      'taupage ssh-hook [--socket PATH]   (SSH_ORIGINAL_COMMAND="grant-ssh-access [--remote-host=HOST] NAME" | "revoke-ssh-access [--remote-host=HOST] [--keep-local] NAME")',
    help: `Run by sshd as granting-service (no sudo): sends SSH_ORIGINAL_COMMAND and SSH_CONNECTION to
taupage ssh-service over its socket (default /run/taupage/ssh-hook.sock, under TAUPAGE_ROOT if set)
and prints its answer. The service checks the command, grants or revokes, and writes one audit
record per request. Exit 0 done, 1 refused or failed, 4 agent config invalid, 5 Even unreachable
or (TPG_SSH_SERVICE_UNAVAILABLE) the service is not running: then nothing was changed.`,
    run: async (argv, io) => (await import('./ssh-hook.js')).runSshHook(argv, io),
  },
  {
    name: 'ssh-service',
    summary: 'the SSH access service: carries out the requests taupage ssh-hook sends (runs as root)',
    usage: 'taupage ssh-service [--config FILE]',
    help: `Listens on ssh.hook_socket (default /run/taupage/ssh-hook.sock): the socket systemd passes
(socket activation, LISTEN_FDS=1) or its own, mode 0660 root:ssh.hook_socket_group. One request
at a time; each leaves one audit record (file first, then syslog). A request must arrive within
ssh.hook_request_timeout_ms. Rereads agent.yaml when it changes or on SIGHUP; SIGTERM finishes the
requests received, then exits 0. JSON log lines on stdout.`,
    run: async (argv, io) => (await import('./ssh-service.js')).runSshService(argv, io),
  },
  {
    name: 'ssh',
    summary: 'SSH access chores: expire grants, render the granting-service key line',
    usage: 'taupage ssh expire [--json] | authorized-keys-line [--command CMD] [--agent-forwarding] FILE|-',
    help: `  expire                revoke every grant whose time is up (run every minute by a timer)
  authorized-keys-line  print granting-service's authorized_keys line for Even's public key FILE
                        (forced command: /usr/bin/taupage ssh-hook unless --command)`,
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
