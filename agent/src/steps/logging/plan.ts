/*! Log shipping and rotation: which lines go where, decided from the user data and the agent
 * config by pure code. `taupage plan` shows this (secrets redacted); the logging step renders it
 * (rsyslog.ts, logrotate.ts, scalyr.ts) and applies it (apply.ts).
 *
 * Routes:
 * - the container's stdout/stderr → Docker's syslog driver → rsyslog's own input for it
 *   (applicationLog.socket) → application.log, never syslog;
 * - application, auth and system lines (the SSH audit's and the agent's own among them), and the
 *   custom logs with mount_custom_log (read by the custom log reader as the application's user,
 *   handed to rsyslog over its own socket) → each shipping destination (remote syslog,
 *   Logentries) through its own disk-assisted queue;
 * - the Scalyr agent reads the files themselves (its agent.json);
 * - logrotate keeps application.log and the custom logs within their sizes. */
import { applicationOwner, type Owner, type PlanInput, type StepPlan, type PlanNote } from '../step.js';
import type { KmsEncrypted } from '../../values/kms.js';
import type { Secret } from '../../lib/secret.js';
import type { SamplingRule } from './schema.js';
import { formatImageRef } from '../../values/image-ref.js';

export interface RotationPlan {
  /** The file or glob rotated. */
  path: string;
  /** Rotated when larger than this (logrotate maxsize), or at the interval. */
  maxSize: string;
  interval: 'hourly' | 'daily' | 'weekly' | 'monthly';
  /** Old logs kept; 0 removes the old log at rotation. */
  rotate: number;
  copytruncate: boolean;
  compress: boolean;
  delaycompress: boolean;
  /** logrotate's `su`: rotate as the owner of the directory (one the application writes), so root
   * never acts on a path the application chose. Absent: as root (application.log, rsyslog's). */
  runAs?: Owner;
}

export type ApplicationLogFormat = { kind: 'message' } | { kind: 'legacy' } | { kind: 'template'; template: string };

/** A syslog server the lines are forwarded to, each with its own disk-assisted queue. */
export interface Destination {
  /** rsyslog action and queue name: remote_syslog or logentries. */
  name: 'remote_syslog' | 'logentries';
  /** For people: "remote syslog logs.example.org:6514 (tls)". */
  label: string;
  host: string;
  port: number;
  protocol: 'tcp' | 'udp' | 'tls';
  /** Logentries: the token written first on every line. */
  token?: Secret | KmsEncrypted;
  /** Where the token came from (its key path), for messages. */
  tokenKey?: string;
  /** remote syslog: host name written into forwarded lines instead of the instance's. */
  hostname?: string;
  /** remote syslog: severity given to the application's lines. */
  applicationSeverity?: string;
}

/** mount_custom_log: /var/log-custom is the application's, and root never reads it. Its *.log
 * files are shipped by the custom log reader, an rsyslogd running as the application's user
 * (taupage-custom-logs.service): rsyslog's imfile resolves a symbolic link itself (realpath) and
 * opens its target, which nosymfollow does not stop, so only the reader's own rights keep a link
 * from shipping a file of root's. It hands the lines to rsyslog over `socket`. */
export interface CustomLogsPlan {
  dir: string;
  glob: string;
  /** Whether any destination receives them (else the reader is stopped). */
  shipped: boolean;
  /** Fail the boot unless `dir` lies on a mount with PROTECTIVE_MOUNT_OPTIONS (agent config). */
  requireMount: boolean;
  reader: {
    config: string;
    /** The reader's work directory (imfile's read positions), its own. */
    stateDir: string;
    socketDir: string;
    socket: string;
    /** The application's group: the only one besides root that reaches socketDir. */
    gid: number;
    restartCommand: string[];
  };
}

/** What the image mounts /var/log-custom with (var-log\x2dcustom.mount): no symbolic link, device
 * node, set-user-id bit or program there works for anyone, root included. */
export const PROTECTIVE_MOUNT_OPTIONS = ['nosymfollow', 'nodev', 'nosuid', 'noexec'] as const;

export interface ScalyrPlan {
  configFile: string;
  server: string;
  key: Secret | KmsEncrypted;
  keyFrom: string;
  unit: string;
  /** Server attributes known before the boot (the instance's are added at boot). */
  attributes: Record<string, string>;
  logs: Array<{ path: string; parser: string; redact: boolean; sampling?: SamplingRule[] }>;
}

