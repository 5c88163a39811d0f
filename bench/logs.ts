/*! Benchmark of the log route the logging step sets up (npx tsx bench/logs.ts [lines] [rounds]), as root:
 *
 * Route: a container prints N lines → Docker's syslog driver → rsyslog's input for the container
 * → application.log and, through the disk-assisted queue, a TCP syslog server in this process.
 * Baseline, in the same run: `logger` sends the same N lines straight to the same rsyslog input
 * (no container, no Docker). Lines per second until the last line is in application.log, and
 * until the last line is at the TCP server. Rounds alternate route and baseline; medians.
 * Target: the route at least 0.8 of the baseline.
 *
 * The configuration is the logging step's own (applyLogging against a real rsyslogd in a scratch
 * root), with remote syslog over TCP to the listener. */
import { spawn } from 'node:child_process';
import { open, writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import setupServices from '../test/harness/services.js';
import { buildDemoImage, dockerFromEnv } from '../test/fakes/demo-image.js';
import { testBoot } from '../test/harness/boot-context.js';
import { removeScratchRoots, scratchRoot } from '../test/harness/scratch.js';
import { testRsyslog } from '../test/harness/rsyslog.js';
import { syslogListener } from '../test/harness/syslog-server.js';
import { userData } from '../test/harness/user-data.js';
import { planLogging } from '../agent/src/steps/logging/plan.js';
import { applyLogging } from '../agent/src/steps/logging/apply.js';
import { planContainer } from '../agent/src/steps/container/plan.js';
import { median } from './measure.js';

const LINES = Number(process.argv[2] ?? 50_000);
const ROUNDS = Number(process.argv[3] ?? 5);
const APP = 'bench-app';

/** Counts the lines appended to a file since the last call. */
async function lineCounter(file: string): Promise<() => Promise<number>> {
  let offset = 0;
  let count = 0;
  const buf = Buffer.alloc(1 << 20);
  return async () => {
    const fh = await open(file, 'r').catch(() => undefined);
    if (!fh) return count;
    try {
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
        if (bytesRead === 0) break;
        offset += bytesRead;
        for (let i = 0; i < bytesRead; i++) if (buf[i] === 10) count++;
      }
    } finally {
      await fh.close();
    }
    return count;
  };
}

async function until(done: () => Promise<boolean> | boolean, what: string, timeoutMs = 300_000): Promise<number> {
  const end = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return performance.now();
}

function exited(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d) => (err += d));
    c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}: ${err}`))));
  });
}

async function main(): Promise<void> {
  const teardown = await setupServices();
  const docker = dockerFromEnv();
  const registry = process.env.TAUPAGE_REGISTRY!;
  const image = `${registry}/benchlogs${randomBytes(3).toString('hex')}/app:1.0`;
  const listener = await syslogListener();
  const root = await scratchRoot({ purpose: 'bench-logs' });
  const rs = await testRsyslog(root);
  try {
    await buildDemoImage(docker, { reference: image, keepLocal: true });
    await rs.start();
    const boot = testBoot({
      userData: userData({ application_id: APP, source: image, logging: { rsyslog_host: '127.0.0.1', rsyslog_port: listener.port } }),
      config: { root },
      ports: { logDaemons: rs.logDaemons },
    });
    const plan = planLogging({ settings: boot.settings, config: boot.config, paths: boot.paths });
    const report = await applyLogging(plan, boot.ctx);
    if (report.warnings) throw new Error(`logging step: ${report.warnings.join('; ')}`);
    const { logConfig } = planContainer({ settings: boot.settings, config: boot.config, paths: boot.paths });
    const appLines = await lineCounter(rs.applicationLog);
    /** Lines of round `tag` the TCP server has (scanned once each). */
    let scanned = 0;
    const seen = new Map<string, number>();
    const remoteLines = (tag: string) => {
      for (; scanned < listener.lines.length; scanned++) {
        const m = / (\w+) line \d+ of /.exec(listener.lines[scanned]!);
        if (m) seen.set(m[1]!, (seen.get(m[1]!) ?? 0) + 1);
      }
      return seen.get(tag) ?? 0;
    };

    // The same lines for both: "<round> line <i> of <N> ..." padded to ~100 bytes, a typical log line.
    const pad = 'x'.repeat(70);
    const script = `i=1; while [ $i -le ${LINES} ]; do echo "$R line $i of ${LINES} ${pad}"; i=$((i+1)); done`;
    const linesFile = join(root, 'lines.txt');

    const measure = async (kind: 'container' | 'logger', round: number) => {
      const tag = `${kind}${round}`;
      const fileStart = await appLines();
      const t0 = performance.now();
      if (kind === 'container') {
        const c = await docker.createContainer({
          Image: image,
          Env: [`R=${tag}`],
          Cmd: ['/bin/busybox', 'sh', '-c', script],
          HostConfig: { LogConfig: { Type: logConfig.type, Config: logConfig.config }, AutoRemove: true },
        });
        await c.start();
      } else {
        const lines = Array.from({ length: LINES }, (_, i) => `${tag} line ${i + 1} of ${LINES} ${pad}`).join('\n');
        await writeFile(linesFile, `${lines}\n`);
        const t = performance.now();
        await exited('logger', ['-u', plan.applicationLog.socket, '-t', APP, '-f', linesFile]);
        // The file is written before the clock starts for the logger baseline.
        return measureTail(t, fileStart, tag);
      }
      return measureTail(t0, fileStart, tag);
    };
    const measureTail = async (t0: number, fileStart: number, tag: string) => {
      const tFile = await until(async () => (await appLines()) - fileStart >= LINES, 'application.log');
      const tRemote = await until(() => remoteLines(tag) >= LINES, 'the TCP server');
      return { file: LINES / ((tFile - t0) / 1000), remote: LINES / ((tRemote - t0) / 1000) };
    };

    const results: Record<'container' | 'logger', Array<{ file: number; remote: number }>> = { container: [], logger: [] };
    await measure('logger', 0); // warm-up: rsyslog's queues and files, the image in the page cache
    await measure('container', 0);
    for (let r = 1; r <= ROUNDS; r++) {
      for (const kind of r % 2 ? (['container', 'logger'] as const) : (['logger', 'container'] as const)) results[kind].push(await measure(kind, r));
    }
    const m = (k: 'container' | 'logger', f: 'file' | 'remote') => median(results[k].map((x) => x[f]));
    const row = (f: 'file' | 'remote', name: string) =>
      `${name.padEnd(34)} ${Math.round(m('container', f)).toString().padStart(9)} ${Math.round(m('logger', f)).toString().padStart(9)}  ${(m('container', f) / m('logger', f)).toFixed(2)}`;
    console.log(`\nlog route: ${LINES} lines of ~100 bytes per run, ${ROUNDS} rounds (medians, lines per second)`);
    console.log(`${''.padEnd(34)} ${'container'.padStart(9)} ${'logger'.padStart(9)}  ratio (target >= 0.80)`);
    console.log(row('file', 'to application.log'));
    console.log(row('remote', 'to the TCP syslog server'));
  } finally {
    await rs.stop();
    await listener.close();
    await docker
      .getImage(image)
      .remove({ force: true })
      .catch(() => undefined);
    await removeScratchRoots();
    await teardown?.();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
