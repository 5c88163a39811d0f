/*! An SSH lab for the access tests: Debian's real sshd on a loopback ephemeral port with the
 * configuration the ssh boot step writes, a real rsyslogd on a scratch socket, an Even fake, the
 * BUILT agent's `taupage ssh-service` running as root (a child of the test) on the hook socket
 * under the lab root, and the granting-service account whose forced command runs the client
 * (`taupage ssh-hook --socket ...`) as granting-service itself, as in the image: no sudo.
 *
 * Everything lives under one root-owned 0755 directory in /run (sshd checks the ownership of
 * every directory above a key file, so nothing can be under /tmp). Users and processes are
 * tracked and removed by close(). Requires root and `node scripts/build.mjs`. */
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, writeFile, readFile, chmod, rm, access } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import { startFakeEven, type FakeEven } from '../../fakes/even.js';
import { paths as pathsFor } from '../../../agent/src/config/paths.js';
import { defaultConfig } from '../../../agent/src/config/load.js';
import { validateUserData } from '../../../agent/src/user-data/validate.js';
import { planSsh } from '../../../agent/src/steps/ssh/plan.js';
import { applySsh } from '../../../agent/src/steps/ssh/apply.js';
import { silentLogger } from '../../../agent/src/lib/log.js';
import { parseRecords, type AuditRecord } from '../../../agent/src/audit/record.js';
import { AGENT_BUNDLE as BUNDLE, REPO } from '../../harness/repo.js';
import { runAgent } from '../../harness/agent.js';
import { freePort } from '../../harness/net.js';
import { waitFor } from '../../harness/wait.js';

export { BUNDLE, REPO, waitFor };

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface KeyPair {
  priv: string;
  pub: string;
  text: string;
}

export interface LabOptions {
  /** Overrides of the agent config's ssh section. */
  ssh?: Record<string, unknown>;
  /** The agent that runs the service and the forced command: default `node agent/dist/taupage.mjs`;
   * the bench also runs the single executable (agent/dist/taupage), the form the image installs. */
  agent?: string[];
}

/** `taupage ssh-service`, a child process of the test. */
export interface LabService {
  /** Its stdout and stderr so far (JSON log lines). */
  log(): string;
  pid(): number | undefined;
  /** SIGTERM and wait for the exit; resolves to the exit code. */
  stop(): Promise<number | null>;
  /** Start it again (after stop), and wait until it listens. */
  start(): Promise<void>;
}

export interface Lab {
  dir: string;
  root: string;
  port: number;
  even: FakeEven;
  gsUser: string;
  /** ssh.granted_group of the lab (sshd reads only root's key files for its members). */
  grantedGroup: string;
  evenKey: KeyPair;
  paths: ReturnType<typeof pathsFor>;
  configFile: string;
  /** The agent command (argv prefix) the lab runs. */
  agent: string[];
  service: LabService;
  /** The hook socket the service listens on and the forced command connects to. */
  hookSocket: string;
  sshdLog(): string;
  /** A unique user name, removed (with its processes) by close(). */
  user(prefix: string): string;
  keygen(name: string, type?: string): KeyPair;
  ssh(user: string, key: KeyPair, command?: string, extra?: string[]): Promise<Run>;
  sshSpawn(user: string, key: KeyPair, command: string): ChildProcess;
  /** Even's request: ssh as granting-service with Even's key. */
  hook(command: string): Promise<Run>;
  /** The client alone, as root, without ssh: `taupage ssh-hook --socket <hookSocket>`. */
  client(env: Record<string, string>, args?: string[]): Promise<Run>;
  taupage(args: string[], env?: Record<string, string>): Promise<Run>;
  audit(): Promise<AuditRecord[]>;
  syslog(): Promise<string[]>;
  close(): Promise<void>;
}

