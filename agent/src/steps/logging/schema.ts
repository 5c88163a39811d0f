/*! User-data keys for log shipping (rsyslog forwarding, Logentries, Scalyr) and local log rotation.
 * Every value that ends up in a rendered file (rsyslog, logrotate, Scalyr's agent.json) is checked
 * here: single lines without quotes or backslashes (values/text.ts), host names, sizes, ranges. */
import { t, INVALID, error, type Path, type CheckContext, type Checked } from '../../lib/schema/types.js';
import { secretText, type KmsEncrypted } from '../../values/kms.js';
import type { Secret } from '../../lib/secret.js';
import { configText } from '../../values/text.js';
import { parseSize } from '../../values/size.js';
import { parse as parseYaml } from 'yaml';

const size = (example: string) =>
  t.string({ singleLine: true, pattern: /^[0-9]+[kKmMgG]?$/, patternMessage: `must be a size such as ${example} (a number with k, M or G)` });
/** rsyslog's message size limit: from 1k (shorter cuts ordinary lines) to 16M. */
const messageSize = size('64k').refine<string>((v, path, ctx) => {
  if (parseSize(v) < 1024 || parseSize(v) > 16 * 1024 ** 2) {
    ctx.report(error(path, 'TPG_UD_RANGE', `must be between 1k and 16M, got ${v}`));
    return INVALID;
  }
  return v;
});
const interval = t.enum(['hourly', 'daily', 'weekly', 'monthly']);
const parser = configText({ maxLength: 128 });
const hostName = configText({
  maxLength: 253,
  pattern: /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/,
  patternMessage: 'must be a host name or IPv4 address such as logs.example.org',
});

/** A Logentries token: letters, digits and dashes (a UUID). It is written into rsyslog's
 * configuration (rsyslog.ts), so a decrypted one is checked against it too (apply.ts). */
export const LOGENTRIES_TOKEN = /^[A-Za-z0-9][A-Za-z0-9-]{0,127}$/;
const logentriesToken = (label: string) =>
  secretText(label, { pattern: LOGENTRIES_TOKEN, patternMessage: 'must be a Logentries token (letters, digits and dashes, e.g. a UUID) or aws:kms:...' });

/**
 * An rsyslog string template for application.log: one line; `\n` and `\t` may be written as
 * escapes (a YAML plain or single-quoted scalar keeps them), a double quote or any other backslash
 * is refused (it could end the template and start configuration).
 */
