/*! The logging step's effects, in the order that keeps the machine consistent:
 * 0. mount_custom_log on the image (require_custom_log_mount): /var/log-custom must lie on the
 *    protective mount (nosymfollow, nodev, nosuid, noexec), or the boot fails before anything;
 * 1. decrypt the tokens (a token that cannot be decrypted drops its destination, with a warning);
 * 2. rsyslog: render the drop-in; when it differs from the one in place, check it on its own
 *    (rsyslogd -N1 in a scratch directory), put it in place, check the whole configuration, and
 *    restart rsyslog (a refusal puts the previous drop-in back and fails the boot); then make sure
 *    the container's input socket is there (Docker's syslog driver cannot start without it);
 *    with custom logs shipped, the custom log reader's configuration (checked the same way) and
 *    the reader restarted, as the application's user; without, an earlier boot's reader stopped;
 * 3. logrotate files, each checked by logrotate before it is put in place;
 * 4. Scalyr's agent.json, and the agent restarted when the image has it;
 * 5. every log server probed (TCP, TLS handshake): one that does not answer is a warning in the
 *    status, the boot goes on (rsyslog's disk queue keeps the lines until it answers).
 * Runs before the container (steps/index.ts), so the first line the application writes is routed. */
import { chown, lstat, rm, unlink } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { makeDir } from '../../lib/make-dir.js';
import { writeFileAtomic, readIfExists, removeIfExists } from '../../lib/atomic-write.js';
import { AgentError, toAgentError } from '../../lib/errors.js';
import { retry } from '../../lib/retry.js';
import { Scrubber } from '../../lib/scrub.js';
import type { Secret } from '../../lib/secret.js';
import { isKmsEncrypted, type KmsEncrypted } from '../../values/kms.js';
import type { BootContext } from '../context.js';
import type { MountOf } from '../../ports/block-devices.js';
import type { StepReport } from '../step.js';
import { PROTECTIVE_MOUNT_OPTIONS, type Destination, type LoggingPlan } from './plan.js';
import { renderCheckConfig, renderCustomLogReader, renderRsyslog } from './rsyslog.js';
import { renderLogrotate } from './logrotate.js';
import { LOGENTRIES_TOKEN } from './schema.js';
import { scalyrConfig } from './scalyr.js';

type Ctx = Pick<BootContext, 'ports' | 'decrypt' | 'facts' | 'paths' | 'signal' | 'log' | 'record'>;

