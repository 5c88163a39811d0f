/*! Write the sshd drop-in (before sshd starts: the ssh step needs nothing) and remove the base
 * image's default users' EC2 key-pair keys, so the only way in is a grant from Even. */
import { unlink } from 'node:fs/promises';
import { writeFileAtomic } from '../../lib/atomic-write.js';
import { AgentError } from '../../lib/errors.js';
import type { BootContext } from '../context.js';
import { renderSshdConfig, type SshPlan } from './plan.js';

export async function applySsh(plan: SshPlan, ctx: Pick<BootContext, 'log'>): Promise<void> {
  try {
    await writeFileAtomic(plan.configFile, renderSshdConfig(plan), { mode: 0o644, mkdirParents: true });
  } catch (e) {
    throw new AgentError('TPG_SSH_FAILED', `cannot write ${plan.configFile}: ${(e as Error).message}`, {
      cause: e,
      hint: 'check that the root file system is writable',
    });
  }
  for (const file of plan.removeKeyFiles) {
    try {
      await unlink(file);
      ctx.log.info({ file }, 'removed the default user key file (keep_instance_users is false)');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new AgentError('TPG_SSH_FAILED', `cannot remove ${file}: ${(e as Error).message}`, { cause: e });
    }
  }
}