export function run(cmd: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<Run> {
  return new Promise((resolveRun) => {
    const child = spawn(cmd, args, { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Whether /etc/passwd has the account (the tests' users are real). */
export const passwdHas = async (name: string): Promise<boolean> => (await readFile('/etc/passwd', 'utf8')).split('\n').some((l) => l.startsWith(`${name}:`));

/** Kill every process of the user (by real and effective uid: a setuid program it started counts), wait
 * until they are gone (userdel refuses a user with processes), then remove the user. */
async function removeUser(name: string): Promise<void> {
  if (spawnSync('id', ['-u', name]).status !== 0) return;
  const left = () => spawnSync('pgrep', ['-U', name]).status === 0 || spawnSync('pgrep', ['-u', name]).status === 0;
  for (let i = 0; i < 100 && left(); i++) {
    spawnSync('pkill', ['-KILL', '-U', name]);
    spawnSync('pkill', ['-KILL', '-u', name]);
    await new Promise((r) => setTimeout(r, 50));
  }
  if (spawnSync('userdel', ['--remove', name]).status !== 0) spawnSync('userdel', ['--force', '--remove', name]);
}

/** ssh/sftp client options of the lab: no config, no known hosts, no agent, no prompts. */
export const SSH_CLIENT_OPTIONS = [
  '-F',
  '/dev/null',
  '-o',
  'StrictHostKeyChecking=no',
  '-o',
  'UserKnownHostsFile=/dev/null',
  '-o',
  'BatchMode=yes',
  '-o',
  'IdentitiesOnly=yes',
  '-o',
  'IdentityAgent=none',
  '-o',
  'LogLevel=ERROR',
  '-o',
  'ConnectTimeout=10',
];

export async function startLab(options: LabOptions = {}): Promise<Lab> {
  if (process.getuid?.() !== 0) throw new Error('the SSH lab needs root (sshd, useradd, the ssh service)');
  await access(BUNDLE).catch(() => {
    throw new Error(`${BUNDLE} is missing: run node scripts/build.mjs first`);
  });
  const tag = randomBytes(3).toString('hex');
  const dir = await mkdtemp('/run/tpg-ssh-');
  await chmod(dir, 0o755);
  const root = join(dir, 'root');
  const paths = pathsFor(root);
  const users: string[] = [];
  const children: ChildProcess[] = [];
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  for (const d of [paths.home, join(root, 'etc', 'taupage'), join(dir, 'ssh'), join(dir, 'keys'), join(dir, 'rsyslog', 'work')])
    await mkdir(d, { recursive: true, mode: 0o755 });
  await chmod(root, 0o755);

  const keygen = (name: string, type = 'ed25519'): KeyPair => {
    const priv = join(dir, 'keys', name);
    execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', `${name}@lab`, '-f', priv]);
    return { priv, pub: `${priv}.pub`, text: readFileSync(`${priv}.pub`, 'utf8') };
  };

  const lab = { dir, root, paths } as Lab;
  try {
    // rsyslogd on a scratch socket: authpriv lines with facility and severity, to a file.
    const sock = join(dir, 'rsyslog', 'log.sock');
    const syslogFile = join(dir, 'rsyslog', 'authpriv.log');
    await writeFile(
      join(dir, 'rsyslog', 'rsyslog.conf'),
      [
        `global(workDirectory="${dir}/rsyslog/work")`,
        'module(load="imuxsock" SysSock.Use="off")',
        `input(type="imuxsock" Socket="${sock}" CreatePath="on")`,
        'template(name="withPri" type="string" string="%syslogfacility-text%.%syslogseverity-text% %syslogtag%%msg%\\n")',
        `authpriv.* action(type="omfile" file="${syslogFile}" template="withPri")`,
        '',
      ].join('\n'),
    );
    const rsyslog = spawn('rsyslogd', ['-n', '-f', join(dir, 'rsyslog', 'rsyslog.conf'), '-i', join(dir, 'rsyslog', 'pid')], { stdio: 'ignore' });
    children.push(rsyslog);
    await waitFor('the rsyslog socket', () => existsSync(sock));

    const even = await startFakeEven();
    lab.even = even;
    cleanups.push(() => even.close());

    // The agent config the service reads (TAUPAGE_CONFIG); the socket's group is granting-service's.
    const gsUser = `tpg-gs-${tag}`;
    // The granted group the service creates and sshd's Match block names: tagged, removed by close().
    const grantedGroup = `tpg-even-${tag}`;
    lab.grantedGroup = grantedGroup;
    cleanups.push(() => spawnSync('groupdel', [grantedGroup]));
    const configFile = join(root, 'etc', 'taupage', 'agent.yaml');
    lab.configFile = configFile;
    lab.hookSocket = paths.sshHookSocket;
    await writeFile(
      configFile,
      stringify({
        root,
        ssh: {
          even_url: even.url,
          audit_syslog_socket: sock,
          revoke_grace_seconds: 1,
          request_timeout_ms: 3_000,
          hook_socket_group: gsUser,
          hook_request_timeout_ms: 1_000,
          granted_group: grantedGroup,
          ...options.ssh,
        },
      }),
    );

    // sshd with the drop-in the ssh boot step writes from the user data.
    const port = await freePort();
    lab.port = port;
    const ud = validateUserData(
      `#taupage-ami-config\napplication_id: lab\napplication_version: "1"\nruntime: Docker\nsource: pierone.example.org/t/lab:1\nssh_ports: [${port}]\n`,
    );
    if (!ud.valid || !ud.settings) throw new Error(`lab user data invalid: ${JSON.stringify(ud.errors)}`);
    const defaults = defaultConfig().config;
    const plan = planSsh({ settings: ud.settings, config: { ...defaults, ssh: { ...defaults.ssh, granted_group: grantedGroup } }, paths });
    await applySsh(plan, { log: silentLogger() });
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'ssh', 'host_key')]);
    const sshdConfig = join(dir, 'ssh', 'sshd_config');
    await writeFile(
      sshdConfig,
      [
        `Include ${paths.sshdConfigDir}/*.conf`,
        'ListenAddress 127.0.0.1',
        `HostKey ${dir}/ssh/host_key`,
        `PidFile ${dir}/ssh/sshd.pid`,
        'UsePAM no',
        'StrictModes yes',
        'LogLevel VERBOSE',
        'Subsystem sftp internal-sftp',
        '',
      ].join('\n'),
    );
    await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
    execFileSync('/usr/sbin/sshd', ['-t', '-f', sshdConfig]);
    let sshdLog = '';
    lab.sshdLog = () => sshdLog;
    const sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', sshdConfig], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(sshd);
    sshd.stderr!.on('data', (d) => (sshdLog += d));
    await waitFor('sshd to listen', () => sshdLog.includes(`Server listening on 127.0.0.1 port ${port}`));

    // granting-service: a plain account whose forced command is the client, run as itself.
    lab.gsUser = gsUser;
    users.push(gsUser);
    execFileSync('useradd', ['--create-home', '--home-dir', join(paths.home, gsUser), '--user-group', '--shell', '/bin/bash', '--password', '*', gsUser]);
    const agent = options.agent ?? [process.execPath, BUNDLE];
    lab.agent = agent;

    // The service, as root, on the hook socket (0660 root:gsUser).
    let serviceLog = '';
    let service: { child: ChildProcess; exited: Promise<number | null> } | undefined;
    const serviceEnv = { PATH: process.env.PATH, TAUPAGE_ROOT: root, TAUPAGE_CONFIG: configFile };
    lab.service = {
      log: () => serviceLog,
      pid: () => service?.child.pid,
      start: async () => {
        const child = spawn(agent[0]!, [...agent.slice(1), 'ssh-service'], { env: serviceEnv, stdio: ['ignore', 'pipe', 'pipe'] });
        const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
        service = { child, exited };
        children.push(child);
        const from = serviceLog.length;
        child.stdout!.on('data', (d) => (serviceLog += d));
        child.stderr!.on('data', (d) => (serviceLog += d));
        await waitFor('the ssh service to listen', () => {
          if (child.exitCode !== null) throw new Error(`taupage ssh-service exited ${child.exitCode}: ${serviceLog.slice(from)}`);
          return serviceLog.slice(from).includes('ssh access service listening');
        });
      },
      /** Resolves to the exit code (null when a signal ended it). */
      stop: async () => {
        if (!service) return null;
        if (service.child.exitCode === null && service.child.signalCode === null) service.child.kill('SIGTERM');
        return service.exited;
      },
    };
    await lab.service.start();

    const evenKey = keygen('even');
    lab.evenKey = evenKey;
    const forced = [...agent, 'ssh-hook', '--socket', lab.hookSocket].join(' ');
    const line = await run(process.execPath, [BUNDLE, 'ssh', 'authorized-keys-line', '--command', forced, evenKey.pub]);
    if (line.code !== 0) throw new Error(`authorized-keys-line failed: ${line.stderr}`);
    const gsSsh = join(paths.home, gsUser, '.ssh');
    execFileSync('install', ['-d', '-m', '0700', '-o', gsUser, '-g', gsUser, gsSsh]);
    await writeFile(join(gsSsh, 'authorized_keys'), line.stdout, { mode: 0o600 });
    execFileSync('chown', [`${gsUser}:${gsUser}`, join(gsSsh, 'authorized_keys')]);

    lab.user = (prefix) => {
      const name = `${prefix}-${tag}-${users.length}`;
      users.push(name);
      return name;
    };
    lab.keygen = keygen;
    const sshArgs = (user: string, key: KeyPair, extra: string[] = []) => [
      ...SSH_CLIENT_OPTIONS,
      '-i',
      key.priv,
      '-p',
      String(port),
      ...extra,
      '--',
      `${user}@127.0.0.1`,
    ];
    lab.ssh = (user, key, command, extra) => run('ssh', [...sshArgs(user, key, extra), ...(command === undefined ? [] : [command])], { timeoutMs: 30_000 });
    lab.sshSpawn = (user, key, command) => {
      const child = spawn('ssh', [...sshArgs(user, key), command], { stdio: ['pipe', 'pipe', 'pipe'] });
      children.push(child);
      return child;
    };
    lab.hook = (command) => lab.ssh(gsUser, evenKey, command);
    lab.client = (env, args = ['--socket', lab.hookSocket]) => runAgent(['ssh-hook', ...args], { command: agent, env });
    lab.taupage = (args, env = {}) => runAgent(args, { env: { TAUPAGE_ROOT: root, TAUPAGE_CONFIG: configFile, ...env } });
    lab.audit = async () => parseRecords(await readFile(paths.sshAuditLog, 'utf8').catch(() => ''));
    lab.syslog = async () => (await readFile(syslogFile, 'utf8').catch(() => '')).split('\n').filter(Boolean);
    lab.close = async () => {
      await lab.service.stop();
      for (const u of users.reverse()) await removeUser(u);
      for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
      for (const f of cleanups.reverse()) await f();
      await rm(dir, { recursive: true, force: true });
    };
    return lab;
  } catch (e) {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    for (const u of users) await removeUser(u);
    for (const f of cleanups.reverse()) await f();
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}
