// The logging step's pure parts: the routes planned from user data, the files rendered from them
// (nothing from the user data can end a quoted value), and Scalyr's agent.json against the
// agent's documented format (scalyr-agent-2 configuration.py: the fields it reads and their types).
import { describe, expect, it } from 'vitest';
import { planLogging, type LoggingPlan } from '../../agent/src/steps/logging/plan.js';
import { renderCustomLogReader, renderRsyslog } from '../../agent/src/steps/logging/rsyslog.js';
import { renderLogrotate } from '../../agent/src/steps/logging/logrotate.js';
import { scalyrConfig, REDACTION_RULES } from '../../agent/src/steps/logging/scalyr.js';
import { defaultConfig } from '../../agent/src/config/load.js';
import { paths } from '../../agent/src/config/paths.js';
import { validateUserData, formatKeyPath } from '../../agent/src/user-data/validate.js';
import { settingsFrom } from '../harness/boot-context.js';
import { userData } from '../harness/user-data.js';
import { toDisplay } from '../../agent/src/cli/plan.js';

const P = paths('/');
const plan = (fields: Record<string, unknown>, config = defaultConfig().config): LoggingPlan =>
  planLogging({ settings: settingsFrom(userData({ source: 'pierone.stups.zalan.do/team/my-app:1.0', ...fields })), config, paths: P });
const FACTS = { tokens: { logentries: '2bfbea1e-10c3-4419-bdad-7e6435882e1f' }, account: '123456789012', region: 'eu-central-1' };

