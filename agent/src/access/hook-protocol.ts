/*! The wire between `taupage ssh-hook` (the thin client granting-service's forced command runs)
 * and `taupage ssh-service` (the resident root service that does the work): one JSON line each
 * way over a Unix stream socket, then the service closes the connection.
 *
 *   client → {"command":"grant-ssh-access alice","length":22,"connection":"10.0.0.5 50000 10.0.0.9 22","agent":null}\n
 *   service → {"exit":0,"stdout":"Access for alice granted until ...\n","stderr":""}\n
 *
 * Pure, and importing nothing: the client loads this and node:net only. The client does not
 * judge the command (the service parses it, refuses and audits); it only cuts it to a length the
 * service can still refuse as "too long" and sends the original length beside it. */

/** The longest command sent; longer ones are cut to this and flagged by `length`. The grammar
 * allows at most 400 characters (access/command.ts), so a cut command is always refused. */
export const WIRE_COMMAND_MAX = 1_024;
/** SSH_CONNECTION and SSH_AUTH_SOCK are short; anything longer is not sent. */
export const WIRE_FIELD_MAX = 256;
/** A request line longer than this is refused without being parsed (JSON escapes of a 1024-character
 * command of control characters take 6 bytes each). */
export const MAX_REQUEST_BYTES = 16 * 1_024;
export const MAX_ANSWER_BYTES = 64 * 1_024;

export interface HookRequest {
  /** SSH_ORIGINAL_COMMAND, at most WIRE_COMMAND_MAX characters; null when unset. */
  command: string | null;
  /** The command's length before it was cut. */
  length: number;
  /** SSH_CONNECTION, null when unset (or too long to be one). */
  connection: string | null;
  /** SSH_AUTH_SOCK: Even's forwarded agent, needed only to hop (--remote-host). */
  agent: string | null;
}

export interface HookAnswer {
  exit: number;
  stdout: string;
  stderr: string;
}

const short = (v: string | undefined) => (v === undefined || v.length > WIRE_FIELD_MAX ? null : v);

/** The request line for what sshd put in the client's environment. */
export function encodeRequest(env: {
  SSH_ORIGINAL_COMMAND?: string | undefined;
  SSH_CONNECTION?: string | undefined;
  SSH_AUTH_SOCK?: string | undefined;
}): string {
  const command = env.SSH_ORIGINAL_COMMAND;
  const request: HookRequest = {
    command: command === undefined ? null : command.slice(0, WIRE_COMMAND_MAX),
    length: command?.length ?? 0,
    connection: short(env.SSH_CONNECTION),
    agent: short(env.SSH_AUTH_SOCK),
  };
  return `${JSON.stringify(request)}\n`;
}

const KEYS = new Set(['command', 'length', 'connection', 'agent']);

/** Parse a request line (without its newline); anything but exactly the shape above is refused. */
export function decodeRequest(line: string): { ok: true; request: HookRequest } | { ok: false; reason: string } {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { ok: false, reason: 'the request is not JSON' };
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return { ok: false, reason: 'the request is not a JSON object' };
  const o = v as Record<string, unknown>;
  const extra = Object.keys(o).filter((k) => !KEYS.has(k));
  if (extra.length) return { ok: false, reason: `unknown request field ${JSON.stringify(extra[0]!.slice(0, 40))}` };
  const { command, length, connection, agent } = o;
  if (command !== null && (typeof command !== 'string' || command.length > WIRE_COMMAND_MAX))
    return { ok: false, reason: `"command" must be null or a string of at most ${WIRE_COMMAND_MAX} characters` };
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < (command?.length ?? 0))
    return { ok: false, reason: '"length" must be the whole number of characters of the command before it was cut' };
  for (const [name, f] of [
    ['connection', connection],
    ['agent', agent],
  ] as const) {
    if (f !== null && (typeof f !== 'string' || f.length > WIRE_FIELD_MAX))
      return { ok: false, reason: `"${name}" must be null or a string of at most ${WIRE_FIELD_MAX} characters` };
  }
  return { ok: true, request: { command, length, connection: connection as string | null, agent: agent as string | null } };
}

export function encodeAnswer(answer: HookAnswer): string {
  return `${JSON.stringify(answer)}\n`;
}

export function decodeAnswer(line: string): HookAnswer | undefined {
  try {
    const a = JSON.parse(line) as Partial<HookAnswer>;
    if (typeof a === 'object' && a !== null && Number.isInteger(a.exit) && typeof a.stdout === 'string' && typeof a.stderr === 'string')
      return { exit: a.exit!, stdout: a.stdout, stderr: a.stderr };
  } catch {
    // not an answer
  }
  return undefined;
}
