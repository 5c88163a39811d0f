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

/** Quartiles and range of a series (the spread printed beside a median). */
export function spread(xs: number[]): { median: number; p25: number; p75: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => {
    const i = (s.length - 1) * q;
    const lo = Math.floor(i);
    return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (i - lo);
  };
  return { median: median(s), p25: at(0.25), p75: at(0.75), min: s[0]!, max: s[s.length - 1]! };
}

export interface TimedRun {
  /** Wall milliseconds from spawn to exit. */
  ms: number;
  /** Date.now() just before the spawn, to place the process's own timestamps. */
  spawnedAt: number;
  stdout: string;
}

/** Run `command ...args` to its exit, keeping its stdout; rejects unless it exits 0. */
export function timedOutput(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<TimedRun> {
  return new Promise((resolve, reject) => {
    const spawnedAt = Date.now();
    const t0 = performance.now();
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b));
    child.stderr.on('data', (b: Buffer) => (err += b));
    child.on('close', (code) =>
      code === 0 ? resolve({ ms: performance.now() - t0, spawnedAt, stdout: out }) : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${err}`)),
    );
  });
}