describe('routes', () => {
  it('without logging keys: application.log from its own socket, message only, rotated by size; nothing shipped', () => {
    const p = plan({});
    expect(p.applicationLog).toEqual({
      file: '/var/log/application.log',
      socket: '/run/taupage/log/application.sock',
      tag: 'my-app',
      format: { kind: 'message' },
      containerUsesIt: true,
    });
    expect(p.destinations).toEqual([]);
    expect(p.scalyr).toBeUndefined();
    expect(p.rotation.application).toEqual({
      path: '/var/log/application.log',
      maxSize: '256M',
      interval: 'weekly',
      rotate: 4,
      copytruncate: true,
      compress: true,
      delaycompress: true,
    });
    const conf = renderRsyslog(p, FACTS);
    expect(conf).toContain('input(type="imptcp" path="/run/taupage/log/application.sock" unlink="on" fileCreateMode="0600" ruleset="taupage_application")');
    expect(conf).toContain('action(name="taupage_application_log" type="omfile" file="/var/log/application.log" template="taupage_application"');
    expect(conf).not.toContain('omfwd');
  });

  it('rsyslog_protocol tls defaults to port 6514 and checks the server against the CA store', () => {
    const p = plan({ logging: { rsyslog_host: 'logs.example.org', rsyslog_protocol: 'tls' } });
    expect(p.destinations).toEqual([
      { name: 'remote_syslog', label: 'remote syslog logs.example.org:6514 (tls)', host: 'logs.example.org', port: 6514, protocol: 'tls' },
    ]);
    const conf = renderRsyslog(p, FACTS);
    expect(conf).toMatch(
      /action\(name="taupage_remote_syslog" type="omfwd" target="logs\.example\.org" port="6514" protocol="tcp" template="taupage_remote_syslog" StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509\/name" StreamDriverPermittedPeers="logs\.example\.org" StreamDriver\.CAFile="\/etc\/ssl\/certs\/ca-certificates\.crt" queue\.type="LinkedList" queue\.filename="taupage_remote_syslog" queue\.maxDiskSpace="1g"/,
    );
    // System lines (the SSH audit's and the agent's among them) are shipped from the default ruleset.
    expect(conf.trimEnd().endsWith('call taupage_ship')).toBe(true);
  });

  it("the original's logentries_account_key still ships to Logentries; log_destination none ships nothing", () => {
    expect(plan({ logentries_account_key: '2bfbea1e-10c3-4419-bdad-7e6435882e1f' }).destinations.map((d) => [d.name, d.tokenKey])).toEqual([
      ['logentries', 'logentries_account_key'],
    ]);
    const none = plan({ logging: { log_destination: 'none', rsyslog_host: 'logs.example.org', logentries_token: 'abc-1', scalyr_account_key: 'k' } });
    expect(none.destinations).toEqual([]);
    expect(none.scalyr).toBeUndefined();
  });

  it('the plan shown by `taupage plan` has no token or key in it', () => {
    const p = plan({ logging: { logentries_token: 'abcdef-1234', scalyr_account_key: 'scalyr-secret-key' } });
    const shown = JSON.stringify(toDisplay(p));
    expect(shown).not.toMatch(/abcdef-1234|scalyr-secret-key/);
    expect(shown).toContain('[redacted]');
  });

  it("docker.syslog_address elsewhere: the plan says application.log will not get the container's lines", () => {
    const config = defaultConfig().config;
    config.docker.syslog_address = 'udp://127.0.0.1:5514';
    const p = plan({}, config);
    expect(p.applicationLog.containerUsesIt).toBe(false);
    expect(p.notes?.[0]?.message).toMatch(/application\.log and the shipping destinations do not get them/);
  });

  it('rsyslog_severity gives the application lines that severity (facility kept); rsyslog_hostname replaces the host', () => {
    const conf = renderRsyslog(plan({ logging: { rsyslog_host: 'h.example.org', rsyslog_severity: 'warning', rsyslog_hostname: 'web-1' } }), FACTS);
    expect(conf).toContain('set $.taupage_pri = $syslogfacility * 8 + 4;');
    expect(conf).toContain('if $.taupage_pri == "" then set $.taupage_pri = $pri;');
    expect(conf).toContain('string="<%$.taupage_pri%>%TIMESTAMP:::date-rfc3339% web-1 %syslogtag');
  });

  it("mount_custom_log with shipping: root's rsyslog takes the reader's lines from its socket and reads no file; the reader reads them", () => {
    const p = plan({ mount_custom_log: true, rsyslog_max_message_size: '64k', logging: { rsyslog_host: 'logs.example.org' } });
    expect(p.customLogs).toEqual({
      dir: '/var/log-custom',
      glob: '/var/log-custom/*.log',
      shipped: true,
      requireMount: false,
      reader: {
        config: '/etc/taupage/custom-logs.rsyslog.conf',
        stateDir: '/var/lib/taupage-custom-logs',
        socketDir: '/run/taupage/custom-logs',
        socket: '/run/taupage/custom-logs/custom.sock',
        gid: 999,
        restartCommand: ['systemctl', 'restart', 'taupage-custom-logs.service'],
      },
    });
    const conf = renderRsyslog(p, FACTS);
    expect(conf).toContain('input(type="imuxsock" Socket="/run/taupage/custom-logs/custom.sock" Ruleset="taupage_custom" RateLimit.Interval="0")');
    expect(conf).not.toMatch(/imfile|\/var\/log-custom\/\*/);
    const reader = renderCustomLogReader(p);
    expect(reader).toContain('global(workDirectory="/var/lib/taupage-custom-logs")');
    expect(reader).toContain('global(maxMessageSize="64k")');
    // One datagram per line to rsyslog: a larger limit is cut to what the socket takes.
    expect(renderCustomLogReader({ ...p, maxMessageSize: '16M' })).toContain('global(maxMessageSize="128k")');
    // root: true: the reader (never root) cannot read a file only root may read; the team is told.
    const asRoot = plan({ mount_custom_log: true, root: true, logging: { rsyslog_host: 'logs.example.org' } });
    expect(asRoot.notes?.map((n) => n.message)).toContainEqual(expect.stringMatching(/^root: true with mount_custom_log: .* not shipped; create them 0644$/));
    expect(plan({ mount_custom_log: true, logging: { rsyslog_host: 'logs.example.org' } }).notes?.map((n) => n.message) ?? []).not.toContainEqual(
      expect.stringMatching(/^root: true/),
    );
    expect(reader).toContain('input(type="imfile" File="/var/log-custom/*.log" Tag="customlog:" reopenOnTruncate="on" ruleset="taupage_custom")');
    expect(reader).toContain('\n$OMUxSockSocket /run/taupage/custom-logs/custom.sock\n');
    expect(renderCustomLogReader(p, '/run/taupage/rsyslog-check')).toContain('global(workDirectory="/run/taupage/rsyslog-check")');
    // Without a destination nothing is read or received; the image's agent config asks for the mount check.
    const config = defaultConfig().config;
    config.logging.require_custom_log_mount = true;
    const quiet = plan({ mount_custom_log: true }, config);
    expect(quiet.customLogs).toMatchObject({ shipped: false, requireMount: true });
    expect(renderRsyslog(quiet, FACTS)).not.toContain('custom');
  });

  it("a custom format gets its newline; legacy is rsyslog's traditional file format", () => {
    expect(plan({ rsyslog_application_log_format: '%msg%' }).applicationLog.format).toEqual({ kind: 'template', template: '%msg%\\n' });
    expect(plan({ rsyslog_application_log_format: '%msg%\\n' }).applicationLog.format).toEqual({ kind: 'template', template: '%msg%\\n' });
    expect(renderRsyslog(plan({ rsyslog_application_log_format: 'legacy' }), FACTS)).toContain(
      'template(name="taupage_application" type="string" string="%TIMESTAMP:::date-rfc3339% %HOSTNAME% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\\n")',
    );
  });
});

describe('values that end up in rendered files', () => {
  const bad = (fields: Record<string, unknown>) => {
    const r = validateUserData(userData({ source: 'pierone.stups.zalan.do/team/my-app:1.0', ...fields }));
    return r.errors.map((e) => `${formatKeyPath(e.path)} ${e.code}`);
  };
  it.each([
    ['rsyslog_application_log_format', { rsyslog_application_log_format: '%msg%"\naction(type="omfile")' }],
    ['rsyslog_application_log_format', { rsyslog_application_log_format: '%msg%" x="' }],
    ['rsyslog_application_log_format', { rsyslog_application_log_format: '%msg%\\" x' }],
    ['logging.rsyslog_host', { logging: { rsyslog_host: 'a.example.org"' } }],
    ['logging.rsyslog_host', { logging: { rsyslog_host: 'a.example.org\nb' } }],
    ['logging.rsyslog_hostname', { logging: { rsyslog_hostname: "web'1" } }],
    ['logging.rsyslog_program', { logging: { rsyslog_program: 'a"b' } }],
    ['logging.scalyr_application_log_parser', { logging: { scalyr_application_log_parser: 'json\n' } }],
    ['scalyr_custom_log_parser', { scalyr_custom_log_parser: 'a\\b' }],
    ['logging.logentries_token', { logging: { logentries_token: 'abc" def' } }],
    ['logentries_account_key', { logentries_account_key: 'abc\ndef' }],
    ['application_logrotate_size', { application_logrotate_size: '10M\nrotate 0' }],
  ])('%s with a quote, backslash or line break is refused at validation, by its key path', (key, fields) => {
    expect(bad(fields)).toEqual([expect.stringMatching(new RegExp(`^${key.replace(/\./g, '\\.')} TPG_UD_`))]);
  });

  it('a token that is not one cannot reach rsyslog even past validation (a KMS plaintext)', () => {
    const p = plan({ logging: { logentries_token: 'aws:kms:QUJDRA==' } });
    expect(() => renderRsyslog(p, { ...FACTS, tokens: { logentries: 'x" y="' } })).toThrow(/is not a token/);
  });

  it('rsyslog_aws_metadata with an identity that is not an account and region is refused, not rendered', () => {
    expect(() => renderRsyslog(plan({ rsyslog_aws_metadata: true }), { ...FACTS, account: '12"' })).toThrow(/rsyslog_aws_metadata/);
  });
});

describe('logrotate', () => {
  it('maxsize (rotated as soon as larger) with the interval; sizes in the units logrotate knows', () => {
    const [app, custom] = renderLogrotate(
      plan({ mount_custom_log: true, application_logrotate_size: '512m', application_logrotate_rotate: 0, application_logrotate_disable_copytruncate: true }),
    );
    expect(app!.path).toBe('/etc/logrotate.d/taupage-application');
    expect(app!.content).toContain(
      '/var/log/application.log {\n  weekly\n  maxsize 512M\n  rotate 0\n  missingok\n  notifempty\n  compress\n  delaycompress\n  sharedscripts\n  postrotate\n    /usr/lib/rsyslog/rsyslog-rotate\n  endscript\n}\n',
    );
    // Rotated as the application's user (the owner of /var/log-custom), application.log as root.
    expect(custom!.content).toContain('/var/log-custom/*.log {\n  su 999 999\n  daily\n  maxsize 256M\n  rotate 5\n');
    expect(renderLogrotate(plan({ mount_custom_log: true, root: true }))[1]!.content).toContain('/var/log-custom/*.log {\n  su 0 0\n');
    expect(app!.content).not.toMatch(/^\s*su /m);
    expect(custom!.content).toContain('  copytruncate\n');
  });
});

/** scalyr-agent-2's configuration reader, as documented by its code: top-level fields it checks
 * and their types, and per log entry the fields it reads. */
const SCALYR_TOP: Record<string, 'string' | 'boolean' | 'number' | 'object' | 'array'> = {
  api_key: 'string',
  scalyr_server: 'string',
  server_attributes: 'object',
  implicit_metric_monitor: 'boolean',
  implicit_agent_process_metrics_monitor: 'boolean',
  max_line_size: 'number',
  read_page_size: 'number',
  max_log_offset_size: 'number',
  logs: 'array',
  monitors: 'array',
};
const SCALYR_LOG = new Set(['path', 'copy_from_start', 'attributes', 'redaction_rules', 'sampling_rules']);

describe("Scalyr's agent.json", () => {
  const p = plan({
    mount_custom_log: true,
    rsyslog_aws_metadata: true,
    notify_cfn: { stack: 'my-app-12', resource: 'AppServerGroup' },
    application_version: '1.10',
    logging: {
      scalyr_account_key: 'key-123',
      scalyr_region: 'us',
      scalyr_application_log_parser: 'json',
      use_scalyr_agent_authlog: false,
      scalyr_agent_applog_sampling: '[{ match_expression: "INFO", sampling_rate: 0.1 }, { match_expression: "FINE", sampling_rate: 0 }]',
    },
  });
  const json = scalyrConfig(p.scalyr!, { apiKey: 'key-123', region: 'us-east-1', account: '123456789012', instanceId: 'i-0abc', hostname: 'ip-10-0-0-1' });
  const doc = JSON.parse(JSON.stringify(json)) as Record<string, unknown>;

  it('has the documented top-level fields with their types, and nothing else', () => {
    expect(Object.keys(doc).sort()).toEqual(Object.keys(SCALYR_TOP).sort());
    for (const [k, type] of Object.entries(SCALYR_TOP)) expect(Array.isArray(doc[k]) ? 'array' : typeof doc[k], k).toBe(type);
    expect(doc.read_page_size as number).toBeGreaterThan(doc.max_line_size as number); // the agent requires it
    expect(doc.implicit_metric_monitor).toBe(false);
    expect(doc.implicit_agent_process_metrics_monitor).toBe(false);
    expect(doc.scalyr_server).toBe('https://upload.scalyr.com');
    expect(doc.api_key).toBe('key-123');
  });

  it('server attributes: strings only (the agent refuses others), application, stack, image, region, account, instance', () => {
    expect(doc.server_attributes).toEqual({
      application_id: 'my-app',
      serverHost: 'my-app',
      application_version: '1.10',
      source: 'pierone.stups.zalan.do/team/my-app:1.0',
      image: 'pierone.stups.zalan.do/team/my-app',
      stack: 'my-app-12',
      aws_region: 'us-east-1',
      aws_account: '123456789012',
      aws_ec2_instance_id: 'i-0abc',
      aws_ec2_hostname: 'ip-10-0-0-1',
    });
    for (const v of Object.values(doc.server_attributes as object)) expect(typeof v).toBe('string');
  });

  it('logs: path, copy_from_start, attributes.parser; redaction for the application files; sampling rules as given', () => {
    const logs = doc.logs as Array<Record<string, unknown>>;
    expect(logs.map((l) => [l.path, (l.attributes as { parser: string }).parser])).toEqual([
      ['/var/log/application.log', 'json'],
      ['/var/log-custom/*.log', 'slf4j'],
      ['/var/log/syslog', 'systemLogMetadata'],
    ]);
    for (const l of logs) {
      for (const k of Object.keys(l)) expect(SCALYR_LOG.has(k), k).toBe(true);
      expect(typeof l.path === 'string' && (l.path as string).startsWith('/')).toBe(true);
      expect(l.copy_from_start).toBe(true);
      for (const r of (l.redaction_rules as Array<{ match_expression: string; replacement: string }> | undefined) ?? []) {
        expect(typeof r.match_expression).toBe('string');
        expect(typeof r.replacement).toBe('string');
        expect(() => new RegExp(r.match_expression)).not.toThrow();
      }
      for (const r of (l.sampling_rules as Array<{ match_expression: string; sampling_rate: number }> | undefined) ?? []) {
        expect(r.sampling_rate).toBeGreaterThanOrEqual(0);
        expect(r.sampling_rate).toBeLessThanOrEqual(1);
      }
    }
    expect(logs[0]!.redaction_rules).toEqual(REDACTION_RULES);
    expect(logs[0]!.sampling_rules).toEqual([
      { match_expression: 'INFO', sampling_rate: 0.1 },
      { match_expression: 'FINE', sampling_rate: 0 },
    ]);
    expect(logs[2]!.redaction_rules).toBeUndefined();
  });

  it('the redaction rules catch bearer tokens and JWTs', () => {
    const line = 'GET /x Authorization: Bearer abc.DEF-123_x token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-nature';
    let out = line;
    for (const r of REDACTION_RULES) out = out.replace(new RegExp(r.match_expression, 'g'), r.replacement.replace('\\1', '$1'));
    expect(out).toBe('GET /x Authorization: Bearer +++REDACTED+++ token +++JWT_REDACTED+++');
  });
});
