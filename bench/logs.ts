/*! Benchmark of the log route the logging step sets up (npx tsx bench/logs.ts [lines] [rounds]), as root:
 *
 * Route: a container prints N lines (cat of a file written beforehand) → Docker's syslog driver →
 * rsyslog's input for the container → application.log and, through the disk-assisted queue, a TCP
 * syslog server in this process. Baseline, in the same run: `logger -f` sends the same N lines from
 * the same kind of file straight to the same rsyslog input (no container, no Docker). Lines per second from the first line sent (the container, started
 * beforehand, waits for a go file; logger is started) to the last line in application.log, and at
 * the TCP server. Rounds alternate route and baseline; medians.
 * Target: the route at least 0.8 of the baseline. A third figure, Docker's syslog driver into a
 * socket that only counts lines, is the most any rsyslog configuration could get from the container.
 *
 * The configuration is the logging step's own (applyLogging against a real rsyslogd in a scratch
 * root), with remote syslog over TCP to the listener. */
import { spawn } from 'node:child_process';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
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
    // The container starts, then waits for its go file: the clock starts when the lines start,
    // for the container as for logger (the container's start is not the log route). Both read the
    // lines from a file written before the clock starts (logger -f, the container's cat), so the
    // route is not charged for making them (a shell loop printing them costs a core of its own).
    const script = 'while [ ! -e /go/$R ]; do /bin/busybox usleep 1000; done; exec /bin/busybox cat /go/$R.txt';
    const linesOf = (tag: string) => `${Array.from({ length: LINES }, (_, i) => `${tag} line ${i + 1} of ${LINES} ${pad}`).join('\n')}\n`;
    const goDir = join(root, 'go');
    await mkdir(goDir);
    const linesFile = join(root, 'lines.txt');

    // Docker's syslog driver alone: the same container into a socket that only counts lines.
    let sunk = 0;
    const sinkPath = join(root, 'sink.sock');
    // Counting newlines in place (no string made of the data): the sink must cost less than rsyslog.
    const sink = createServer((c) =>
      c.on('data', (d: Buffer) => {
        for (let i = d.indexOf(10); i !== -1; i = d.indexOf(10, i + 1)) sunk++;
      }),
    );
    await new Promise<void>((resolve) => sink.listen(sinkPath, resolve));

    const startContainer = async (tag: string, address: string) => {
      await writeFile(join(goDir, `${tag}.txt`), linesOf(tag));
      const c = await docker.createContainer({
        Image: image,
        Env: [`R=${tag}`],
        Cmd: ['/bin/busybox', 'sh', '-c', script],
        HostConfig: {
          LogConfig: { Type: logConfig.type, Config: { ...logConfig.config, 'syslog-address': address } },
          Binds: [`${goDir}:/go:ro`],
          AutoRemove: true,
        },
      });
      await c.start();
      const t0 = performance.now();
      await writeFile(join(goDir, tag), '');
      return t0;
    };
    const measureSink = async (round: number) => {
      const start = sunk;
      const t0 = await startContainer(`sink${round}`, `unix://${sinkPath}`);
      const last = await until(() => sunk - start >= LINES, 'the counting socket');
      return LINES / ((last - t0) / 1000);
    };

    const measure = async (kind: 'container' | 'logger', round: number) => {
      const tag = `${kind}${round}`;
      const fileStart = await appLines();
      if (kind === 'container') {
        const t0 = await startContainer(tag, logConfig.config['syslog-address']!);
        return measureTail(t0, fileStart, tag);
      } else {
        await writeFile(linesFile, linesOf(tag));
        const t = performance.now();
        await exited('logger', ['-u', plan.applicationLog.socket, '-t', APP, '-f', linesFile]);
        // The file is written before the clock starts for the logger baseline.
        return measureTail(t, fileStart, tag);
      }
    };
    /** Lines per second from the first line sent to the last in application.log, and at the TCP server. */
    const measureTail = async (t0: number, fileStart: number, tag: string) => {
      const fileLast = await until(async () => (await appLines()) - fileStart >= LINES, 'application.log');
      const remoteLast = await until(() => remoteLines(tag) >= LINES, 'the TCP server');
      return { file: LINES / ((fileLast - t0) / 1000), remote: LINES / ((remoteLast - t0) / 1000) };
    };

    type Rates = Awaited<ReturnType<typeof measureTail>>;
    const results: Record<'container' | 'logger', Rates[]> = { container: [], logger: [] };
    const sinkRates: number[] = [];
    await measure('logger', 0); // warm-up: rsyslog's queues and files, the image in the page cache
    await measure('container', 0);
    for (let r = 1; r <= ROUNDS; r++) {
      for (const kind of r % 2 ? (['container', 'logger'] as const) : (['logger', 'container'] as const)) results[kind].push(await measure(kind, r));
      sinkRates.push(await measureSink(r));
    }
    sink.close();
    const m = (k: 'container' | 'logger', f: keyof Rates) => median(results[k].map((x) => x[f]));
    const row = (f: keyof Rates, name: string) =>
      `${name.padEnd(34)} ${Math.round(m('container', f)).toString().padStart(9)} ${Math.round(m('logger', f)).toString().padStart(9)}  ${(m('container', f) / m('logger', f)).toFixed(2)}`;
    console.log(`\nlog route: ${LINES} lines of ~100 bytes per run, ${ROUNDS} rounds (medians, lines per second)`);
    console.log(`${''.padEnd(34)} ${'container'.padStart(9)} ${'logger'.padStart(9)}  ratio (target >= 0.80)`);
    console.log(row('file', 'to application.log'));
    console.log(row('remote', 'to the TCP syslog server'));
    console.log(
      `${"Docker's syslog driver alone".padEnd(34)} ${Math.round(median(sinkRates)).toString().padStart(9)}            (the container into a socket that only counts lines)`,
    );
    console.log("(from the first line sent: the container's start is not counted)");
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
