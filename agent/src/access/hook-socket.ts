/*! The listening socket of `taupage ssh-service`: handed over by systemd (socket activation:
 * LISTEN_FDS=1, the socket is fd 3; the socket unit sets its owner, group and mode), or created
 * here when the service is started directly: mode 0660, owner root, group ssh.hook_socket_group,
 * so granting-service's forced command can connect and no other unprivileged user can.
 *
 * The socket is created under a umask that already gives 0660, so there is no moment in which it
 * is more open than that; an old socket left by a killed service is replaced, a live one is not. */
import { createConnection, type Server } from 'node:net';
import { chmod, chown, lstat, mkdir, readFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AgentError } from '../lib/errors.js';

export interface HookSocketOptions {
  path: string;
  /** Group allowed to connect (when the service creates the socket). */
  group: string;
  env: NodeJS.ProcessEnv;
  groupFile?: string;
}

export interface HookSocket {
  via: 'systemd' | 'own';
  path: string;
  /** Remove the socket file if this process created it. */
  remove(): Promise<void>;
}

/** The fd systemd passes first (SD_LISTEN_FDS_START). */
const SD_LISTEN_FDS_START = 3;

export async function listenHookSocket(server: Server, options: HookSocketOptions): Promise<HookSocket> {
  const { env } = options;
  if (env.LISTEN_FDS !== undefined && env.LISTEN_PID === String(process.pid)) {
    if (env.LISTEN_FDS !== '1')
      throw new AgentError('TPG_CONFIG_INVALID', `systemd passed ${env.LISTEN_FDS} sockets; taupage ssh-service takes exactly one`, {
        hint: 'the socket unit must have exactly one ListenStream=',
      });
    // Not for the children (useradd, logger, ssh): the variables describe this process only.
    delete env.LISTEN_FDS;
    delete env.LISTEN_PID;
    delete env.LISTEN_FDNAMES;
    await listen(server, { fd: SD_LISTEN_FDS_START });
    return { via: 'systemd', path: options.path, remove: async () => undefined };
  }
  const gid = await groupId(options.group, options.groupFile ?? '/etc/group');
  await mkdir(dirname(options.path), { recursive: true, mode: 0o755 });
  await clearStale(options.path);
  const umask = process.umask(0o117);
  try {
    await listen(server, options.path);
  } finally {
    process.umask(umask);
  }
  await chown(options.path, 0, gid);
  await chmod(options.path, 0o660);
  return {
    via: 'own',
    path: options.path,
    remove: () => unlink(options.path).catch(() => undefined),
  };
}

function listen(server: Server, where: string | { fd: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(where, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** A socket file left by a service that was killed is removed; one that answers means another
 * service is running; anything that is not a socket is never removed. */
async function clearStale(path: string): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return;
  if (!st.isSocket())
    throw new AgentError('TPG_CONFIG_INVALID', `${path} exists and is not a socket`, { hint: 'remove it, or set ssh.hook_socket to another path' });
  const alive = await new Promise<boolean>((resolve) => {
    const c = createConnection(path, () => {
      c.destroy();
      resolve(true);
    });
    c.on('error', () => resolve(false));
  });
  if (alive)
    throw new AgentError('TPG_CONFIG_INVALID', `another taupage ssh-service already listens on ${path}`, {
      hint: 'stop it first (systemctl stop taupage-ssh-hook.service taupage-ssh-hook.socket)',
    });
  await unlink(path);
}

/** A group's id from /etc/group. */
export async function groupId(group: string, groupFile: string): Promise<number> {
  const line = (await readFile(groupFile, 'utf8')).split('\n').find((l) => l.split(':')[0] === group);
  const gid = line === undefined ? NaN : Number(line.split(':')[2]);
  if (!Number.isInteger(gid))
    throw new AgentError('TPG_CONFIG_INVALID', `the hook socket's group ${group} does not exist in ${groupFile}`, {
      hint: 'create granting-service first, or set ssh.hook_socket_group',
    });
  return gid;
}
