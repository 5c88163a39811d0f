/*! The rsyslog drop-in the logging step writes (paths.rsyslogDropIn), rendered from the plan by pure
 * code. It relies on what Debian's /etc/rsyslog.conf sets before it includes the drop-ins: the
 * imuxsock module loaded, a work directory (queues), and the syslog and auth.log rules after it.
 *
 * imptcp is loaded here (Debian's main configuration does not load it).
 *
 * Every value written between quotes was validated (user data: steps/logging/schema.ts; facts:
 * here); `quoted()` refuses anything that could still end a value, as a last net. */
import { AgentError } from '../../lib/errors.js';
import { isConfigSafe } from '../../values/text.js';
import { severityNumber, type Destination, type LoggingPlan } from './plan.js';
import { LOGENTRIES_TOKEN } from './schema.js';
import { parseSize } from '../../values/size.js';

/** What only the boot knows: decrypted tokens (by destination name) and the instance's facts. */
export interface RsyslogFacts {
  tokens: Partial<Record<Destination['name'], string>>;
  /** The AWS account and region (rsyslog_aws_metadata). */
  account: string;
  region: string;
}

export const HEADER = '# Written by `taupage boot` (logging step) from the user data; the next boot rewrites it.';
const ACCOUNT = /^[0-9]{12}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-[0-9]$/;

/** A value between double quotes, refused when it holds anything that could end it. */
function quoted(value: string | number, what: string): string {
  const text = String(value);
  if (!isConfigSafe(text.replace(/\\[nt\\]/g, ''))) throw new AgentError('TPG_LOGGING_FAILED', `${what} cannot be written into rsyslog's configuration`);
  return `"${text}"`;
}

/** The file format of Debian 12's rsyslog (RSYSLOG_FileFormat: RFC 3339 time, host, tag, message),
 * optionally with the account and region after the time. */
function fileFormat(aws?: { account: string; region: string }): string {
  return `%TIMESTAMP:::date-rfc3339% ${aws ? `${aws.account} ${aws.region} ` : ''}%HOSTNAME% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\\n`;
}

/** What follows the host on the wire. No newline: omfwd ends each line with one over TCP (its
 * framing), and a UDP datagram is one message. */
const LINE = '%syslogtag:1:32%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%';