export async function applyLogging(plan: LoggingPlan, ctx: Ctx): Promise<StepReport> {
  if (plan.customLogs?.requireMount) await expectProtectiveMount(plan.customLogs.dir, ctx);
  const warnings: string[] = [];
  const done: string[] = [];
  // The tokens and keys this step reveals, plain or decrypted, kept out of its messages.
  const scrubber = new Scrubber();
  const reveal = async (value: Secret | KmsEncrypted, what: string): Promise<string | undefined> => {
    try {
      const text = (isKmsEncrypted(value) ? await ctx.decrypt(value) : value).reveal();
      scrubber.add(text);
      return text;
    } catch (e) {
      warnings.push(`${what}: its aws:kms: value could not be decrypted (${toAgentError(e).message}); nothing is sent there`);
      return undefined;
    }
  };
  const scrub = (text: string) => scrubber.scrub(text);

  // 1. Tokens. A destination whose token cannot be decrypted is left out, not the boot.
  const tokens: Partial<Record<Destination['name'], string>> = {};
  const destinations: Destination[] = [];
  for (const d of plan.destinations) {
    if (d.token) {
      const t = await reveal(d.token, `${d.label} (${d.tokenKey})`);
      if (t === undefined) continue;
      if (!LOGENTRIES_TOKEN.test(t)) {
        warnings.push(`${d.label}: the decrypted ${d.tokenKey} is not a Logentries token (letters, digits and dashes); nothing is sent there`);
        continue;
      }
      tokens[d.name] = t;
    }
    destinations.push(d);
  }
  const effective: LoggingPlan = {
    ...plan,
    destinations,
    ...(plan.customLogs ? { customLogs: { ...plan.customLogs, shipped: destinations.length > 0 } } : {}),
  };
  // Probes run while the files are written; their answers are awaited at the end.
  const probes = destinations.map((d) => probe(ctx, d.label, d.host, d.port, d.protocol === 'tls' ? plan.rsyslog.caFile : undefined, plan, d.protocol));

  // 2. rsyslog.
  const { instance, region } = ctx.facts;
  const dropIn = renderRsyslog(effective, { tokens, account: instance.accountId, region });
  try {
    const restarted = await installRsyslog(effective, dropIn, ctx);
    done.push(`application.log${restarted ? '' : ' (rsyslog configuration unchanged)'}`);
  } catch (e) {
    const err = toAgentError(e);
    throw new AgentError(err.code, scrub(err.message), { ...(err.hint ? { hint: err.hint } : {}), retriable: false });
  }
  if (plan.applicationLog.containerUsesIt) await expectSocket(plan.applicationLog.socket, "the container's log driver would have nowhere to write");
  if (await installCustomLogReader(effective, ctx)) done.push("custom logs (read as the application's user)");
  for (const d of destinations) done.push(d.label);

  // 3. logrotate.
  await installLogrotate(effective, ctx);

  // 4. Scalyr.
  let scalyrProbe: Promise<string | undefined> | undefined;
  if (plan.scalyr) {
    const key = await reveal(plan.scalyr.key, `Scalyr (${plan.scalyr.keyFrom})`);
    if (key !== undefined) {
      const host = await ctx.ports.imds.metadata('local-hostname', ctx.signal).catch(() => undefined);
      const config = scalyrConfig(plan.scalyr, {
        apiKey: key,
        region,
        account: instance.accountId,
        instanceId: instance.instanceId,
        hostname: host ?? osHostname(),
      });
      await writeFileAtomic(plan.scalyr.configFile, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600, mkdirParents: true });
      const server = new URL(plan.scalyr.server);
      scalyrProbe = probe(
        ctx,
        `Scalyr ${server.host}`,
        server.hostname,
        Number(server.port || (server.protocol === 'https:' ? 443 : 80)),
        undefined,
        plan,
        server.protocol === 'https:' ? 'tls' : 'tcp',
      );
      if (await ctx.ports.logDaemons.unitInstalled(plan.scalyr.unit, ctx.signal).catch(() => false)) {
        try {
          await ctx.ports.logDaemons.restartUnit(plan.scalyr.unit, ctx.signal);
          done.push(`Scalyr (${plan.scalyr.unit} restarted)`);
        } catch (e) {
          warnings.push(`Scalyr: agent.json is written but ${plan.scalyr.unit} did not restart: ${scrub(toAgentError(e).message)}`);
        }
      } else {
        warnings.push(`Scalyr: ${plan.scalyr.unit} is not installed in this image; ${plan.scalyr.configFile} is written but nothing is shipped to Scalyr`);
      }
    }
  } else {
    // A key of an earlier boot must not stay on disk once the user data no longer names Scalyr.
    await removeIfExists(ctx.paths.scalyrConfig);
  }

  // 5. Probe answers.
  for (const w of await Promise.all([...probes, ...(scalyrProbe ? [scalyrProbe] : [])])) if (w) warnings.push(w);
  ctx.record('logging.destinations', destinations.length);
  return { note: `configured: ${done.join(', ')}`, ...(warnings.length ? { warnings: warnings.map(scrub) } : {}) };
}

/** Put the drop-in in place and restart rsyslog, unless the one in place is the same and rsyslog
 * has its socket (a reboot). Returns whether rsyslog was restarted. */
