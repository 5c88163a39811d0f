/*! Running a system tool from root code: an argv (never a shell), a fixed PATH and the C locale
 * (so its output parses the same everywhere), an optional time bound and AbortSignal. A non-zero
 * exit is an answer, not an error: the caller decides what it means. Only a tool that could not
 * run or finish rejects (ToolNotRun), and each adapter names that in its own error code. */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { errorMessage } from './errors.js';

export const TOOL_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunToolOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Bytes of stdout or stderr kept (default 16 MiB); a tool that prints more is stopped. */
  maxBuffer?: number;
  /** Descriptors the tool gets as its 3, 4, ...: what it names /proc/self/fd/3 is exactly what
   * the caller opened, whatever a path names by then. */
  fds?: readonly number[];
}

/** The tool could not run (not installed), was stopped by the signal, or outlived its time bound. */
export class ToolNotRun extends Error {
  constructor(
    /** What to say after the command line: "cancelled", "did not end within 30000 ms", or why it did not start. */
    readonly why: string,
    readonly reason: 'cancelled' | 'timeout' | 'not run',
    options: { cause: unknown },
  ) {
    super(why, options);
  }
}

export function runTool(tool: string, args: readonly string[], options: RunToolOptions = {}): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const max = options.maxBuffer ?? 16 * 1024 * 1024;
    let child: ChildProcess;
    try {
      // stdin is /dev/null: a tool that would ask a question reads end-of-file, it does not wait.
      child = spawn(tool, args, {
        env: TOOL_ENV,
        stdio: ['ignore', 'pipe', 'pipe', ...(options.fds ?? [])],
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (e) {
      reject(new ToolNotRun(errorMessage(e), 'not run', { cause: e }));
      return;
    }
    let timedOut = false;
    let overflow = false;
    let settled = false;
    const timer = options.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGTERM');
        }, options.timeoutMs)
      : undefined;
    const collect = (stream: Readable) => {
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > max) {
          overflow = true;
          child.kill('SIGTERM');
          return;
        }
        chunks.push(chunk);
      });
      return () => Buffer.concat(chunks).toString('utf8');
    };
    const stdout = collect(child.stdout!);
    const stderr = collect(child.stderr!);
    const end = (settle: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      settle();
    };
    child.once('error', (e) =>
      end(() =>
        reject(
          options.signal?.aborted || e.name === 'AbortError'
            ? new ToolNotRun('cancelled', 'cancelled', { cause: e })
            : new ToolNotRun(e.message, 'not run', { cause: e }),
        ),
      ),
    );
    child.once('close', (code, signal) =>
      end(() => {
        if (options.signal?.aborted) return reject(new ToolNotRun('cancelled', 'cancelled', { cause: options.signal.reason }));
        if (timedOut) return reject(new ToolNotRun(`did not end within ${options.timeoutMs} ms`, 'timeout', { cause: undefined }));
        if (overflow) return reject(new ToolNotRun(`printed more than ${max} bytes`, 'not run', { cause: undefined }));
        if (code !== null) return resolve({ code, stdout: stdout(), stderr: stderr() });
        reject(new ToolNotRun(`was killed by ${signal}`, 'not run', { cause: undefined }));
      }),
    );
  });
}

/** The last few lines a tool printed, for an error message. */
export function lastWords(r: ToolResult): string {
  const text = `${r.stderr}\n${r.stdout}`
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return text.slice(-3).join(' / ') || `exit code ${r.code}`;
}
