/*! What the benchmarks share: the median of a series, and the wall time of a Node process. */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Milliseconds from spawning `node ...args` to its exit; rejects unless it exits 0. */
export function timedNode(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return timedCommand(process.execPath, args, env);
}

/** Milliseconds from spawning `command ...args` to its exit; rejects unless it exits 0. */
export function timedCommand(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b));
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${args.join(' ')} exited ${code}: ${err}`))));
  });
}