export function renderRsyslog(plan: LoggingPlan, facts: RsyslogFacts): string {
  const out: string[] = [HEADER, ''];
  const aws = plan.awsMetadata ? checkedAws(facts) : undefined;

  out.push('# Tabs stay tabs (stack traces); rsyslog would write #011.', 'global(parser.escapeControlCharacterTab="off")');
  if (plan.maxMessageSize) out.push(`global(maxMessageSize=${quoted(plan.maxMessageSize, 'rsyslog_max_message_size')})`);
  if (aws) {
    out.push(
      '',
      '# rsyslog_aws_metadata: the account and region in every line of the files the main configuration writes (syslog, auth.log).',
      `template(name="taupage_aws_metadata" type="string" string=${quoted(fileFormat(aws), 'the AWS metadata format')})`,
      '$ActionFileDefaultTemplate taupage_aws_metadata',
    );
  }

  const app = plan.applicationLog;
  const appTemplate = app.format.kind === 'message' ? '%msg%\\n' : app.format.kind === 'legacy' ? fileFormat(aws) : app.format.template;
  out.push(
    '',
    "# application.log: the container's lines (Docker's syslog driver writes to the socket below), never syslog.",
    `template(name="taupage_application" type="string" string=${quoted(appTemplate, 'rsyslog_application_log_format')})`,
    '# The space after "tag:" is the separator, not part of the line.',
    'parser(name="taupage.application" type="pmrfc3164" remove.msgFirstSpace="on")',
  );

  const ships = plan.destinations.length > 0;
  if (ships) {
    out.push('', '# Shipping: every destination has its own disk-assisted queue; a full queue drops lines, it never blocks.');
    for (const d of plan.destinations)
      out.push(`template(name=${quoted(`taupage_${d.name}`, 'a template name')} type="string" string=${quoted(lineFormat(d, facts), d.label)})`);
    out.push('ruleset(name="taupage_ship") {');
    if (plan.destinations.some((d) => d.applicationSeverity)) out.push('  if $.taupage_pri == "" then set $.taupage_pri = $pri;');
    for (const d of plan.destinations) out.push(`  ${forwardAction(d, plan)}`);
    out.push('}');
  }

  out.push('ruleset(name="taupage_application" parser=["taupage.application"]) {');
  out.push(
    `  action(name="taupage_application_log" type="omfile" file=${quoted(app.file, 'the application log path')} template="taupage_application" fileCreateMode="0640")`,
  );
  if (ships) {
    const severity = plan.destinations.find((d) => d.applicationSeverity)?.applicationSeverity;
    if (severity) out.push(`  set $.taupage_pri = $syslogfacility * 8 + ${severityNumber(severity)};`);
    out.push('  call taupage_ship');
  }
  out.push('  stop', '}');
  // A stream socket (Docker's unix:// address): rsyslog reads many lines per read, twice the
  // lines per second of a datagram socket (bench/logs.ts). Only root reaches it (mode 0600 in a 0700
  // directory), so nobody else writes lines into application.log.
  out.push(
    'module(load="imptcp")',
    `input(type="imptcp" path=${quoted(app.socket, 'the application log socket')} unlink="on" fileCreateMode="0600" ruleset="taupage_application")`,
  );

  if (plan.customLogs?.shipped) {
    out.push(
      '',
      "# mount_custom_log: the application's own files under /var/log-custom, read by the custom log reader",
      "# as the application's user (never by root: see custom-logs.rsyslog.conf) and sent here; shipped only.",
      'ruleset(name="taupage_custom") {',
      '  call taupage_ship',
      '}',
      `input(type="imuxsock" Socket=${quoted(plan.customLogs.reader.socket, 'the custom log socket')} Ruleset="taupage_custom" RateLimit.Interval="0")`,
    );
  }
  if (ships) {
    out.push(
      '',
      "# Every other line (system, auth with the SSH audit, the agent's own) is shipped too; the main",
      '# configuration still writes it to syslog and auth.log after this.',
      'call taupage_ship',
    );
  }
  return `${out.join('\n')}\n`;
}

const READER_HEADER = '# Written by `taupage boot` (logging step): the custom log reader (taupage-custom-logs.service).';

/** Each line reaches rsyslog as one datagram, which the kernel takes only up to the socket's send
 * buffer (~208 KiB by default): the reader cuts longer lines here rather than lose them whole. */
const READER_MAX_MESSAGE = '128k';

/**
 * The custom log reader's configuration: an rsyslogd of its own that runs as the application's
 * user and reads /var/log-custom/*.log, because imfile resolves a symbolic link there itself
 * (realpath) and opens its target wherever it lies, whatever the mount's nosymfollow says: as
 * root it would ship /etc/shadow for a link to it. It sends each line to rsyslog's socket for it
 * (`socket`), which ships it. `workDirectory` is its state directory (another one to check it).
 */
export function renderCustomLogReader(plan: LoggingPlan, workDirectory?: string): string {
  const c = plan.customLogs;
  if (!c) throw new AgentError('TPG_INTERNAL', 'the custom log reader is rendered without mount_custom_log');
  const socket = c.reader.socket;
  // Legacy directives (omuxsock takes no others in rsyslog 8.2302) have no quotes: no space either.
  if (!isConfigSafe(socket) || /\s/.test(socket))
    throw new AgentError('TPG_LOGGING_FAILED', "the custom log socket cannot be written into rsyslog's configuration");
  return [
    READER_HEADER,
    "# It runs as the application's user: a link the application puts into /var/log-custom leads it only",
    "# where that user may read. Lines go to the logging drop-in's input, which ships them.",
    `global(workDirectory=${quoted(workDirectory ?? c.reader.stateDir, "the custom log reader's state directory")})`,
    ...(plan.maxMessageSize
      ? [
          `global(maxMessageSize=${quoted(parseSize(plan.maxMessageSize) > parseSize(READER_MAX_MESSAGE) ? READER_MAX_MESSAGE : plan.maxMessageSize, 'rsyslog_max_message_size')})`,
        ]
      : []),
    'module(load="imfile" mode="inotify")',
    'module(load="omuxsock")',
    `template(name="taupage_custom" type="string" string="<%PRI%>%TIMESTAMP% %syslogtag%%msg:::sp-if-no-1st-sp%%msg%")`,
    `input(type="imfile" File=${quoted(c.glob, 'the custom log glob')} Tag="customlog:" reopenOnTruncate="on" ruleset="taupage_custom")`,
    '$RuleSet taupage_custom',
    '$OMUxSockDefaultTemplate taupage_custom',
    `$OMUxSockSocket ${socket}`,
    '# omuxsock drops a line it cannot send (no socket while rsyslog restarts) without a word, so the',
    '# unit is PartOf=rsyslog.service: rsyslog stopping or restarting stops this reader first (imfile',
    '# keeps its place in each file) and starts it again after.',
    '*.* :omuxsock:',
    '',
  ].join('\n');
}