async function installRsyslog(plan: LoggingPlan, dropIn: string, ctx: Ctx): Promise<boolean> {
  const { rsyslog, applicationLog } = plan;
  const daemons = ctx.ports.logDaemons;
  // Docker (root) connects to the socket; nobody else may write lines into application.log.
  await makeDir(ctx.paths.applicationLogSocketDir, 0o700);
  // The custom log reader (the application's group) sends to its socket; nobody else reaches it.
  const custom = plan.customLogs?.shipped ? plan.customLogs.reader : undefined;
  if (custom) {
    await makeDir(custom.socketDir, 0o750);
    await chown(custom.socketDir, 0, custom.gid); // in /run/taupage, root's: no one else names it
  }
  const previous = await readIfExists(rsyslog.dropIn);
  if (previous?.toString('utf8') === dropIn && (await isSocket(applicationLog.socket)) && (!custom || (await isSocket(custom.socket)))) return false;

  // The new drop-in on its own, before anything changes.
  await inCheckDir(rsyslog.checkDir, async (dir) => {
    const staged = join(dir, 'taupage.conf');
    const main = join(dir, 'rsyslog.conf');
    await writeFileAtomic(staged, dropIn, { mode: 0o600, fsync: false });
    await writeFileAtomic(main, renderCheckConfig(dir, staged), { mode: 0o600, fsync: false });
    const refused = await daemons.checkRsyslog(main, ctx.signal);
    if (refused) throw refusal(`rsyslog refuses the logging configuration rendered from the user data: ${refused}`);
  });

  // In place (mode 0600: it may hold the Logentries token), then the whole configuration.
  await writeFileAtomic(rsyslog.dropIn, dropIn, { mode: 0o600, mkdirParents: true });
  const refused = await daemons.checkRsyslog(rsyslog.mainConfig, ctx.signal);
  if (refused) {
    if (previous) await writeFileAtomic(rsyslog.dropIn, previous, { mode: 0o600 });
    else await unlink(rsyslog.dropIn).catch(() => undefined);
    throw refusal(`rsyslog refuses ${rsyslog.mainConfig} with the logging drop-in ${rsyslog.dropIn} (put back as it was): ${refused}`);
  }
  ctx.log.info({ dropIn: rsyslog.dropIn }, 'rsyslog configuration written; restarting rsyslog');
  try {
    await daemons.restartRsyslog(ctx.signal);
  } catch (e) {
    // rsyslog did not come up with it: the previous drop-in (or none) goes back and rsyslog is
    // started with that, so the host's own logging, the SSH audit among it, keeps going.
    if (previous) await writeFileAtomic(rsyslog.dropIn, previous, { mode: 0o600 });
    else await unlink(rsyslog.dropIn).catch(() => undefined);
    const again = await daemons.restartRsyslog(ctx.signal).then(
      () => 'rsyslog runs again with the previous configuration',
      () => 'rsyslog did not start with the previous configuration either',
    );
    const err = toAgentError(e);
    throw new AgentError(err.code, `${err.message} (the logging drop-in was put back as it was; ${again})`, {
      ...(err.hint ? { hint: err.hint } : {}),
      retriable: false,
      cause: e,
    });
  }
  return true;
}

const refusal = (message: string) =>
  new AgentError('TPG_LOGGING_FAILED', message, {
    hint: 'check rsyslog_application_log_format and the other logging keys (docs/user-data.md); rsyslog was not restarted',
    retriable: false,
  });

/** With custom logs shipped: the reader's configuration, checked on its own before it is put in
 * place, and the reader restarted (it reads only as the application's user); without: an earlier
 * boot's configuration removed and the reader restarted, which stops it. True when it runs. */
async function installCustomLogReader(plan: LoggingPlan, ctx: Ctx): Promise<boolean> {
  const daemons = ctx.ports.logDaemons;
  if (!plan.customLogs?.shipped) {
    if (await removeIfExists(ctx.paths.customLogReaderConf)) await daemons.restartCustomLogReader(ctx.signal);
    return false;
  }
  const conf = plan.customLogs.reader.config;
  const text = renderCustomLogReader(plan);
  // A reboot finds the one it checked before; the reader is restarted all the same (it may not run).
  if ((await readIfExists(conf))?.toString('utf8') !== text) {
    await inCheckDir(plan.rsyslog.checkDir, async (dir) => {
      // Its own work directory is the reader's (systemd makes it); the check uses the scratch one.
      const staged = join(dir, 'custom-logs.rsyslog.conf');
      await writeFileAtomic(staged, renderCustomLogReader(plan, dir), { mode: 0o600, fsync: false });
      const refused = await daemons.checkRsyslog(staged, ctx.signal);
      if (refused) throw refusal(`rsyslog refuses the custom log reader's configuration: ${refused}`);
    });
    await writeFileAtomic(conf, text, { mode: 0o644, mkdirParents: true });
  }
  await daemons.restartCustomLogReader(ctx.signal);
  await expectSocket(plan.customLogs.reader.socket, 'the custom log reader would have nowhere to send the lines of /var/log-custom');
  return true;
}

/** /var/log-custom on the mount the image makes for it, or the boot stops here: without it a link,
 * device node or set-user-id program the application puts there works for root or other users. */
