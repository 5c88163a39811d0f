/*! `taupage ssh expire | authorized-keys-line`: the SSH access chores around the hook.
 *   expire                 revoke grants whose time is up (systemd timer, every minute)
 *   authorized-keys-line   the granting-service line for Even's public key (image build) */
import { parseCommandArgs } from './args.js';
import { readInput, type Io } from './io.js';
import { AgentError } from '../lib/errors.js';
import { checkPublicKey } from '../access/public-key.js';
import { DEFAULT_HOOK_COMMAND, grantingServiceLine } from '../access/authorized-keys.js';

export const SSH_USAGE = 'taupage ssh expire [--json] | authorized-keys-line [--command CMD] [--agent-forwarding] FILE|-';

export async function runSsh(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'expire': {
      const { values } = parseCommandArgs(rest, { json: { type: 'boolean' } }, SSH_USAGE, { min: 0, max: 0 });
      const { accessContext } = await import('./access-context.js');
      const { runExpire } = await import('../access/expire.js');
      const result = await runExpire(await accessContext(io));
      if (values.json) io.out(`${JSON.stringify(result)}\n`);
      else for (const r of result.records) io.out(`${r.user}: ${r.result}: ${r.reason} (audit seq ${r.seq})\n`);
      if (result.failed.length)
        throw new AgentError('TPG_SSH_FAILED', `could not end the expired grants of ${result.failed.join(', ')}`, {
          hint: 'see the audit records above; the next run tries again',
        });
      return 0;
    }
    case 'authorized-keys-line': {
      const { values, positionals } = parseCommandArgs(rest, { command: { type: 'string' }, 'agent-forwarding': { type: 'boolean' } }, SSH_USAGE, {
        min: 1,
        max: 1,
      });
      const input = await readInput(positionals[0]!, io);
      const checked = checkPublicKey(input.text);
      if (!checked.ok)
        throw new AgentError('TPG_SSH_KEY_INVALID', `${input.name}: ${checked.reason}`, { hint: "pass Even's public key (one OpenSSH public key line)" });
      const command = values.command ?? DEFAULT_HOOK_COMMAND;
      try {
        io.out(grantingServiceLine(checked.key, command, { agentForwarding: values['agent-forwarding'] === true }));
      } catch (e) {
        throw new AgentError('TPG_USAGE', (e as Error).message);
      }
      return 0;
    }
    default:
      throw new AgentError('TPG_USAGE', `${sub === undefined ? 'missing subcommand' : `unknown subcommand ${sub}`}\nusage: ${SSH_USAGE}`);
  }
}