/** How a line looks on the wire to a destination. */
function lineFormat(d: Destination, facts: RsyslogFacts): string {
  if (d.name === 'logentries') {
    const token = facts.tokens.logentries;
    if (token === undefined || !LOGENTRIES_TOKEN.test(token))
      throw new AgentError('TPG_LOGGING_FAILED', `the Logentries token (${d.tokenKey}) is not a token: letters, digits and dashes`);
    return `${token} %HOSTNAME% ${LINE}`;
  }
  const pri = d.applicationSeverity ? '%$.taupage_pri%' : '%PRI%';
  return `<${pri}>%TIMESTAMP:::date-rfc3339% ${d.hostname ?? '%HOSTNAME%'} ${LINE}`;
}

function forwardAction(d: Destination, plan: LoggingPlan): string {
  const { queue, caFile } = plan.rsyslog;
  const p = [
    `name=${quoted(`taupage_${d.name}`, 'an action name')}`,
    'type="omfwd"',
    `target=${quoted(d.host, d.label)}`,
    `port=${quoted(d.port, d.label)}`,
    `protocol=${d.protocol === 'udp' ? '"udp"' : '"tcp"'}`,
    `template=${quoted(`taupage_${d.name}`, 'a template name')}`,
  ];
  if (d.protocol === 'tls')
    p.push(
      'StreamDriver="gtls"',
      'StreamDriverMode="1"',
      'StreamDriverAuthMode="x509/name"',
      `StreamDriverPermittedPeers=${quoted(d.host, d.label)}`,
      `StreamDriver.CAFile=${quoted(caFile, 'logging.ca_file')}`,
    );
  p.push(
    'queue.type="LinkedList"',
    `queue.filename=${quoted(`taupage_${d.name}`, 'a queue name')}`,
    `queue.maxDiskSpace=${quoted(queue.maxDiskSpace, 'logging.queue_max_disk_space')}`,
    'queue.size="100000"',
    'queue.saveOnShutdown="on"',
    'queue.timeoutEnqueue="0"',
    'action.resumeRetryCount="-1"',
    `action.resumeInterval=${quoted(queue.retryIntervalSeconds, 'logging.retry_interval_seconds')}`,
  );
  return `action(${p.join(' ')})`;
}

function checkedAws(facts: RsyslogFacts): { account: string; region: string } {
  if (!ACCOUNT.test(facts.account) || !REGION.test(facts.region))
    throw new AgentError('TPG_LOGGING_FAILED', 'the instance identity has no valid account id and region for rsyslog_aws_metadata');
  return { account: facts.account, region: facts.region };
}

/** The main configuration a drop-in is checked with before it is put in place: what Debian's
 * rsyslog.conf provides to drop-ins (imuxsock loaded, a work directory), nothing else. */
export function renderCheckConfig(checkDir: string, dropIn: string): string {
  return [
    '# taupage: checks a new drop-in on its own before it is put in place (rsyslogd -N1).',
    'module(load="imuxsock" SysSock.Use="off")',
    `global(workDirectory=${quoted(checkDir, 'the check directory')})`,
    `include(file=${quoted(dropIn, 'the drop-in under check')})`,
    '',
  ].join('\n');
}
