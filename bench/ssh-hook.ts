/*! bench/ssh-hook: what the SSH hook costs, as ratios against baselines run in the same process.
 *
 *   grant    = `ssh granting-service grant-ssh-access U` (real sshd, sudo, the built agent, Even fake)
 *   baseline = the same ssh round trip to the same account whose forced command is `true`
 *   refusal  = `taupage ssh-hook` start to exit for a refused command (the built bundle)
 *   baseline = `node -e 0`
 * Targets: grant ≤ 1.5 × baseline; refusal ≤ 1.5 × baseline. Runs are interleaved and medians
 * compared, so machine load affects both sides alike. Also measured, to inform the packaging
 * choice: the refusal from a hook-only bundle, and from a bundle that also carries the AWS SDK
 * and dockerode (what agent/dist/taupage.mjs becomes when every feature has landed).
 *
 *   sudo node scripts/build.mjs && sudo npx tsx bench/ssh-hook.ts [--runs N] */
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { startLab, run, BUNDLE, REPO, type Lab } from '../test/integration/ssh/lab.js';

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

async function bundleVariant(dir: string, name: string, source: string): Promise<string> {
  const entry = join(REPO, 'agent/src', `.bench-${name}.ts`);
  await writeFile(entry, source);
  const outfile = join(dir, `${name}.mjs`);
  try {
    await build({
      entryPoints: [entry],
      outfile,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      logLevel: 'error',
      define: { __TAUPAGE_VERSION__: '"bench"' },
      banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
      plugins: [
        {
          name: 'stub-native',
          setup(b) {
            b.onResolve({ filter: /\.node$|^cpu-features$|^@aws-sdk\/signature-v4-crt$/ }, (a) => ({ path: a.path, namespace: 'stub' }));
            b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({ contents: "throw new Error('not bundled')", loader: 'js' }));
          },
        },
      ],
    });
  } finally {
    await rm(entry, { force: true });
  }
  return outfile;
}

async function main(): Promise<void> {
  const lab: Lab = await startLab();
  const scratch = await mkdtemp(join(tmpdir(), 'tpg-bench-'));
  const out: string[] = [];
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
    out.push(line('grant through ssh (account exists: re-grant)', grant, trip, 'ssh round trip, command true', 1.5));

    let n = 0;
    const fresh = await (async () => {
      const ts: number[] = [];
      const bases: number[] = [];
      for (let i = 0; i < Math.min(runs, 8); i++) {
        const u = lab.user(`new${n++}`);
        lab.even.keys.set(u, lab.keygen(u).text);
        ts.push(await timed(() => lab.hook(`grant-ssh-access ${u}`), 0));
        bases.push(await timed(() => lab.ssh(lab.gsUser, bare, 'x'), 0));
      }
      return [median(ts), median(bases)] as const;
    })();
    out.push(line('grant through ssh (new account: useradd)', fresh[0], fresh[1], 'ssh round trip, command true'));

    const refuse = (bundle: string) => () =>
      timed(() => run(process.execPath, [bundle, 'ssh-hook'], { env: { ...process.env, SSH_ORIGINAL_COMMAND: 'grant-ssh-access x; rm -rf /', SSH_CONNECTION: '127.0.0.1 1 127.0.0.1 22', TAUPAGE_ROOT: lab.root, TAUPAGE_CONFIG: lab.configFile } }), 1);
    const nodeE0 = () => timed(() => run(process.execPath, ['-e', '0']), 0);
    const [refusal, bareNode] = await compare(refuse(BUNDLE), nodeE0);
    out.push(line('refusal: taupage ssh-hook (agent/dist bundle)', refusal, bareNode, 'node -e 0', 1.5));

    // Packaging options, for the lead: a hook-only entry, and today's bundle grown to full size.
    const hookOnly = await bundleVariant(scratch, 'hook-only', "import { runSshHook } from './cli/ssh-hook.js';\nimport { processIo } from './cli/io.js';\nrunSshHook(process.argv.slice(3), processIo()).then((c) => process.exit(c), (e) => { process.stderr.write(String(e && e.message) + '\\n'); process.exit(1); });\n");
    const full = await bundleVariant(
      scratch,
      'full',
      "import './bin.js';\nexport async function __all() { await import('@aws-sdk/client-s3'); await import('@aws-sdk/client-kms'); await import('@aws-sdk/client-cloudformation'); await import('@aws-sdk/client-ec2'); await import('dockerode'); await import('pino'); await import('systeminformation'); }\n",
    );
    const { size: s1 } = await import('node:fs/promises').then((fs) => fs.stat(BUNDLE));
    const { size: s2 } = await import('node:fs/promises').then((fs) => fs.stat(full));
    const { size: s3 } = await import('node:fs/promises').then((fs) => fs.stat(hookOnly));
    const [r2, b2] = await compare(refuse(full), nodeE0);
    out.push(line(`refusal: bundle with AWS SDK + dockerode`, r2, b2, 'node -e 0', 1.5));
    const [r3, b3] = await compare(refuse(hookOnly), nodeE0);
    out.push(line('refusal: hook-only bundle', r3, b3, 'node -e 0', 1.5));
    out.push(`bundle sizes: agent/dist ${(s1 / 1e6).toFixed(2)} MB, with AWS SDK + dockerode ${(s2 / 1e6).toFixed(2)} MB, hook-only ${(s3 / 1e6).toFixed(2)} MB`);
  } finally {
    await lab.close();
    await rm(scratch, { recursive: true, force: true });
  }
  console.log(`bench/ssh-hook (${runs} interleaved runs, medians)\n${out.join('\n')}`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
