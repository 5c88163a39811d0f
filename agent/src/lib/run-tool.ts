/*! Running a system tool from root code: an argv (never a shell), a fixed PATH and the C locale
 * (so its output parses the same everywhere), an optional time bound and AbortSignal. A non-zero
 * exit is an answer, not an error: the caller decides what it means. Only a tool that could not
 * run or finish rejects (ToolNotRun), and each adapter names that in its own error code. */
import { execFile } from 'node:child_process';

export const TOOL_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunToolOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Bytes of stdout or stderr kept (default 16 MiB). */
  maxBuffer?: number;
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
    execFile(
      tool,
      args,
      {
        env: TOOL_ENV,
        maxBuffer: options.maxBuffer ?? 16 * 1024 * 1024,
        ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      },
      (err, stdout, stderr) => {
        if (!err) return resolve({ code: 0, stdout, stderr });
        if (typeof err.code === 'number') return resolve({ code: err.code, stdout, stderr });
        if (options.signal?.aborted || err.name === 'AbortError') return reject(new ToolNotRun('cancelled', 'cancelled', { cause: err }));
        if (err.killed) return reject(new ToolNotRun(`did not end within ${options.timeoutMs} ms`, 'timeout', { cause: err }));
        reject(new ToolNotRun(err.message, 'not run', { cause: err }));
      },
    );
  });
}
