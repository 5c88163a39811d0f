/*! A baked image (scripts/bake-local: taupage/image:local) booted with systemd as PID 1 in a
 * container of this checkout's Docker engine, as docs/image.md describes: the flags that boot
 * systemd on this host (`--privileged` fails here), /var/lib/docker as a volume for the engine
 * inside, and the local cloud's settings copied in before the first start, the way EC2 would
 * have them in place (agent.yaml, the inner engine's daemon.json, drop-ins).
 *
 * Network: the container sits on the engine's bridge; the fakes listen on the bridge's address.
 * Its default route is removed before systemd starts, so nothing the image does can leave this
 * machine, even a request to an address the test did not set (169.254.169.254). Ports are
 * published on 127.0.0.1 only. */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const IMAGE = 'taupage/image:local';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** A command's exit code and output (never throws for a non-zero exit). */
export function run(command: string, args: string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      command,
      args,
      { timeout: options.timeoutMs ?? 60_000, env: options.env ?? process.env, maxBuffer: 32 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 124) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

export async function docker(...args: string[]): Promise<string> {
  const r = await run('docker', args, { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** The address of the engine's default bridge: what the image's containers reach the host at. */
export async function bridgeAddress(): Promise<string> {
  const gateway = await docker('network', 'inspect', 'bridge', '-f', '{{range .IPAM.Config}}{{.Gateway}}{{end}}');
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(gateway)) throw new Error(`the bridge network has no IPv4 gateway (${gateway})`);
  return gateway;
}

export interface BootedImage {
  name: string;
  /** Run a command inside (docker exec). */
  exec(...cmd: string[]): Promise<Run>;
  /** The host port (on 127.0.0.1) published for a port of the image. */
  port(inner: number): Promise<number>;
  /** Until systemd has finished starting up; its state (running, degraded, ...). */
  systemState(timeoutMs?: number): Promise<string>;
  /** Failed units, one name each. */
  failedUnits(): Promise<string[]>;
  /** A reboot: systemd shuts down (SIGRTMIN+3), the container starts again; /run is a new tmpfs. */
  restart(): Promise<void>;
  /** The journal of a unit. */
  journal(unit: string): Promise<string>;
  remove(): Promise<void>;
}

export interface BootOptions {
  /** Files put into the image before its first start: absolute path inside → content. */
  files: Record<string, string>;
  /** Ports of the image to publish on 127.0.0.1 (ephemeral host ports). */
  publish?: number[];
}

/** Create the container, copy the files in, start it (systemd boots). */
export async function bootImage(options: BootOptions): Promise<BootedImage> {
  const name = `tpg-image-${randomBytes(4).toString('hex')}`;
  const staging = await mkdtemp(join(tmpdir(), 'tpg-image-files-'));
  // The staging directory becomes the image's / when copied: it must have /'s mode.
  await chmod(staging, 0o755);
  try {
    // The flags of test-environment.md §10: the bounding set here lacks CAP_SYS_RESOURCE.
    await docker(
      'create',
      '--name',
      name,
      '--hostname',
      name,
      '--cap-add',
      'ALL',
      '--cap-drop',
      'SYS_RESOURCE',
      '--security-opt',
      'seccomp=unconfined',
      '--security-opt',
      'apparmor=unconfined',
      '--cgroupns=host',
      '-v',
      '/sys/fs/cgroup:/sys/fs/cgroup:rw',
      '--tmpfs',
      '/run',
      '--tmpfs',
      '/run/lock',
      '-v',
      '/var/lib/docker',
      '--stop-signal',
      'SIGRTMIN+3',
      '--stop-timeout',
      '30',
      ...(options.publish ?? []).flatMap((p) => ['-p', `127.0.0.1::${p}`]),
      '--entrypoint',
      '/bin/sh',
      IMAGE,
      '-c',
      'ip route del default 2>/dev/null; exec /sbin/init',
    );
    // One tree, copied in with its directories (docker cp makes missing ones as root).
    for (const [path, content] of Object.entries(options.files)) {
      await mkdir(join(staging, dirname(path)), { recursive: true });
      await writeFile(join(staging, path), content, { mode: 0o644 });
    }
    await docker('cp', `${staging}/.`, `${name}:/`);
    await docker('start', name);
  } catch (e) {
    await run('docker', ['rm', '-f', '-v', name]);
    throw e;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  const exec = (...cmd: string[]) => run('docker', ['exec', name, ...cmd], { timeoutMs: 120_000 });
  const image: BootedImage = {
    name,
    exec,
    async port(inner) {
      const out = await docker('port', name, `${inner}/tcp`);
      const m = /:(\d+)$/m.exec(out);
      if (!m) throw new Error(`port ${inner} of ${name} is not published: ${out}`);
      return Number(m[1]);
    },
    async systemState(timeoutMs = 120_000) {
      const until = Date.now() + timeoutMs;
      let last: Run | undefined;
      while (Date.now() < until) {
        // --wait blocks until start-up finished; right after the start the bus may not answer yet.
        last = await run('docker', ['exec', name, 'systemctl', 'is-system-running', '--wait'], { timeoutMs: Math.max(1_000, until - Date.now()) });
        const state = last.stdout.trim();
        if (state && state !== 'starting' && state !== 'initializing' && !/Failed to connect/.test(last.stderr)) return state;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`${name}: systemd did not finish starting within ${timeoutMs} ms (${last?.stdout.trim()} ${last?.stderr.trim()})`);
    },
    async failedUnits() {
      const r = await exec('systemctl', 'list-units', '--failed', '--plain', '--no-legend', '--no-pager');
      return r.stdout
        .split('\n')
        .map((l) => l.trim().split(/\s+/)[0]!)
        .filter(Boolean);
    },
    async restart() {
      await docker('restart', '--time', '30', name);
    },
    async journal(unit) {
      return (await exec('journalctl', '--no-pager', '-o', 'cat', '-u', unit)).stdout;
    },
    async remove() {
      await run('docker', ['rm', '-f', '-v', name]);
    },
  };
  return image;
}
