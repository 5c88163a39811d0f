/*! The request loop of `taupage ssh-service`: read one request per connection on the hook socket,
 * carry it out exactly as the hook always did (access/hook.ts: parse, refuse/grant/revoke, the
 * audit record before success), answer, close.
 *
 * - One request at a time, in arrival order: requests are queued once complete. The hook lock is
 *   still taken per request, because `taupage ssh expire` (the timer) is another process.
 * - Reading is bounded: a request must arrive within ssh.hook_request_timeout_ms and fit in
 *   MAX_REQUEST_BYTES, and be the JSON line of access/hook-protocol.ts. Anything else is refused
 *   with an audit record (caller `socket`) and an answer if the client still listens. A connection
 *   that closes without sending a byte is not a request (no record; a line in the service log).
 * - Once a request is complete it is carried out to its end and recorded, whatever the client
 *   does: a client that hangs up mid-grant (Even's timeout, sshd's SIGHUP) does not cut the grant
 *   in half; the answer to a closed socket is dropped.
 * - Every request has a time limit (ssh.request_deadline_ms). A request still running then is
 *   abandoned: its context's signal is aborted (the hook lock is given back at once and the
 *   request records nothing more), it gets one `failed` record saying so, and the queue moves on.
 * - What may wait until the client has its answer (the syslog copy through logger(1), the head
 *   anchor) runs after the answer, in order, on a second queue: a request does not pay for the fork. */
import type { Server, Socket } from 'node:net';
import { AgentError, errorMessage, errorText, isAgentError, EXIT } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { markDeadline } from '../lib/retry.js';
import type { AccessContext } from './context.js';
import { abandonRequest, refuseRequest, resultError, runHook, type HookResult } from './hook.js';
import { decodeRequest, encodeAnswer, MAX_REQUEST_BYTES, type HookAnswer, type HookRequest } from './hook-protocol.js';

export interface HookServiceOptions {
  /** The context for the next request (the service swaps it when agent.yaml changes). */
  context(): AccessContext;
  log: Logger;
}

export interface HookService {
  /** Resolves when every queued request and every deferred syslog copy is done. */
  idle(): Promise<void>;
  /** Requests carried out so far (tests and the log). */
  readonly handled: number;
}

