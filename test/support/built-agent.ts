/*! The built agent (agent/dist/taupage.mjs) for e2e tests and benchmarks: built when missing or
 * older than its sources, then run as a child process with a chosen environment. */
import { spawn, execFileSync } from 'node:child_process';
import { statSync, readdirSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const AGENT = join(REPO, 'agent/dist/taupage.mjs');

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

export function ensureBuilt(): void {
  let built = 0;
  try {
    built = statSync(AGENT).mtimeMs;
  } catch {
    // not built yet
  }
  if (built < newest(join(REPO, 'agent/src'))) execFileSync(process.execPath, [join(REPO, 'scripts/build.mjs')], { cwd: REPO, stdio: 'ignore' });
}

export interface AgentRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runAgent(args: string[], env: NodeJS.ProcessEnv, options: { timeoutMs?: number } = {}): Promise<AgentRun> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [AGENT, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: options.timeoutMs ?? 60_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b));
    child.stderr.on('data', (b: Buffer) => (stderr += b));
    child.on('error', rej);
    child.on('close', (code) => res({ code, stdout, stderr }));
  });
}
