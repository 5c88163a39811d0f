/*! vitest globalSetup: make sure a Docker engine and the local registry answer before the tests run.
 *
 * One implementation of "start dockerd / docker-registry" exists: scripts/lib/common.sh. Under
 * scripts/test both already run and are reused here. When vitest runs alone, a bash process holds
 * them for the duration of the run (it starts only what does not answer, and on teardown stops only
 * what it started and waits for it, so no zombie is left to PID 1). Tests read DOCKER_HOST and
 * TAUPAGE_REGISTRY. Runs limited to unit tests skip all this, and so does
 * TAUPAGE_TEST_SERVICES=off. */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { REPO } from './repo.js';

const HOLDER = `
set -u
. scripts/lib/common.sh
if start_test_services; then
  printf 'DOCKER_HOST=%s\\nTAUPAGE_REGISTRY=%s\\n' "$DOCKER_HOST" "$TAUPAGE_REGISTRY"
fi
echo READY
read -r _ || true
stop_test_services
`;

function onlyUnitTests(): boolean {
  const filters = process.argv.slice(2).filter((a) => !a.startsWith('-') && !['run', 'watch', 'related'].includes(a) && !a.includes('vitest'));
  return filters.length > 0 && filters.every((f) => /(^|\/)unit(\/|$)/.test(f));
}

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env.TAUPAGE_TEST_SERVICES === 'off' || onlyUnitTests()) return undefined;
  const holder = spawn('bash', ['-c', HOLDER], { cwd: REPO, stdio: ['pipe', 'pipe', 'inherit'], env: process.env });
  const exited = new Promise<void>((resolve) => holder.once('exit', () => resolve()));
  const lines = createInterface({ input: holder.stdout! });
  for await (const line of lines) {
    if (line === 'READY') break;
    const m = /^(DOCKER_HOST|TAUPAGE_REGISTRY)=(.+)$/.exec(line);
    if (m) process.env[m[1]!] = m[2]!;
  }
  if (!process.env.DOCKER_HOST) console.warn('taupage tests: no Docker engine could be started (root needed); integration tests will fail');
  return async () => {
    holder.stdin!.end();
    await exited;
  };
}

/** The local registry (host:port) the global setup started, failing the caller when the Docker engine or the registry is missing. */
export function registryFromEnv(): string {
  const registry = process.env.TAUPAGE_REGISTRY;
  if (!registry || !process.env.DOCKER_HOST)
    throw new Error('needs DOCKER_HOST and TAUPAGE_REGISTRY: run through vitest (test/harness/services.ts) or scripts/test, as root');
  return registry;
}
