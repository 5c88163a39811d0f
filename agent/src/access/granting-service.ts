/*! How granting-service reaches the hook as root: sudo, allowed exactly one command, keeping the
 * two variables sshd sets (sudo's env_reset drops them otherwise). Rendered here so the image
 * build and the tests install the same thing. */

/** A root-owned executable (in root-owned directories) that runs `taupage ssh-hook`. */
export const DEFAULT_HOOK_PATH = '/usr/lib/taupage/ssh-hook';

export function sudoersEntry(user: string, hookPath: string): string {
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(user)) throw new Error(`invalid user name ${JSON.stringify(user)}`);
  if (!/^\/[A-Za-z0-9._/-]+$/.test(hookPath)) throw new Error(`invalid hook path ${JSON.stringify(hookPath)}`);
  return [
    `# Even's forced command: ${user} may run the SSH access hook as root, nothing else.`,
    `Defaults:${user} env_keep += "SSH_ORIGINAL_COMMAND SSH_CONNECTION"`,
    `Defaults:${user} !lecture`,
    `${user} ALL=(root) NOPASSWD: ${hookPath} ""`,
    '',
  ].join('\n');
}
