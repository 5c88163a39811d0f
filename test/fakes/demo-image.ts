/*! A small demo HTTP image, built without pulling anything from the internet: Debian's static
 * busybox serving /www with its `httpd`, imported as a one-layer image (`docker import`) and
 * pushed to the local registry. Each build has its own content (and so its own digest).
 *
 * Command for the demo: `tsx test/fakes/demo-image.ts 127.0.0.1:5000/demo/hello:1.0` pushes the
 * image and prints `DIGEST=sha256:...` (DOCKER_HOST names the engine). */
import { mkdtemp, mkdir, writeFile, copyFile, chmod, rm, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { whenMain } from '../harness/command.js';
import Docker from 'dockerode';
import { dockerConnection } from '../../agent/src/adapters/dockerode-runtime.js';

export const BUSYBOX = '/bin/busybox';
export const DEMO_PORT = 8080;

export interface DemoImageOptions {
  /** `registry/org/name:tag` as pushed (the registry itself, not the gate). */
  reference: string;
  /** Extra files under /www (name → content); /www/health and /www/index.html exist by default. */
  files?: Record<string, string>;
  /** A Docker HEALTHCHECK command (exec form), checked every 200 ms. */
  healthcheck?: string[];
  /** Replace the default command (a line on stdout, then busybox httpd on :8080 serving /www). */
  cmd?: string[];
  /** Keep the local image after the push (default: removed, so pulls are real). */
  keepLocal?: boolean;
}

export interface DemoImage {
  reference: string;
  digest: string;
}

export function dockerFromEnv(): Docker {
  const host = process.env.DOCKER_HOST;
  if (!host) throw new Error('DOCKER_HOST is not set: run the tests through vitest (test/harness/services.ts) or scripts/test');
  return new Docker(dockerConnection(host));
}

/** The busybox binary must be static: the image has no libc. */
async function staticBusybox(): Promise<string> {
  const f = await open(BUSYBOX).catch(() => {
    throw new Error(`${BUSYBOX} is missing: apt-get install busybox-static`);
  });
  try {
    const head = Buffer.alloc(64);
    await f.read(head, 0, 64, 0);
    const phoff = Number(head.readBigUInt64LE(32));
    const phentsize = head.readUInt16LE(54);
    const phnum = head.readUInt16LE(56);
    const ph = Buffer.alloc(phentsize * phnum);
    await f.read(ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++)
      if (ph.readUInt32LE(i * phentsize) === 3 /* PT_INTERP */) throw new Error(`${BUSYBOX} is dynamically linked: apt-get install busybox-static`);
    return BUSYBOX;
  } finally {
    await f.close();
  }
}

export async function buildDemoImage(docker: Docker, options: DemoImageOptions): Promise<DemoImage> {
  const colon = options.reference.lastIndexOf(':');
  const repo = options.reference.slice(0, colon);
  const tag = options.reference.slice(colon + 1);
  const root = await mkdtemp(join(tmpdir(), 'taupage-demo-image-'));
  try {
    for (const d of ['bin', 'www', 'tmp', 'etc']) await mkdir(join(root, d));
    await chmod(join(root, 'tmp'), 0o1777);
    await copyFile(await staticBusybox(), join(root, 'bin', 'busybox'));
    await chmod(join(root, 'bin', 'busybox'), 0o755);
    await writeFile(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/:/bin/sh\napplication:x:999:999:application:/:/bin/false\n');
    const files = {
      'index.html': `<h1>Hello from Taupage</h1><p>${options.reference} built ${new Date().toISOString()}</p>\n`,
      health: 'ok\n',
      ...options.files,
    };
    for (const [name, content] of Object.entries(files)) await writeFile(join(root, 'www', name), content, { mode: 0o644 });
    // httpd as PID 1 would ignore SIGTERM (and every stop would wait for the kill): a shell
    // that traps it stays PID 1 instead.
    // It says what it found at start: its uid and, under Taupage, the Mint credentials files.
    const hello = `echo "demo app starting as uid $(/bin/busybox id -u)"; if [ -n "$CREDENTIALS_DIR" ]; then echo "credentials at start: $(/bin/busybox ls "$CREDENTIALS_DIR" 2>&1 | /bin/busybox tr '\\n' ' ')"; fi`;
    const serve = `${hello}; /bin/busybox httpd -f -p ${DEMO_PORT} -h /www & trap "kill $!; exit 0" TERM; wait`;
    const cmd = options.cmd ?? ['/bin/busybox', 'sh', '-c', serve];
    const changes = [`CMD ${JSON.stringify(cmd)}`, `EXPOSE ${DEMO_PORT}`];
    if (options.healthcheck) changes.push(`HEALTHCHECK --interval=200ms --timeout=2s --retries=2 CMD ${JSON.stringify(options.healthcheck)}`);
    const tar = spawn('tar', ['-C', root, '--owner=0', '--group=0', '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const imported = await docker.importImage(tar.stdout as unknown as string, { repo, tag, changes } as object);
    await drain(imported as NodeJS.ReadableStream);
    const pushed = await drain(
      (await docker.getImage(options.reference).push({ authconfig: { serveraddress: repo.slice(0, repo.indexOf('/')) } })) as NodeJS.ReadableStream,
    );
    const aux = pushed.find((e) => (e.aux as { Digest?: string } | undefined)?.Digest);
    const digest = (aux?.aux as { Digest: string } | undefined)?.Digest;
    if (!digest) throw new Error(`push of ${options.reference} reported no digest`);
    if (!options.keepLocal) {
      const { Id } = await docker.getImage(options.reference).inspect();
      await docker.getImage(Id).remove({ force: true }); // by id: the tag and the repo digest go
    }
    return { reference: options.reference, digest };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** Read a Docker progress stream to its end; throws on an error event. */
async function drain(stream: NodeJS.ReadableStream): Promise<Array<Record<string, unknown>>> {
  const events: Array<Record<string, unknown>> = [];
  let buf = '';
  for await (const chunk of stream) {
    buf += chunk.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line) continue;
      const ev = JSON.parse(line) as Record<string, unknown>;
      if (ev.error) throw new Error(String(ev.error));
      events.push(ev);
    }
  }
  return events;
}

whenMain(
  import.meta.url,
  async ([reference]) => {
    if (!reference) throw new Error('usage: demo-image.ts registry/org/name:tag');
    const img = await buildDemoImage(dockerFromEnv(), { reference });
    process.stdout.write(`DIGEST=${img.digest}\n`);
  },
  1,
);