export interface LoggingPlan extends StepPlan {
  rsyslog: {
    mainConfig: string;
    dropIn: string;
    checkDir: string;
    restartCommand: string[];
    caFile: string;
    queue: { maxDiskSpace: string; retryIntervalSeconds: number };
    probeTimeoutMs: number;
  };
  applicationLog: {
    file: string;
    /** rsyslog's input for the container (Docker's syslog driver, a Unix stream socket). */
    socket: string;
    /** The container's syslog tag. */
    tag: string;
    format: ApplicationLogFormat;
    /** Whether the container logs to `socket` (false when docker.syslog_address sends it elsewhere). */
    containerUsesIt: boolean;
  };
  maxMessageSize?: string;
  awsMetadata: boolean;
  customLogs?: CustomLogsPlan;
  destinations: Destination[];
  scalyr?: ScalyrPlan;
  rotation: { dir: string; application: RotationPlan; custom?: RotationPlan };
}

const SEVERITIES = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'] as const;
export const severityNumber = (s: string): number => SEVERITIES.indexOf(s as (typeof SEVERITIES)[number]);

/** The syslog tag of the application's lines (Docker's driver sets it). */
export const applicationTag = (s: PlanInput['settings']): string => s.logging?.rsyslog_program ?? s.application_id;

/** The syslog-address Docker's driver uses for the application container. */
export function containerSyslogAddress(input: Pick<PlanInput, 'config' | 'paths'>): string {
  return input.config.docker.syslog_address ?? `unix://${input.paths.applicationLogSocket}`;
}

