/*! The agent's own boot overhead: `node agent/dist/taupage.mjs boot` against the local cloud on a
 * reboot, when `taupageapp` already runs from the same plan (the container step only inspects it:
 * no trust check, no pull, no start), from process start until it has written its status and
 * exited. Medians over runs, with ratios against baselines measured in the same run:
 *   - `node -e 0`: what any Node process costs here;
 *   - a bare IMDSv2 fetch (token, user data, identity) plus one file write, in plain Node: the
 *     least a boot agent must do.
 * Run: npx tsx bench/boot-overhead.ts [runs]   (default 15; as root: starts dockerd and the registry
 * if needed). The boot with the image pull and the health check: bench/boot.ts. */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import setupServices from '../test/harness/services.js';
import { lockApp } from '../test/harness/app-lock.js';
import { isolatedAwsEnv } from '../test/fakes/local-cloud.js';
import { scratchRoot } from '../test/harness/scratch.js';
import { startWorld } from '../test/harness/world.js';
import { userData } from '../test/harness/user-data.js';
import { AGENT_BUNDLE as AGENT } from '../test/harness/repo.js';
import { median, timedNode } from './measure.js';

const RUNS = Number(process.argv[2] ?? 15);

const BARE = `
const e = process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT;
const token = await (await fetch(e + '/latest/api/token', { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '21600' } })).text();
const h = { headers: { 'x-aws-ec2-metadata-token': token } };
const [ud, id] = await Promise.all([fetch(e + '/latest/user-data', h).then((r) => r.text()), fetch(e + '/latest/dynamic/instance-identity/document', h).then((r) => r.text())]);
await (await import('node:fs/promises')).writeFile(process.env.OUT, JSON.stringify({ ud: ud.length, id: JSON.parse(id).instanceId }));
`;

async function main(): Promise<void> {
  const teardown = await setupServices();
  const unlock = await lockApp();
  const world = await startWorld();
  const scratch = await scratchRoot();
  try {
    const { cloud } = world;
    await world.image('app:1.0');
    const withSignal = userData({ source: world.source('app:1.0'), notify_cfn: { stack: 'my-stack', resource: 'AppServerGroup' } });
    const noSignal = userData({ source: world.source('app:1.0') });
    const env = (extra: Record<string, string> = {}) => isolatedAwsEnv({ ...cloud.env({ withKeys: false }), ...extra });
    const series: Record<string, number[]> = {
      'node -e 0': [],
      'bare IMDS fetch + write': [],
      'taupage boot (no notify_cfn)': [],
      'taupage boot (with CloudFormation signal)': [],
    };
    const inAgent: number[] = [];
    // One instance, booted once to create its container; then every run is a reboot. Both user
    // data plan the same container (notify_cfn is not part of it), so it is always reused.
    const i = await world.instance();
    const bootOnce = async (text: string, key?: string) => {
      cloud.imds.setUserData(text);
      await i.reboot();
      const ms = await timedNode([AGENT, 'boot'], i.env);
      const result = JSON.parse(await readFile(join(i.root, 'run/taupage/result.json'), 'utf8')) as {
        outcome: string;
        durationMs: number;
        facts: { container?: string };
      };
      if (result.outcome !== 'success') throw new Error(`boot failed: ${JSON.stringify(result)}`);
      if (key) {
        if (result.facts.container !== 'reused') throw new Error(`expected the container to be reused, got ${result.facts.container}`);
        series[key]!.push(ms);
      }
      return result.durationMs;
    };
    // Warm-up, not counted: creates the containers, fills the page cache, first JIT of the bundle.
    await timedNode(['-e', '0'], env());
    await bootOnce(noSignal);
    await bootOnce(withSignal);
    for (let n = 0; n < RUNS; n++) {
      // Interleaved so drift in machine load hits every series alike.
      series['node -e 0']!.push(await timedNode(['-e', '0'], env()));
      series['bare IMDS fetch + write']!.push(await timedNode(['--input-type=module', '-e', BARE], env({ OUT: join(scratch, `bare-${n}.json`) })));
      await bootOnce(noSignal, 'taupage boot (no notify_cfn)');
      inAgent.push(await bootOnce(withSignal, 'taupage boot (with CloudFormation signal)'));
    }
    const base = median(series['node -e 0']!);
    const bare = median(series['bare IMDS fetch + write']!);
    process.stdout.write(`boot overhead on a reboot (container reused), ${RUNS} runs each, median wall time from spawn to exit (status written):\n`);
    for (const [name, xs] of Object.entries(series)) {
      const m = median(xs);
      process.stdout.write(
        `  ${name.padEnd(42)} ${m.toFixed(1).padStart(7)} ms   x${(m / base).toFixed(2)} node -e 0   x${(m / bare).toFixed(2)} bare fetch\n`,
      );
    }
    process.stdout.write(`  in-agent boot time (result.json durationMs, lock to result) median ${median(inAgent).toFixed(0)} ms\n`);
  } finally {
    await world.close();
    await rm(scratch, { recursive: true, force: true });
    await unlock();
    await teardown?.();
  }
}

await main();
