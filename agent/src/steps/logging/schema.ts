/*! User-data keys for log shipping (rsyslog, Scalyr, Logentries) and local log rotation. */
import { t } from '../../lib/schema/types.js';
import { maybeKms } from '../../values/kms.js';
import { singleLine } from '../../values/text.js';

const size = (example: string) => t.string({ singleLine: true, pattern: /^[0-9]+[kKmMgG]?$/, patternMessage: `must be a size such as ${example}` });
const interval = t.enum(['hourly', 'daily', 'weekly', 'monthly']);
const parser = singleLine({ maxLength: 128 });

const FLUENTD = 'fluentd shipping (to S3) is not part of this image; use Scalyr or rsyslog forwarding';

export const loggingKeys = {
  logging: t
    .object(
      {
        log_destination: t
          .enum(['scalyr', 'rsyslog', 'none', 's3', 'scalyr_s3'])
          .describe('Where logs go. scalyr and rsyslog are supported; s3 needs fluentd, which this image does not ship.'),
        scalyr_account_key: maybeKms('logging.scalyr_account_key').describe('Scalyr write key; may be aws:kms: encrypted.'),
        scalyr_region: t.enum(['eu', 'us']).default('eu').describe('Scalyr region.'),
        scalyr_agent_enabled: t.boolean().describe('Ship with Scalyr (default: when a Scalyr key is set).'),
        scalyr_application_log_parser: parser.default('slf4j').describe('Scalyr parser for application.log.'),
        scalyr_custom_log_parser: parser.default('slf4j').describe('Scalyr parser for custom logs.'),
        use_scalyr_agent_all: t.boolean().describe('Default for the four use_scalyr_agent_* switches.'),
        use_scalyr_agent_applog: t.boolean().describe('Ship application.log to Scalyr.'),
        use_scalyr_agent_customlog: t.boolean().describe('Ship /var/log-custom/*.log to Scalyr (needs mount_custom_log).'),
        use_scalyr_agent_authlog: t.boolean().describe('Ship auth.log to Scalyr.'),
        use_scalyr_agent_syslog: t.boolean().describe('Ship syslog to Scalyr.'),
        rsyslog_host: t
          .string({ singleLine: true, pattern: /^[A-Za-z0-9.-]+$/, patternMessage: 'must be a host name or IPv4 address' })
          .describe('Remote syslog host to forward to.'),
        rsyslog_port: t.integer({ min: 1, max: 65535 }).default(514).describe('Remote syslog port.'),
        rsyslog_protocol: t.enum(['tcp', 'udp']).default('tcp').describe('Remote syslog transport.'),
        rsyslog_severity: t
          .enum(['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'])
          .default('notice')
          .describe('Severity given to forwarded lines.'),
        rsyslog_program: singleLine({ maxLength: 64 }).default('taupage').describe('Program name given to forwarded lines.'),
        rsyslog_hostname: singleLine({ maxLength: 255 }).describe('Host name given to forwarded lines (default: the instance host name).'),
        fluentd_enabled: t.unsupported(FLUENTD),
        fluentd_loglevel: t.unsupported(FLUENTD),
        s3_bucket: t.unsupported(FLUENTD),
        s3_region: t.unsupported(FLUENTD),
        s3_timekey: t.unsupported(FLUENTD),
        s3_acl: t.unsupported(FLUENTD),
        s3_raw_log_format: t.unsupported(FLUENTD),
        syslog_destination: t.unsupported(FLUENTD),
        applog_destination: t.unsupported(FLUENTD),
        authlog_destination: t.unsupported(FLUENTD),
        customlog_destination: t.unsupported(FLUENTD),
        applog_filter_exclude: t.unsupported(FLUENTD),
        customlog_filter_exclude: t.unsupported(FLUENTD),
      },
      {},
    )
    .describe('Log shipping settings.'),
  logentries_account_key: maybeKms('logentries_account_key').describe(
    'Logentries token: every syslog line is forwarded to Logentries prefixed with it. May be aws:kms: encrypted.',
  ),
  scalyr_account_key: maybeKms('scalyr_account_key').describe('Deprecated twin of logging.scalyr_account_key.'),
  scalyr_region: t.enum(['eu', 'us']).describe('Deprecated twin of logging.scalyr_region.'),
  scalyr_application_log_parser: parser.describe('Deprecated twin of logging.scalyr_application_log_parser.'),
  scalyr_custom_log_parser: parser.describe('Deprecated twin of logging.scalyr_custom_log_parser.'),
  rsyslog_max_message_size: size('64k').describe('Largest syslog message rsyslog accepts (longer application lines are cut).'),
  rsyslog_aws_metadata: t.boolean().describe('Prefix syslog lines with the AWS account and region.'),
  rsyslog_application_log_format: singleLine({ maxLength: 512 }).describe(
    'rsyslog template for application.log lines; `legacy` keeps the standard syslog format. Default: the message only.',
  ),
  application_logrotate_size: size('256M').default('256M').describe('Rotate application.log when larger.'),
  application_logrotate_interval: interval.default('weekly').describe('Rotate application.log at least this often.'),
  application_logrotate_rotate: t.integer({ min: 1, max: 1000 }).default(4).describe('Rotated application logs kept.'),
  application_logrotate_disable_copytruncate: t.boolean().default(false).describe('Do not use copytruncate for application.log.'),
  application_logrotate_disable_delaycompress: t.boolean().default(false).describe('Compress the newest rotated application log at once.'),
  application_logrotate_disable_compress: t.boolean().default(false).describe('Do not compress rotated application logs.'),
  customlog_logrotate_size: size('256M').default('256M').describe('Rotate custom logs when larger.'),
  customlog_logrotate_interval: interval.default('daily').describe('Rotate custom logs at least this often.'),
  customlog_logrotate_rotate: t.integer({ min: 1, max: 1000 }).default(5).describe('Rotated custom logs kept.'),
};
