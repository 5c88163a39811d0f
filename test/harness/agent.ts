/*! The built agent as users run it: `node agent/dist/taupage.mjs` (built when missing or older
 * than its sources) as a child process, with the environment given (plus PATH and HOME) and
 * nothing else of the test's. `runAgent` waits for it to end; `startAgent` leaves it running
 * (a watcher, a service) and lets the test read its output and stop it. */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_BUNDLE, REPO } from './repo.js';
import { jsonLines } from './log-lines.js';

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

let built = false;

/** Build agent/dist/taupage.mjs unless it is newer than every source (scripts/test builds first). */
export function ensureBuilt(): void {
  if (built) return;
  let at = 0;
  try {
    at = statSync(AGENT_BUNDLE).mtimeMs;
  } catch {
    // not built yet
  }
  if (at < newest(join(REPO, 'agent/src'))) execFileSync(process.execPath, [join(REPO, 'scripts/build.mjs')], { cwd: REPO, stdio: 'ignore' });
  built = true;
}

export interface AgentOptions {
  /** Added to PATH and HOME, which is all the agent gets of the test's environment. */
  env?: NodeJS.ProcessEnv;
  /** stdin (default: empty). */
  input?: string;
  cwd?: string;
  /** Killed (SIGKILL) after this long; default 60 s for runAgent, none for startAgent. */
  timeoutMs?: number;
  /** The agent's argv prefix; default `node agent/dist/taupage.mjs` (the SSH lab also runs the single executable). */
  command?: string[];
}

export interface AgentRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunningAgent {
  child: ChildProcess;
  /** stdout and stderr so far, interleaved as they came. */
  output(): string;
  /** The JSON log lines in the output so far (other lines, such as an error on stderr, left out). */
  lines(): Array<Record<string, unknown>>;
  /** Resolves to the exit code (null when a signal ended it). */
  exit: Promise<number | null>;
}

function spawnAgent(args: string[], options: AgentOptions, timeoutMs: number | undefined): ChildProcess {
  const [file, ...prefix] = options.command ?? [process.execPath, AGENT_BUNDLE];
  if (!options.command) ensureBuilt();
  const child = spawn(file!, [...prefix, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...options.env },
    cwd: options.cwd ?? REPO,
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(timeoutMs ? { timeout: timeoutMs } : {}),
    killSignal: 'SIGKILL',
  });
  child.stdin!.end(options.input ?? '');
  return child;
}

export function runAgent(args: string[], options: AgentOptions = {}): Promise<AgentRun> {
  return new Promise((resolve, reject) => {
    const child = spawnAgent(args, options, options.timeoutMs ?? 60_000);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (b: Buffer) => (stdout += b));
    child.stderr!.on('data', (b: Buffer) => (stderr += b));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export function startAgent(args: string[], options: AgentOptions = {}): RunningAgent {
  const child = spawnAgent(args, options, options.timeoutMs);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    lines: () => jsonLines(out.replace(/^[^{].*$/gm, '')),
    exit,
  };
}
