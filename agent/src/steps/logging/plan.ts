/*! Log shipping and rotation: which files go where, decided from the user data. */
import type { PlanInput, StepPlan, PlanNote } from '../step.js';
import type { KmsEncrypted } from '../../values/kms.js';
import type { Secret } from '../../lib/secret.js';

export interface RotationPlan {
  size: string;
  interval: string;
  rotate: number;
  copytruncate: boolean;
  delaycompress: boolean;
  compress: boolean;
}

export interface LoggingPlan extends StepPlan {
  applicationLog: { file: string; tag: string; format: string };
  customLogs?: { glob: string };
  maxMessageSize?: string;
  awsMetadata: boolean;
  scalyr?: { server: string; key: Secret | KmsEncrypted | string; files: Array<{ path: string; parser: string }> };
  logentries?: { token: Secret | KmsEncrypted | string };
  remoteSyslog?: { host: string; port: number; protocol: 'tcp' | 'udp'; severity: string; program: string; hostname?: string };
  rotation: { application: RotationPlan; custom: RotationPlan };
}

export function planLogging({ settings: s, paths }: PlanInput): LoggingPlan {
  const l = s.logging;
  const notes: PlanNote[] = [];
  const appLog = `${paths.varLog}/application.log`;
  const customGlob = `${paths.varLogCustom}/*.log`;
  const plan: LoggingPlan = {
    applicationLog: {
      file: appLog,
      tag: s.application_id,
      format: s.rsyslog_application_log_format === 'legacy' ? 'legacy' : (s.rsyslog_application_log_format ?? '%msg%\\n'),
    },
    awsMetadata: s.rsyslog_aws_metadata === true,
    rotation: {
      application: {
        size: s.application_logrotate_size,
        interval: s.application_logrotate_interval,
        rotate: s.application_logrotate_rotate,
        copytruncate: !s.application_logrotate_disable_copytruncate,
        delaycompress: !s.application_logrotate_disable_delaycompress,
        compress: !s.application_logrotate_disable_compress,
      },
      custom: {
        size: s.customlog_logrotate_size,
        interval: s.customlog_logrotate_interval,
        rotate: s.customlog_logrotate_rotate,
        copytruncate: true,
        delaycompress: true,
        compress: true,
      },
    },
  };
  if (s.mount_custom_log) plan.customLogs = { glob: customGlob };
  if (s.rsyslog_max_message_size) plan.maxMessageSize = s.rsyslog_max_message_size;

  const destination = l?.log_destination;
  if (destination === 's3' || destination === 'scalyr_s3')
    notes.push({
      level: 'warning',
      message: `log_destination ${destination}: shipping to S3 needs fluentd, which this image does not ship; ${destination === 'scalyr_s3' ? 'only Scalyr is configured' : 'logs stay local'}`,
    });

  const scalyrKey = l?.scalyr_account_key ?? s.scalyr_account_key;
  const scalyrWanted =
    destination === 'scalyr' || destination === 'scalyr_s3' || (destination === undefined && (l?.scalyr_agent_enabled ?? scalyrKey !== undefined));
  if (scalyrWanted && scalyrKey === undefined)
    notes.push({ level: 'warning', message: 'Scalyr shipping is asked for but no scalyr_account_key is set: nothing is shipped to Scalyr' });
  if (scalyrWanted && scalyrKey !== undefined && l?.scalyr_agent_enabled !== false) {
    const region = l?.scalyr_region ?? s.scalyr_region ?? 'eu';
    const all = l?.use_scalyr_agent_all ?? true;
    const appParser = l?.scalyr_application_log_parser ?? s.scalyr_application_log_parser ?? 'slf4j';
    const customParser = l?.scalyr_custom_log_parser ?? s.scalyr_custom_log_parser ?? 'slf4j';
    const files: Array<{ path: string; parser: string }> = [];
    if (l?.use_scalyr_agent_applog ?? all) files.push({ path: appLog, parser: appParser });
    if ((l?.use_scalyr_agent_customlog ?? all) && s.mount_custom_log) files.push({ path: customGlob, parser: customParser });
    if (l?.use_scalyr_agent_authlog ?? all) files.push({ path: `${paths.varLog}/auth.log`, parser: 'systemLog' });
    if (l?.use_scalyr_agent_syslog ?? all) files.push({ path: `${paths.varLog}/syslog`, parser: s.rsyslog_aws_metadata ? 'systemLogMetadata' : 'systemLog' });
    plan.scalyr = { server: region === 'us' ? 'https://upload.scalyr.com' : 'https://upload.eu.scalyr.com', key: scalyrKey, files };
  }
  if (s.logentries_account_key !== undefined) plan.logentries = { token: s.logentries_account_key };
  if (l?.rsyslog_host && destination !== 'none') {
    plan.remoteSyslog = {
      host: l.rsyslog_host,
      port: l.rsyslog_port,
      protocol: l.rsyslog_protocol,
      severity: l.rsyslog_severity,
      program: l.rsyslog_program,
      ...(l.rsyslog_hostname ? { hostname: l.rsyslog_hostname } : {}),
    };
  } else if (destination === 'rsyslog') notes.push({ level: 'warning', message: 'log_destination rsyslog needs logging.rsyslog_host: nothing is forwarded' });
  if (notes.length) plan.notes = notes;
  return plan;
}
