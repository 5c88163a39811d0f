/*! What Even may ask for: parse SSH_ORIGINAL_COMMAND into a request, or say why it is refused.
 *
 * Pure and strict. The accepted grammar is exactly the forms Even sends:
 *   grant-ssh-access  [--remote-host=HOST] NAME
 *   revoke-ssh-access [--remote-host=HOST] [--keep-local] NAME
 *   revoke-ssh-access NAME [--remote-host HOST | --remote-host=HOST] [--keep-local]
 * (each option at most once, `--remote-host=` with an empty value meaning "no hop"). The last form
 * is what Even's expiry job sends (even `job.clj`: name first, then the options); refusing it
 * would leave Even retrying revocations forever.
 * Everything else is refused with a message naming the problem. Nothing here ever reaches a shell:
 * the request is plain data and every effect is an argv. */

export const USER_NAME_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;
export const HOST_NAME_PATTERN = /^[a-z0-9.-]{0,255}$/;
/** Longest command we look at: the longest valid one is ~330 characters. */
export const MAX_COMMAND_LENGTH = 400;

export type AccessAction = 'grant' | 'revoke';

export interface AccessRequest {
  action: AccessAction;
  user: string;
  /** A host to hop to, or undefined (also for an empty `--remote-host=`). */
  remoteHost?: string;
  /** revoke only: leave local access alone, revoke on the remote host. */
  keepLocal: boolean;
}

export type ParsedCommand =
  | { ok: true; request: AccessRequest }
  | { ok: false; reason: string /** The action word, when it was a known one. */; action?: AccessAction };

const VERBS: Record<string, AccessAction> = { 'grant-ssh-access': 'grant', 'revoke-ssh-access': 'revoke' };

export const COMMAND_USAGE = 'grant-ssh-access [--remote-host=HOST] NAME | revoke-ssh-access [--remote-host=HOST] [--keep-local] NAME';

/** `length`: the command's length before the client cut it for the wire (access/hook-protocol.ts). */
export function parseAccessCommand(raw: string | undefined, length = raw?.length ?? 0): ParsedCommand {
  if (raw === undefined || raw.trim() === '') return refuse(`no command given; this account only runs: ${COMMAND_USAGE}`);
  if (Math.max(length, raw.length) > MAX_COMMAND_LENGTH)
    return refuse(`command too long (${Math.max(length, raw.length)} characters, at most ${MAX_COMMAND_LENGTH})`);
  // Printable ASCII and the plain space only: no tabs, newlines, NUL, escapes or look-alike Unicode.
  const bad = /[^\x20-\x7e]/.exec(raw);
  if (bad) return refuse(`command contains a control or non-ASCII character (code ${bad[0].codePointAt(0)} at position ${bad.index})`);
  const words = raw.trim().split(/ +/);
  const verb = words[0]!;
  const action = VERBS[verb];
  if (!action) return refuse(`unknown command ${quote(verb)}; this account only runs: ${COMMAND_USAGE}`);
  let remoteHost: string | undefined;
  let sawRemote = false;
  let keepLocal = false;
  const rest = words.slice(1);
  if (rest.length === 0) return refuse(`${verb}: missing user name`, action);
  if (action === 'revoke' && !rest[0]!.startsWith('-')) return parseNameFirst(verb, rest);
  for (const [i, w] of rest.entries()) {
    const last = i === rest.length - 1;
    if (w.startsWith('--remote-host=')) {
      if (sawRemote) return refuse(`${verb}: --remote-host given twice`, action);
      const host = w.slice('--remote-host='.length);
      if (!HOST_NAME_PATTERN.test(host))
        return refuse(`${verb}: invalid remote host ${quote(host)} (allowed: lower-case letters, digits, dots and dashes, at most 255)`, action);
      sawRemote = true;
      if (host !== '') remoteHost = host;
    } else if (w === '--keep-local' && action === 'revoke') {
      if (keepLocal) return refuse(`${verb}: --keep-local given twice`, action);
      keepLocal = true;
    } else if (w.startsWith('-')) {
      return refuse(`${verb}: unknown option ${quote(w)}; usage: ${COMMAND_USAGE}`, action);
    } else if (!last) {
      return refuse(`${verb}: unexpected argument ${quote(w)}; the user name comes last, once`, action);
    } else if (!USER_NAME_PATTERN.test(w)) {
      return refuse(`${verb}: invalid user name ${quote(w)} (a lower-case letter, then up to 31 lower-case letters, digits or dashes)`, action);
    } else {
      return { ok: true, request: { action, user: w, ...(remoteHost !== undefined ? { remoteHost } : {}), keepLocal } };
    }
  }
  return refuse(`${verb}: missing user name`, action);
}

/** `revoke-ssh-access NAME [--remote-host HOST | --remote-host=HOST] [--keep-local]` (Even's job). */
function parseNameFirst(verb: string, rest: string[]): ParsedCommand {
  const [user, ...options] = rest as [string, ...string[]];
  if (!USER_NAME_PATTERN.test(user))
    return refuse(`${verb}: invalid user name ${quote(user)} (a lower-case letter, then up to 31 lower-case letters, digits or dashes)`, 'revoke');
  let remoteHost: string | undefined;
  let sawRemote = false;
  let keepLocal = false;
  for (let i = 0; i < options.length; i++) {
    const w = options[i]!;
    if (w === '--remote-host' || w.startsWith('--remote-host=')) {
      if (sawRemote) return refuse(`${verb}: --remote-host given twice`, 'revoke');
      const host = w === '--remote-host' ? options[++i] : w.slice('--remote-host='.length);
      if (host === undefined) return refuse(`${verb}: --remote-host needs a host`, 'revoke');
      if (!HOST_NAME_PATTERN.test(host) || host.startsWith('-'))
        return refuse(`${verb}: invalid remote host ${quote(host)} (allowed: lower-case letters, digits, dots and dashes, at most 255)`, 'revoke');
      sawRemote = true;
      if (host !== '') remoteHost = host;
    } else if (w === '--keep-local') {
      if (keepLocal) return refuse(`${verb}: --keep-local given twice`, 'revoke');
      keepLocal = true;
    } else {
      return refuse(`${verb}: unexpected argument ${quote(w)} after the user name; usage: ${COMMAND_USAGE}`, 'revoke');
    }
  }
  return { ok: true, request: { action: 'revoke', user, ...(remoteHost !== undefined ? { remoteHost } : {}), keepLocal } };
}

function refuse(reason: string, action?: AccessAction): ParsedCommand {
  return action ? { ok: false, reason, action } : { ok: false, reason };
}

/** A word for a message: JSON-quoted and cut, so hostile input cannot forge output lines. */
function quote(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
}