export function planLogging({ settings: s, config, paths }: PlanInput): LoggingPlan {
  const l = s.logging;
  const lc = config.logging;
  const notes: PlanNote[] = [];
  const destination = l?.log_destination;
  const shipping = destination !== 'none';

  const format: ApplicationLogFormat =
    s.rsyslog_application_log_format === undefined
      ? { kind: 'message' }
      : s.rsyslog_application_log_format === 'legacy'
        ? { kind: 'legacy' }
        : {
            kind: 'template',
            template: s.rsyslog_application_log_format.endsWith('\\n') ? s.rsyslog_application_log_format : `${s.rsyslog_application_log_format}\\n`,
          };
  const containerUsesIt = config.docker.syslog_address === undefined;
  if (!containerUsesIt)
    notes.push({
      level: 'warning',
      message: `docker.syslog_address (agent config) sends the container's lines to ${config.docker.syslog_address}: application.log and the shipping destinations do not get them`,
    });

  const destinations: Destination[] = [];
  if (destination === 's3' || destination === 'scalyr_s3')
    notes.push({
      level: 'warning',
      message: `log_destination ${destination}: shipping to S3 needs fluentd, which this image does not ship; ${destination === 'scalyr_s3' ? 'only Scalyr is configured' : 'nothing goes to S3'}`,
    });
  if (l?.rsyslog_host !== undefined && shipping) {
    const protocol = l.rsyslog_protocol;
    const port = l.rsyslog_port ?? (protocol === 'tls' ? 6514 : 514);
    destinations.push({
      name: 'remote_syslog',
      label: `remote syslog ${l.rsyslog_host}:${port} (${protocol})`,
      host: l.rsyslog_host,
      port,
      protocol,
      ...(l.rsyslog_hostname ? { hostname: l.rsyslog_hostname } : {}),
      ...(l.rsyslog_severity ? { applicationSeverity: l.rsyslog_severity } : {}),
    });
    if (protocol === 'udp')
      notes.push({ level: 'info', message: 'rsyslog_protocol udp: lines sent while the server is down or overloaded are lost; tcp or tls queue them' });
  } else if (destination === 'rsyslog') notes.push({ level: 'warning', message: 'log_destination rsyslog needs logging.rsyslog_host: nothing is forwarded' });
  else if (l?.rsyslog_host !== undefined) notes.push({ level: 'info', message: 'log_destination none: logging.rsyslog_host is not used' });

  const token = l?.logentries_token ?? s.logentries_account_key;
  const tokenKey = l?.logentries_token !== undefined ? 'logging.logentries_token' : 'logentries_account_key';
  if (token !== undefined && token !== '' && shipping)
    destinations.push({
      name: 'logentries',
      label: `Logentries ${lc.logentries_host}:${lc.logentries_port} (tls)`,
      host: lc.logentries_host,
      port: lc.logentries_port,
      protocol: 'tls',
      token,
      tokenKey,
    });

  const customGlob = `${paths.varLogCustom}/*.log`;
  const plan: LoggingPlan = {
    rsyslog: {
      mainConfig: paths.rsyslogConf,
      dropIn: paths.rsyslogDropIn,
      checkDir: paths.rsyslogCheckDir,
      restartCommand: lc.restart_rsyslog,
      caFile: lc.ca_file,
      queue: { maxDiskSpace: lc.queue_max_disk_space, retryIntervalSeconds: lc.retry_interval_seconds },
      probeTimeoutMs: lc.probe_timeout_ms,
    },
    applicationLog: { file: paths.applicationLog, socket: paths.applicationLogSocket, tag: applicationTag(s), format, containerUsesIt },
    awsMetadata: s.rsyslog_aws_metadata === true,
    destinations,
    rotation: {
      dir: paths.logrotateDir,
      application: {
        path: paths.applicationLog,
        maxSize: s.application_logrotate_size,
        interval: s.application_logrotate_interval,
        rotate: s.application_logrotate_rotate,
        copytruncate: !s.application_logrotate_disable_copytruncate,
        delaycompress: !s.application_logrotate_disable_delaycompress,
        compress: !s.application_logrotate_disable_compress,
      },
    },
  };
  if (s.rsyslog_max_message_size) plan.maxMessageSize = s.rsyslog_max_message_size;
  if (s.mount_custom_log) {
    if (s.root && destinations.length > 0)
      notes.push({
        level: 'warning',
        message:
          "root: true with mount_custom_log: the custom logs are read as the application's user (never root), so a file in /var/log-custom only root may read (0600, 0640) is not shipped; create them 0644",
      });
    plan.customLogs = {
      dir: paths.varLogCustom,
      glob: customGlob,
      shipped: destinations.length > 0,
      requireMount: lc.require_custom_log_mount,
      reader: {
        config: paths.customLogReaderConf,
        stateDir: paths.customLogReaderState,
        socketDir: paths.customLogSocketDir,
        socket: paths.customLogSocket,
        gid: config.application_user.gid,
        restartCommand: lc.restart_custom_log_reader,
      },
    };
    plan.rotation.custom = {
      path: customGlob,
      maxSize: s.customlog_logrotate_size,
      interval: s.customlog_logrotate_interval,
      rotate: s.customlog_logrotate_rotate,
      copytruncate: true,
      delaycompress: true,
      compress: true,
      // /var/log-custom's owner (the disks step makes it so).
      runAs: applicationOwner({ settings: s, config }),
    };
  }

  // Scalyr: the agent reads the files; only its agent.json is ours.
  const keyFrom = l?.scalyr_account_key !== undefined ? 'logging.scalyr_account_key' : 'scalyr_account_key';
  const key = l?.scalyr_account_key ?? s.scalyr_account_key;
  if (key === '') {
    notes.push({ level: 'info', message: `${keyFrom} is empty: Scalyr is skipped` });
  } else if (key === undefined) {
    if (destination === 'scalyr' || destination === 'scalyr_s3' || l?.scalyr_agent_enabled === true)
      notes.push({ level: 'warning', message: 'Scalyr is asked for but no scalyr_account_key is set: nothing is shipped to Scalyr' });
  } else if (l?.scalyr_agent_enabled === false) {
    notes.push({ level: 'info', message: 'scalyr_agent_enabled is false: Scalyr is skipped' });
  } else if (!shipping) {
    notes.push({ level: 'info', message: 'log_destination none: Scalyr is skipped' });
  } else {
    const region = l?.scalyr_region ?? s.scalyr_region ?? 'eu';
    const all = l?.use_scalyr_agent_all ?? true;
    const appParser = l?.scalyr_application_log_parser ?? s.scalyr_application_log_parser ?? 'slf4j';
    const customParser = l?.scalyr_custom_log_parser ?? s.scalyr_custom_log_parser ?? 'slf4j';
    const logs: ScalyrPlan['logs'] = [];
    const add = (path: string, parser: string, redact: boolean, sampling: SamplingRule[] | undefined) =>
      logs.push({ path, parser, redact, ...(sampling?.length ? { sampling } : {}) });
    if (l?.use_scalyr_agent_applog ?? all) add(paths.applicationLog, appParser, true, l?.scalyr_agent_applog_sampling);
    if ((l?.use_scalyr_agent_customlog ?? all) && s.mount_custom_log) add(customGlob, customParser, true, l?.scalyr_agent_customlog_sampling);
    if (l?.use_scalyr_agent_authlog ?? all) add(`${paths.varLog}/auth.log`, 'systemLog', false, l?.scalyr_agent_authlog_sampling);
    if (l?.use_scalyr_agent_syslog ?? all)
      add(`${paths.varLog}/syslog`, s.rsyslog_aws_metadata ? 'systemLogMetadata' : 'systemLog', false, l?.scalyr_agent_syslog_sampling);
    const attributes: Record<string, string> = {
      application_id: s.application_id,
      serverHost: s.application_id,
      application_version: s.application_version,
      source: formatImageRef(s.source),
      image: `${s.source.registry}/${s.source.repository}`,
    };
    if (s.notify_cfn?.stack) attributes.stack = s.notify_cfn.stack;
    plan.scalyr = { configFile: paths.scalyrConfig, server: lc.scalyr_servers[region], key, keyFrom, unit: lc.scalyr_unit, attributes, logs };
  }

  if (notes.length) plan.notes = notes;
  return plan;
}