export function serveHookRequests(server: Server, options: HookServiceOptions): HookService {
  const { log } = options;
  let requests: Promise<void> = Promise.resolve();
  let after: Promise<unknown> = Promise.resolve();
  let handled = 0;

  /** Queue a job that produces the answer; the deferred work of its context runs after the answer.
   * `request`: what the abandonment record says when the job runs past the deadline. */
  const enqueue = (sock: Socket, job: (ctx: AccessContext) => Promise<HookAnswer>, request: Pick<HookRequest, 'command' | 'connection'> | null) => {
    requests = requests.then(async () => {
      const deferred: Array<() => Promise<unknown>> = [];
      const warnings: string[] = [];
      const base = options.context();
      const abandon = new AbortController();
      // Calls out (Even) retry until shortly before the request deadline, so the request can still
      // record why it failed instead of being abandoned.
      const requestMs = base.config.ssh.request_deadline_ms;
      markDeadline(abandon.signal, Date.now() + requestMs - Math.min(5_000, requestMs / 4));
      const ctx: AccessContext = {
        ...base,
        warn: (text) => {
          warnings.push(`taupage: warning: ${text}\n`);
          log.warn({ warning: text }, 'ssh access warning');
        },
        later: (task) => void deferred.push(task),
        signal: abandon.signal,
      };
      const deadlineMs = base.config.ssh.request_deadline_ms;
      let answer: HookAnswer;
      let timer: NodeJS.Timeout | undefined;
      const overdue = new Promise<'overdue'>((r) => {
        timer = setTimeout(() => r('overdue'), deadlineMs);
      });
      const work = job(ctx).then(
        (a) => ({ answer: a }),
        (e: unknown) => ({ answer: abandon.signal.aborted ? undefined : failure(e, log) }),
      );
      const first = await Promise.race([work, overdue]);
      clearTimeout(timer);
      if (first === 'overdue') {
        abandon.abort(new AgentError('TPG_SSH_FAILED', `the request was abandoned after ${deadlineMs} ms`));
        log.error({ deadlineMs, command: request?.command }, 'ssh access request abandoned: it ran past ssh.request_deadline_ms');
        deferred.length = 0;
        try {
          const r = await abandonRequest({ ...ctx, signal: undefined }, request, deadlineMs);
          answer = answerFor(r);
        } catch (e) {
          answer = failure(e, log);
        }
      } else {
        answer = first.answer!;
      }
      handled++;
      answer = { ...answer, stderr: warnings.join('') + answer.stderr };
      if (!sock.destroyed) {
        sock.end(encodeAnswer(answer));
        // A client that never reads its answer or never closes does not keep the connection.
        setTimeout(() => sock.destroy(), 10_000).unref();
      }
      for (const task of deferred) after = after.then(task).catch((e) => log.error({ err: e }, 'deferred audit work failed'));
    });
    // A link that failed must not stop the queue: every later request still runs.
    requests = requests.catch((e) => log.error({ err: e }, 'ssh access request crashed'));
  };

  server.on('connection', (sock: Socket) => {
    // A client that went away must not crash the service or stop anything.
    sock.on('error', () => undefined);
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const timeoutMs = options.context().config.ssh.hook_request_timeout_ms;
    /** Stop reading: the request is complete, refused, or was never sent. */
    const stop = () => {
      done = true;
      clearTimeout(timer);
      sock.pause();
    };
    const refuse = (reason: string) => {
      stop();
      enqueue(
        sock,
        async (ctx) => {
          const r = await refuseRequest(ctx, `malformed request on the hook socket: ${reason}`);
          log.warn({ seq: r.record.seq, reason: r.record.reason }, 'ssh access request refused');
          return answerFor(r);
        },
        null,
      );
    };
    const timer = setTimeout(
      () => refuse(size ? `the request was not complete within ${timeoutMs} ms (${size} bytes)` : `no request within ${timeoutMs} ms`),
      timeoutMs,
    );
    sock.on('data', (chunk: Buffer) => {
      if (done) return;
      const nl = chunk.indexOf(10);
      const part = nl < 0 ? chunk : chunk.subarray(0, nl);
      size += part.length;
      if (size > MAX_REQUEST_BYTES) return refuse(`the request is longer than ${MAX_REQUEST_BYTES} bytes`);
      chunks.push(part);
      if (nl < 0) return;
      const decoded = decodeRequest(Buffer.concat(chunks).toString('utf8'));
      if (!decoded.ok) return refuse(decoded.reason);
      stop();
      enqueue(sock, (ctx) => carryOut(decoded.request, ctx, log), decoded.request);
    });
    const closed = () => {
      if (done) return;
      if (size) return refuse(`the connection closed after ${size} bytes, before the end of the request`);
      stop();
      sock.destroy();
      log.info('a connection to the hook socket closed without a request');
    };
    sock.on('end', closed);
    sock.on('close', closed);
  });

  return {
    idle: async () => {
      await requests;
      await after;
    },
    get handled() {
      return handled;
    },
  };
}

async function carryOut(req: HookRequest, ctx: AccessContext, log: Logger): Promise<HookAnswer> {
  const started = Date.now();
  const r = await runHook(
    {
      command: req.command ?? undefined,
      length: req.length,
      connection: req.connection ?? undefined,
      ...(req.agent ? { agentSocket: req.agent } : {}),
    },
    ctx,
  );
  const { seq, action, user, result, reason, caller } = r.record;
  log.info({ seq, action, user, result, reason, caller, ms: Date.now() - started }, 'ssh access request');
  return answerFor(r);
}

function answerFor(r: HookResult): HookAnswer {
  if (r.ok) return { exit: EXIT.OK, stdout: `${r.message}\n`, stderr: '' };
  const e = resultError(r);
  return { exit: e.exitCode, stdout: '', stderr: errorText('ssh-hook', e) };
}

/** A request that threw (the audit record could not be written, the lock timed out, a bug). */
function failure(e: unknown, log: Logger): HookAnswer {
  if (isAgentError(e)) {
    log.error({ err: e }, 'ssh access request failed');
    return { exit: e.exitCode, stdout: '', stderr: errorText('ssh-hook', e) };
  }
  log.error({ err: e, stack: e instanceof Error ? e.stack : undefined }, 'ssh access request failed: internal error');
  const bug = new AgentError('TPG_INTERNAL', `internal error in the SSH access service: ${errorMessage(e)}`, {
    hint: 'this is a bug in taupage; the service log (journalctl -u taupage-ssh-hook) has the details',
  });
  return { exit: bug.exitCode, stdout: '', stderr: errorText('ssh-hook', bug) };
}