const rsyslogTemplate = t.string({ singleLine: true, minLength: 1, maxLength: 512 }).refine<string>((v, path, ctx) => {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses.
  const bad = /["\u0000-\u001f\u007f]/.test(v) || /\\(?![nt\\])/.test(v.replace(/\\\\/g, ''));
  if (bad) {
    ctx.report(
      error(
        path,
        'TPG_UD_CONFIG_CHARACTER',
        "must not contain double quotes, control characters or backslashes other than \\n and \\t: the template is written into rsyslog's configuration (write it in single quotes, e.g. '%timestamp% %msg%\\n')",
      ),
    );
    return INVALID;
  }
  return v;
});

export interface SamplingRule {
  match_expression: string;
  sampling_rate: number;
}

/** Scalyr sampling rules: a list of {match_expression, sampling_rate}, or that list as a YAML or
 * JSON string (what the original's templates wrote). */
const samplingRules = t
  .any(
    {
      anyOf: [
        {
          type: 'array',
          items: {
            type: 'object',
            properties: { match_expression: { type: 'string' }, sampling_rate: { type: 'number', minimum: 0, maximum: 1 } },
            required: ['match_expression', 'sampling_rate'],
            additionalProperties: false,
          },
        },
        { type: 'string' },
      ],
    },
    'list of {match_expression, sampling_rate}',
  )
  .refine<SamplingRule[]>((v, path, ctx) => checkSampling(v, path, ctx));

function checkSampling(value: unknown, path: Path, ctx: CheckContext): Checked<SamplingRule[]> {
  let list = value;
  if (typeof value === 'string') {
    try {
      list = parseYaml(value);
    } catch {
      ctx.report(error(path, 'TPG_UD_TYPE', 'is a string that is not a YAML list; write a list such as [{match_expression: INFO, sampling_rate: 0.1}]'));
      return INVALID;
    }
  }
  if (!Array.isArray(list)) {
    ctx.report(error(path, 'TPG_UD_TYPE', 'must be a list of {match_expression, sampling_rate}, e.g. [{match_expression: INFO, sampling_rate: 0.1}]'));
    return INVALID;
  }
  const out: SamplingRule[] = [];
  let ok = true;
  list.forEach((rule: unknown, i) => {
    const at = [...path, i];
    const r = rule as Record<string, unknown> | null;
    const expr = r?.match_expression;
    const rate = r?.sampling_rate;
    const extra = r && typeof r === 'object' ? Object.keys(r).filter((k) => k !== 'match_expression' && k !== 'sampling_rate') : [];
    if (r === null || typeof r !== 'object' || Array.isArray(r)) {
      ctx.report(error(at, 'TPG_UD_TYPE', 'must be a mapping {match_expression, sampling_rate}'));
      ok = false;
    } else if (typeof expr !== 'string' || expr === '' || /[\r\n]/.test(expr) || expr.includes('\0')) {
      ctx.report(error(at, 'TPG_UD_TYPE', 'match_expression must be a regular expression on one line (e.g. INFO)'));
      ok = false;
    } else if (typeof rate !== 'number' || rate < 0 || rate > 1) {
      ctx.report(error(at, 'TPG_UD_RANGE', 'sampling_rate must be a number from 0 (drop every matching line) to 1 (keep all)'));
      ok = false;
    } else if (extra.length) {
      ctx.report(error(at, 'TPG_UD_UNKNOWN_KEY', `unknown key ${extra[0]}: a rule has match_expression and sampling_rate only`));
      ok = false;
    } else out.push({ match_expression: expr, sampling_rate: rate });
  });
  return ok ? out : INVALID;
}

const FLUENTD = 'fluentd shipping (to S3) is not part of this image; use Scalyr or rsyslog forwarding';

export const loggingKeys = {
  logging: t
    .object(
      {
        log_destination: t
          .enum(['scalyr', 'rsyslog', 'none', 's3', 'scalyr_s3'])
          .describe(
            'Where logs go besides the local files. `rsyslog` forwards to rsyslog_host, `scalyr` ships with the Scalyr agent; both also happen without it whenever their keys are set. `none` ships nothing. `s3` needs fluentd, which this image does not ship.',
          ),
        scalyr_account_key: secretText('logging.scalyr_account_key', { allowEmpty: true }).describe(
          "Scalyr write key (a string; may be aws:kms: encrypted). Empty (Senza's template default): Scalyr is skipped, with a note in the status.",
        ),
        scalyr_region: t.enum(['eu', 'us']).describe('Scalyr region: the server agent.json names (default eu, or the top-level scalyr_region).'),
        scalyr_agent_enabled: t.boolean().describe('false: do not ship with Scalyr even when a key is set (default: ship when a key is set).'),
        scalyr_application_log_parser: parser.describe('Scalyr parser for application.log (default slf4j).'),
        scalyr_custom_log_parser: parser.describe('Scalyr parser for /var/log-custom/*.log (default slf4j).'),
        use_scalyr_agent_all: t.boolean().describe('Default for the four use_scalyr_agent_* switches (default true).'),
        use_scalyr_agent_applog: t.boolean().describe('Ship application.log to Scalyr.'),
        use_scalyr_agent_customlog: t.boolean().describe('Ship /var/log-custom/*.log to Scalyr (needs mount_custom_log).'),
        use_scalyr_agent_authlog: t.boolean().describe('Ship auth.log to Scalyr.'),
        use_scalyr_agent_syslog: t.boolean().describe('Ship syslog to Scalyr.'),
        scalyr_agent_applog_sampling: samplingRules.describe(
          "Scalyr sampling rules for application.log: a list of {match_expression (Python regular expression), sampling_rate (0 to 1)}, or that list as a YAML string (the original's form).",
        ),
        scalyr_agent_customlog_sampling: samplingRules.describe('Scalyr sampling rules for the custom logs (as scalyr_agent_applog_sampling).'),
        scalyr_agent_authlog_sampling: samplingRules.describe('Scalyr sampling rules for auth.log (as scalyr_agent_applog_sampling).'),
        scalyr_agent_syslog_sampling: samplingRules.describe('Scalyr sampling rules for syslog (as scalyr_agent_applog_sampling).'),
        rsyslog_host: hostName.describe(
          'Remote syslog server: application, auth and system logs (and custom logs with mount_custom_log) are forwarded to it through a disk-assisted queue.',
        ),
        rsyslog_port: t.integer({ min: 1, max: 65535 }).describe('Remote syslog port (default 514, or 6514 with tls).'),
        rsyslog_protocol: t
          .enum(['tcp', 'udp', 'tls'])
          .default('tcp')
          .describe("Remote syslog transport. tls checks the server's certificate and name against the image's CA store; udp may lose lines."),
        rsyslog_severity: t
          .enum(['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'])
          .describe("Severity given to the application's forwarded lines (default: as the container wrote them, info for stdout and err for stderr)."),
        rsyslog_program: configText({
          maxLength: 32,
          pattern: /^[A-Za-z0-9][A-Za-z0-9._/-]*$/,
          patternMessage: 'must be a program name: letters, digits and . _ / - (at most 32)',
        }).describe("Syslog tag of the application's lines: in forwarded lines and application.log's legacy format (default: the application_id)."),
        rsyslog_hostname: hostName.describe('Host name given to forwarded lines (default: the instance host name).'),
        logentries_token: logentriesToken('logging.logentries_token').describe(
          'Logentries token: application, auth and system logs are sent to Logentries over TLS syslog with the token first on every line. May be aws:kms: encrypted.',
        ),
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
    .describe(
      "Log shipping (docs/logging.md). Without it the application's stdout and stderr still go to /var/log/application.log (not syslog), rotated by size, and nothing leaves the instance.",
    ),
  logentries_account_key: logentriesToken('logentries_account_key')
    .refine<KmsEncrypted | Secret>((v, path, ctx) => {
      if (v === '') return INVALID; // refused already: a token is never empty
      ctx.report({
        path,
        code: 'TPG_UD_DEPRECATED_KEY',
        message: "is the original's Logentries key; it still works here, but write it as logging.logentries_token",
        severity: 'warning',
        at: 'key',
      });
      return v;
    })
    .describe('Deprecated: write logging.logentries_token. Still honoured (when logging.logentries_token is not set), with a warning.'),
  scalyr_account_key: secretText('scalyr_account_key', { allowEmpty: true }).describe(
    'Twin of logging.scalyr_account_key (the original accepted both; logging.* wins). A string; empty means not set.',
  ),
  scalyr_region: t.enum(['eu', 'us']).describe('Twin of logging.scalyr_region.'),
  scalyr_application_log_parser: parser.describe('Twin of logging.scalyr_application_log_parser.'),
  scalyr_custom_log_parser: parser.describe('Twin of logging.scalyr_custom_log_parser.'),
  rsyslog_max_message_size: messageSize.describe("Largest syslog message rsyslog accepts (longer application lines are cut); rsyslog's default is 8k."),
  rsyslog_aws_metadata: t
    .boolean()
    .describe('Write the AWS account and region into every line of syslog, auth.log (and of application.log in the legacy format).'),
  rsyslog_application_log_format: rsyslogTemplate.describe(
    'Format of application.log lines: `legacy` for the standard syslog format (time, host, tag), or an rsyslog template string such as `%timestamp% %msg%\\n`. Default: the message only. A newline is added when the template has none at its end.',
  ),
  application_logrotate_size: size('256M').default('256M').describe('Rotate application.log when it grows larger than this (checked every 5 minutes).'),
  application_logrotate_interval: interval.default('weekly').describe('Rotate application.log at least this often.'),
  application_logrotate_rotate: t.integer({ min: 0, max: 1000 }).default(4).describe('Rotated application logs kept; 0 removes the old log at each rotation.'),
  application_logrotate_disable_copytruncate: t
    .boolean()
    .default(false)
    .describe('Move application.log aside and have rsyslog reopen it, instead of copying and truncating it.'),
  application_logrotate_disable_delaycompress: t.boolean().default(false).describe('Compress the newest rotated application log at once.'),
  application_logrotate_disable_compress: t.boolean().default(false).describe('Do not compress rotated application logs.'),
  customlog_logrotate_size: size('256M').default('256M').describe('Rotate each /var/log-custom/*.log when larger (checked every 5 minutes).'),
  customlog_logrotate_interval: interval.default('daily').describe('Rotate custom logs at least this often.'),
  customlog_logrotate_rotate: t.integer({ min: 0, max: 1000 }).default(5).describe('Rotated custom logs kept; 0 removes the old log at each rotation.'),
};
