// Run the built agent (agent/dist/taupage.mjs) as users do, capturing output and exit code.
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const REPO = join(import.meta.dirname, '..', '..');
export const BIN = join(REPO, 'agent/dist/taupage.mjs');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function taupage(args: string[], options: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): CliResult {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first (scripts/test does)`);
  const opts: SpawnSyncOptions = {
    input: options.input ?? '',
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...options.env },
    cwd: options.cwd ?? REPO,
    encoding: 'utf8',
    timeout: 60_000,
  };
  const r = spawnSync(process.execPath, [BIN, ...args], opts);
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

export const fixture = (name: string) => join(REPO, 'test/fixtures/user-data', name);
