/*! `taupage ssh-service [--config FILE]`: the resident root service behind granting-service's
 * forced command. It keeps the agent config, the Even client and the accounts and audit adapters
 * loaded, listens on the hook socket (from systemd, or its own: access/hook-socket.ts) and carries
 * out one request at a time (access/hook-service.ts). JSON log lines on stdout (journald).
 *
 * agent.yaml is read again when it changes (or on SIGHUP); a config that does not validate is
 * reported and the previous one kept. The socket path and group are read at start only. SIGTERM
 * or SIGINT: stop accepting, finish the requests already received, exit 0. */
import { createServer } from 'node:net';
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { parseCommandArgs } from './args.js';
import type { Io } from './io.js';
import { configFileFor, loadConfig, type LoadedConfig } from '../config/load.js';
import { createLogger } from '../lib/log.js';
import { AgentError, errorMessage } from '../lib/errors.js';
import { contextFor } from './access-context.js';
import { serveHookRequests } from '../access/hook-service.js';
import { listenHookSocket } from '../access/hook-socket.js';
import type { AccessContext } from '../access/context.js';

export const SSH_SERVICE_USAGE = 'taupage ssh-service [--config FILE]';

/** Connections beyond this are closed at once (their clients report "no answer"). */
const MAX_CONNECTIONS = 64;

export async function runSshService(argv: string[], io: Io): Promise<number> {
  const { values } = parseCommandArgs(argv, { config: { type: 'string' } }, SSH_SERVICE_USAGE, { min: 0, max: 0 });
  if (process.getuid?.() !== 0)
    throw new AgentError('TPG_USAGE', 'taupage ssh-service must run as root: it creates accounts and writes their keys', {
      hint: 'start it through its systemd units (taupage-ssh-hook.socket)',
    });
  const loadOptions = { env: io.env, ...(values.config ? { file: values.config } : {}) };
  let loaded = await loadConfig(loadOptions);
  const log = createLogger({ name: 'taupage-ssh-service', level: loaded.config.log_level });
  const socketPath = (l: LoadedConfig) => l.config.ssh.hook_socket ?? l.paths.sshHookSocket;
  const contextOf = (l: LoadedConfig): AccessContext => contextFor(l, { err: (text) => log.warn(text.trim()) }, log);
  let ctx = contextOf(loaded);

  // allowHalfOpen: a client that half-closes after its request (or in the middle of it) still
  // gets its answer; the service ends every connection itself.
  const server = createServer({ allowHalfOpen: true });
  server.maxConnections = MAX_CONNECTIONS;
  const service = serveHookRequests(server, { context: () => ctx, log });
  const socket = await listenHookSocket(server, { path: socketPath(loaded), group: loaded.config.ssh.hook_socket_group, env: io.env });
  // Warm: the first grant should not pay for loading the HTTP client.
  void ctx.even().catch(() => undefined);
  log.info({ socket: socket.path, via: socket.via, config: loaded.source ?? 'defaults' }, 'ssh access service listening');

  const file = configFileFor(loadOptions);
  const reload = async (why: string) => {
    try {
      const next = await loadConfig(loadOptions);
      if (socketPath(next) !== socket.path || next.config.ssh.hook_socket_group !== loaded.config.ssh.hook_socket_group) {
        log.warn({ socket: socketPath(next) }, 'the hook socket settings changed: they apply after a restart of the service');
      }
      loaded = next;
      ctx = contextOf(next);
      log.info({ why, config: next.source ?? 'defaults' }, 'agent config reloaded');
    } catch (e) {
      log.error({ why, err: e }, `agent config not reloaded, the previous one stays in effect: ${errorMessage(e)}`);
    }
  };
  let watcher: FSWatcher | undefined;
  let debounce: NodeJS.Timeout | undefined;
  try {
    // The directory, not the file: agent.yaml is replaced by rename, which a file watch misses.
    watcher = watch(dirname(file), (_event, name) => {
      if (name !== basename(file)) return;
      clearTimeout(debounce);
      debounce = setTimeout(() => void reload(`${file} changed`), 50);
    });
    watcher.on('error', (e) => log.warn({ err: e }, `stopped watching ${file}; send SIGHUP after changing it`));
  } catch (e) {
    log.warn({ err: e }, `cannot watch ${file}; send SIGHUP after changing it`);
  }
  const onHup = () => void reload('SIGHUP');
  process.on('SIGHUP', onHup);

  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log.info('stopping: no new requests; finishing the ones received');
  process.off('SIGHUP', onHup);
  watcher?.close();
  clearTimeout(debounce);
  // close() calls back once every open connection has ended (each is answered, or times out).
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await service.idle();
  await socket.remove();
  log.info({ handled: service.handled }, 'ssh access service stopped');
  return 0;
}
