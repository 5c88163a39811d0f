/*! `taupage ssh-hook [--socket PATH]`: the forced command of granting-service, run by sshd as
 * granting-service itself (no sudo). A thin client: it sends SSH_ORIGINAL_COMMAND and
 * SSH_CONNECTION to `taupage ssh-service` (the root service that parses, refuses or carries out
 * the request and writes the audit record) and prints the service's answer, exiting with its code.
 *
 * It must start in about the time of `node -e 0`: it loads node:net and nothing of the agent
 * (no config, no YAML, no node:crypto); the single executable runs it before the agent bundle is
 * even read (sea-main.ts). Exit codes are the service's (0 done, 1 refused or failed, 5 Even
 * unreachable, ...); 5 with TPG_SSH_SERVICE_UNAVAILABLE when the service is not running, in which
 * case nothing was changed and nothing was recorded. */
import { createConnection } from 'node:net';
import { AgentError, errorText } from '../lib/errors.js';
import { decodeAnswer, encodeRequest, MAX_ANSWER_BYTES } from '../access/hook-protocol.js';
import type { Io } from './io.js';

/** Where the service listens unless --socket says otherwise (paths(root).sshHookSocket). */
export const defaultHookSocket = (env: NodeJS.ProcessEnv) => `${(env.TAUPAGE_ROOT ?? '').replace(/\/+$/, '')}/run/taupage/ssh-hook.sock`;

/** The service bounds every request itself (Even's timeouts, the lock); this only stops a client
 * from waiting forever on a service that hangs. Giving up changes nothing on the service's side. */
const ANSWER_TIMEOUT_MS = 10 * 60_000;

const USAGE = 'usage: taupage ssh-hook [--socket PATH]   (the request comes in SSH_ORIGINAL_COMMAND)';

export async function runSshHook(argv: string[], io: Io): Promise<number> {
  let socket = defaultHookSocket(io.env);
  if (argv.length === 2 && argv[0] === '--socket') socket = argv[1]!;
  else if (argv.length === 1 && argv[0]!.startsWith('--socket=')) socket = argv[0]!.slice('--socket='.length);
  else if (argv.length) return fail(io, new AgentError('TPG_USAGE', `unexpected argument ${JSON.stringify(argv[0])}\n${USAGE}`));
  if (!socket.startsWith('/')) return fail(io, new AgentError('TPG_USAGE', `--socket must be an absolute path\n${USAGE}`));

  const answer = await ask(socket, encodeRequest(io.env));
  if ('down' in answer) {
    return fail(
      io,
      new AgentError('TPG_SSH_SERVICE_UNAVAILABLE', `the SSH access service is not running (${socket}: ${answer.down}); nothing was changed`, {
        hint: 'start it (systemctl start taupage-ssh-hook.socket) and ask again',
      }),
    );
  }
  if ('lost' in answer) {
    return fail(
      io,
      new AgentError('TPG_SSH_FAILED', `the SSH access service gave no answer (${answer.lost}): the request may or may not have been carried out`, {
        hint: 'taupage audit list on the host shows what was done; asking again is safe (grant and revoke can be repeated)',
      }),
    );
  }
  io.out(answer.stdout);
  io.err(answer.stderr);
  return answer.exit;
}

function fail(io: Io, e: AgentError): number {
  io.err(errorText('ssh-hook', e));
  return e.exitCode;
}

type Outcome = { exit: number; stdout: string; stderr: string } | { down: string } | { lost: string };

function ask(path: string, request: string): Promise<Outcome> {
  return new Promise((resolve) => {
    let connected = false;
    let settled = false;
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (o: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(o);
    };
    const sock = createConnection(path, () => {
      connected = true;
      sock.write(request);
    });
    const timer = setTimeout(() => done({ lost: `no answer within ${ANSWER_TIMEOUT_MS / 1000} s` }), ANSWER_TIMEOUT_MS);
    sock.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_ANSWER_BYTES) return done({ lost: `the answer is longer than ${MAX_ANSWER_BYTES} bytes` });
      chunks.push(chunk);
      const text = Buffer.concat(chunks).toString('utf8');
      const nl = text.indexOf('\n');
      if (nl < 0) return;
      const a = decodeAnswer(text.slice(0, nl));
      done(a ?? { lost: 'the answer is not one the client understands' });
    });
    sock.on('error', (e: NodeJS.ErrnoException) =>
      done(
        connected
          ? { lost: e.code ?? e.message }
          : { down: e.code === 'ENOENT' ? 'no such socket' : e.code === 'ECONNREFUSED' ? 'nothing listens on it' : (e.code ?? e.message) },
      ),
    );
    sock.on('close', () => done({ lost: 'the connection closed before an answer' }));
  });
}
