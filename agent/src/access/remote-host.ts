/*! `--remote-host`: hop to another host only when the agent config lists networks it may be in.
 * Taupage hosts are not bastions, so by default (no networks) every hop is refused. The hop runs
 * ssh with an argv (no shell) to the address that was checked, not to the name again, so a DNS
 * answer that changes between check and connect cannot redirect it.
 *
 * The service is root, and the hop must not be: ssh reads no config file (`-F /dev/null`), offers
 * no identity of root's (`IdentityFile none`: no ~root/.ssh/id_*; the only agent is Even's
 * forwarded one, named explicitly with IdentityAgent), and checks the host key strictly against
 * the configured known-hosts file (ssh.remote_host_known_hosts), never writing to it. */
import { execFile } from 'node:child_process';
import { lstat } from 'node:fs/promises';
import { AgentError } from '../lib/errors.js';

export type HostCheck = { ok: true; address: string } | { ok: false; reason: string };

export function ipv4ToInt(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function inNetwork(ip: string, cidr: string): boolean {
  const [net, lenText] = cidr.split('/');
  const len = Number(lenText);
  const a = ipv4ToInt(ip);
  const n = ipv4ToInt(net ?? '');
  if (a === undefined || n === undefined || !Number.isInteger(len) || len < 0 || len > 32) return false;
  const mask = len === 0 ? 0 : (~0 << (32 - len)) >>> 0;
  return (a & mask) === (n & mask);
}

/** Pure: every resolved address must be inside an allowed network. */
export function checkRemoteHost(host: string, addresses: string[], allowed: readonly string[]): HostCheck {
  if (allowed.length === 0) return { ok: false, reason: `--remote-host=${host} refused: this host is not a bastion (ssh.allowed_remote_networks is empty)` };
  if (addresses.length === 0) return { ok: false, reason: `--remote-host=${host}: the name does not resolve` };
  const outside = addresses.filter((a) => !allowed.some((c) => inNetwork(a, c)));
  if (outside.length) return { ok: false, reason: `--remote-host=${host} (${outside.join(', ')}) is not in the allowed networks ${allowed.join(', ')}` };
  return { ok: true, address: addresses[0]! };
}

export async function resolveHost(host: string): Promise<string[]> {
  try {
    // Imported here: loading the resolver reads resolv.conf, which a refusal never needs.
    const { lookup } = await import('node:dns/promises');
    return (await lookup(host, { all: true, family: 4 })).map((a) => a.address);
  } catch {
    return [];
  }
}

export interface HopOptions {
  port: number;
  timeoutMs: number;
  /** ssh.remote_host_known_hosts: the only host keys the hop accepts. */
  knownHosts: string;
  /** The account on the other host (default granting-service, as on this one). */
  user?: string;
  /** SSH_AUTH_SOCK of the request's ssh session (Even's forwarded agent). */
  agentSocket?: string;
}

/** ssh's argv for a hop (pure): every option explicit, nothing from root's files. */
export function hopArgs(
  address: string,
  words: string[],
  options: Omit<HopOptions, 'timeoutMs' | 'agentSocket'> & { agent: string | undefined; timeoutMs: number },
): string[] {
  const settings = [
    `UserKnownHostsFile=${options.knownHosts}`,
    'GlobalKnownHostsFile=/dev/null',
    'StrictHostKeyChecking=yes',
    'UpdateHostKeys=no',
    'CheckHostIP=no',
    'BatchMode=yes',
    'IdentityFile=none',
    `IdentityAgent=${options.agent ?? 'none'}`,
    'PasswordAuthentication=no',
    'KbdInteractiveAuthentication=no',
    'ForwardAgent=no',
    'ClearAllForwardings=yes',
    'ControlMaster=no',
    'ControlPath=none',
    'ProxyCommand=none',
    'PermitLocalCommand=no',
    'RequestTTY=no',
    `ConnectTimeout=${Math.ceil(options.timeoutMs / 1000)}`,
  ];
  return [
    '-F',
    '/dev/null',
    ...settings.flatMap((kv) => ['-o', kv]),
    '-p',
    String(options.port),
    '-l',
    options.user ?? 'granting-service',
    '--',
    address,
    ...words,
  ];
}

/** Run the same request on the remote host as granting-service, relying on Even's forwarded agent.
 * The agent socket comes from the client, so it is used only if it is a socket that sshd made for
 * a user's session: not root's (the service runs as root and must not lend root's own agent). */
export async function hop(address: string, words: string[], options: HopOptions): Promise<void> {
  const known = await lstat(options.knownHosts).catch(() => undefined);
  if (!known?.isFile()) {
    throw new AgentError(
      'TPG_SSH_FAILED',
      `the hop to ${address} needs the host keys it may accept in ${options.knownHosts} (ssh.remote_host_known_hosts), which is missing`,
    );
  }
  const agent = options.agentSocket && (await isSessionSocket(options.agentSocket)) ? options.agentSocket : undefined;
  const args = hopArgs(address, words, { ...options, agent });
  return new Promise<void>((resolve, reject) => {
    execFile('ssh', args, { timeout: options.timeoutMs, env: { PATH: '/usr/bin:/bin' } }, (err, _out, stderr) => {
      if (err) reject(new AgentError('TPG_SSH_FAILED', `the hop to ${address} failed: ${String(stderr).trim() || err.message}`));
      else resolve();
    });
  });
}

async function isSessionSocket(path: string): Promise<boolean> {
  if (!path.startsWith('/')) return false;
  const st = await lstat(path).catch(() => undefined);
  return st?.isSocket() === true && st.uid !== 0;
}