async function expectProtectiveMount(dir: string, ctx: Ctx): Promise<void> {
  const hint = `the image's var-log\\x2dcustom.mount binds ${dir} onto itself with ${PROTECTIVE_MOUNT_OPTIONS.join(',')} before rsyslog, Docker and the boot, when the directory exists: see systemctl status 'var-log\\x2dcustom.mount'; create the directory (install -d -m 0755 -o application -g application ${dir}) and reboot`;
  const fail = (why: string) =>
    new AgentError('TPG_CUSTOM_LOG_UNPROTECTED', `mount_custom_log: ${why}; nothing was configured and the application does not start`, {
      hint,
      retriable: false,
    });
  let mount: MountOf;
  try {
    mount = await ctx.ports.blockDevices.mountOf(dir);
  } catch (e) {
    if (e instanceof AgentError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    // Refused by the open itself; lstat only says what it was, for the message.
    const link = (await lstat(dir).catch(() => undefined))?.isSymbolicLink();
    const what = code === 'ENOENT' ? 'does not exist' : link ? 'is a symbolic link' : code === 'ENOTDIR' ? 'is not a directory' : `cannot be opened (${code})`;
    throw fail(`${dir} ${what}, so it is not the protective mount`);
  }
  const missing = PROTECTIVE_MOUNT_OPTIONS.filter((o) => !mount.options.includes(o));
  if (missing.length)
    throw fail(
      `${dir} lies on the mount at ${mount.mountPoint} (${mount.options.join(',')}) without ${missing.join(', ')}: a link, device node or set-user-id program the application puts there would work for root or other users`,
    );
}

async function isSocket(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined))?.isSocket() ?? false;
}

/** `check` with a fresh, empty root-only directory for staged files, removed afterwards whatever
 * happens: every configuration is checked there before it replaces the one in use. */
async function inCheckDir(dir: string, check: (dir: string) => Promise<void>): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await makeDir(dir, 0o700);
  try {
    await check(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function expectSocket(path: string, without: string): Promise<void> {
  if (!(await isSocket(path)))
    throw new AgentError('TPG_LOGGING_FAILED', `rsyslog runs but did not create ${path}: ${without}`, {
      hint: `see journalctl -u rsyslog; ${path} is the input the logging drop-in defines`,
      retriable: false,
    });
}

async function installLogrotate(plan: LoggingPlan, ctx: Ctx): Promise<void> {
  const files = renderLogrotate(plan);
  await inCheckDir(plan.rsyslog.checkDir, async (dir) => {
    for (const f of files) {
      const staged = join(dir, f.path.split('/').pop()!);
      await writeFileAtomic(staged, f.content, { mode: 0o644, fsync: false });
      const refused = await ctx.ports.logDaemons.checkLogrotate(staged, ctx.signal);
      if (refused)
        throw new AgentError('TPG_LOGGING_FAILED', `logrotate refuses the rotation rendered for ${f.path}: ${refused}`, {
          hint:
            f.runAs && /unknown (user|group)/.test(refused)
              ? `the custom logs are rotated as their owner (su ${f.runAs.uid} ${f.runAs.gid}); logrotate needs a user and a group of those ids in /etc/passwd and /etc/group: check application_user in the agent config (the image's is 999:999)`
              : 'check the application_logrotate_* and customlog_logrotate_* keys',
          retriable: false,
        });
    }
  });
  for (const f of files) await writeFileAtomic(f.path, f.content, { mode: 0o644, mkdirParents: true });
  if (!plan.rotation.custom) await unlink(join(plan.rotation.dir, 'taupage-custom')).catch(() => undefined);
}

/** A warning naming the server when it does not answer within the probe time (tries again with
 * backoff within it: a server restarting is not a warning); undefined when it does. */
async function probe(
  ctx: Ctx,
  label: string,
  host: string,
  port: number,
  caFile: string | undefined,
  plan: LoggingPlan,
  protocol: 'tcp' | 'udp' | 'tls',
): Promise<string | undefined> {
  if (protocol === 'udp') return undefined; // nothing answers UDP syslog
  const deadline = Date.now() + plan.rsyslog.probeTimeoutMs;
  try {
    await retry(
      (_attempt, signal) =>
        ctx.ports.endpointProbe.reach(
          { host, port, ...(protocol === 'tls' ? { tls: caFile ? { caFile } : {} } : {}) },
          { timeoutMs: Math.max(100, deadline - Date.now()), ...(signal ? { signal } : {}) },
        ),
      {
        attempts: Number.MAX_SAFE_INTEGER,
        baseMs: 100,
        capMs: 1_000,
        deadline,
        signal: ctx.signal,
        // A certificate that does not fit stays so.
        isRetriable: (e) => !/certificate|self[- ]signed|altname|CERT_/i.test(`${(e as Error).message} ${(e as { code?: string }).code ?? ''}`),
      },
    );
    return undefined;
  } catch (e) {
    const why = (e as Error).message;
    return `${label} does not answer (${why}); the application starts, and lines wait in rsyslog's queue (or the Scalyr agent's) until it does`;
  }
}
