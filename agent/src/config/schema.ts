/*! The agent's own settings (not user data): one schema with every default, documented here and
 * checked at start. Precedence (config/load.ts): environment > agent.yaml > these defaults. */
import { t, type Infer } from '../lib/schema/types.js';

const url = () => t.string({ singleLine: true, pattern: /^https?:\/\/[^\s]+$/, patternMessage: 'must be an http:// or https:// URL' });
/** https, or plain http to a loopback address only (tests and local stand-ins). */
const secureUrl = () =>
  t.string({
    singleLine: true,
    pattern: /^(?:https:\/\/[^\s]+|http:\/\/(?:127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])(?::\d+)?(?:\/[^\s]*)?)$/,
    patternMessage: 'must be an https:// URL (plain http:// only to a loopback address such as 127.0.0.1)',
  });
/** Groups whose members are root in all but name: a grant that includes one is a root grant. */
export const ROOT_EQUIVALENT_GROUPS = ['root', 'sudo', 'wheel', 'admin', 'docker', 'lxd', 'disk', 'shadow', 'kmem'] as const;
const seconds = (d: number, max = 86_400) => t.integer({ min: 1, max }).default(d);

export const agentConfigSchema = t.object(
  {
    root: t
      .string({ pattern: /^\//, patternMessage: 'must be an absolute path' })
      .default('/')
      .describe('Directory every host path lives under (tests and the demo use a scratch directory).'),
    log_level: t.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    metadata: t
      .object(
        {
          endpoint: url().default('http://169.254.169.254').describe('Instance metadata service (env AWS_EC2_METADATA_SERVICE_ENDPOINT).'),
          timeout_ms: t.integer({ min: 50, max: 60_000 }).default(2_000).describe('Per-request timeout.'),
          deadline_seconds: seconds(60, 3_600).describe(
            'Each metadata lookup (user data, identity, the instance role credentials every AWS call uses) retries until this long has passed, or the boot deadline.',
          ),
          retry_base_ms: t.integer({ min: 1, max: 60_000 }).default(100).describe('First retry waits up to this long (full jitter, doubling up to 2 s).'),
        },
        { unknownKeys: 'error' },
      )
      .defaults(),
    aws: t
      .object(
        {
          region: t
            .string({ pattern: /^[a-z]{2}(-[a-z]+)+-\d$/, patternMessage: 'must be an AWS region such as eu-central-1' })
            .describe('Override the region from the identity document.'),
          endpoints: t
            .object({ kms: url(), cloudformation: url(), s3: url(), ec2: url() }, { unknownKeys: 'error' })
            .default({})
            .describe('Service endpoints (env AWS_ENDPOINT_URL_<SERVICE>); default: AWS.'),
          s3_force_path_style: t.boolean().default(false),
          request_timeout_ms: t.integer({ min: 100, max: 120_000 }).default(10_000),
          max_attempts: t
            .integer({ min: 1, max: 20 })
            .default(5)
            .describe('Attempts per AWS call outside a boot (`taupage credentials`); in a boot every call retries until the boot deadline.'),
          retry_base_ms: t
            .integer({ min: 1, max: 60_000 })
            .default(200)
            .describe('First retry of an AWS call (KMS, CloudFormation) waits up to this long (full jitter, doubling up to 5 s).'),
        },
        { unknownKeys: 'error' },
      )
      .defaults(),
    boot: t
      .object(
        {
          deadline_seconds: seconds(600, 7_200).describe('The whole boot must end (and signal) within this; keep it below the CloudFormation signal timeout.'),
          signal_reserve_seconds: seconds(30, 600).describe(
            'Time kept back from the deadline for the CloudFormation signal (at most a quarter of the deadline): steps still running then fail so the signal goes out in time.',
          ),
          nice_during_pull: t
            .integer({ min: 0, max: 19 })
            .default(10)
            .describe(
              "While the application image downloads, the agent's own work (the other steps, and the tools they start) runs at this nice value, so on a small instance the Docker engine's download, which the container waits for, goes first; back to the agent's priority once the pull ends. 0 leaves the priority alone.",
            ),
        },
        { unknownKeys: 'error' },
      )
      .defaults(),
    docker: t
      .object(
        {
          host: t.string({ singleLine: true }).default('unix:///var/run/docker.sock').describe('Docker engine (env DOCKER_HOST).'),
          pull_timeout_seconds: seconds(600, 7_200),
          request_timeout_ms: t.integer({ min: 100, max: 600_000 }).default(30_000),
          syslog_address: t
            .string({
              singleLine: true,
              pattern: /^(?:unix|unixgram|tcp|udp|tcp\+tls):\/\/\S+$/,
              patternMessage: 'must be a Docker syslog-address such as unixgram:///dev/log or udp://127.0.0.1:514',
            })
            .describe(
              "Where the container's syslog log driver sends lines. Default: the rsyslog input the logging step sets up (run/taupage/log/application.sock), which writes application.log and ships the lines; set it only to send them elsewhere (tests).",
            ),
        },
        { unknownKeys: 'error' },
      )
      .defaults(),
    logging: t
      .object(
        {
          rsyslogd: t
            .string({ singleLine: true })
            .default('rsyslogd')
            .describe('rsyslogd, run as `rsyslogd -N1 -f FILE` to check a configuration before it is used.'),
          logrotate: t
            .string({ singleLine: true })
            .default('logrotate')
            .describe('logrotate, run as `logrotate --debug` to check the rotation files the boot writes.'),
          restart_rsyslog: t
            .list(t.string({ singleLine: true }), { minItems: 1 })
            .default(['systemctl', 'restart', 'rsyslog.service'])
            .describe('Command that restarts rsyslog so it reads the configuration the boot wrote; it must return once rsyslog runs (tests start their own).'),
          restart_custom_log_reader: t
            .list(t.string({ singleLine: true }), { minItems: 1 })
            .default(['systemctl', 'restart', 'taupage-custom-logs.service'])
            .describe(
              "Command that restarts the custom log reader (mount_custom_log with shipping): an rsyslogd that reads /var/log-custom as the application's user, never as root, and hands the lines to rsyslog. It reads etc/taupage/custom-logs.rsyslog.conf and stops when the boot removed that file; it must return once the reader runs (tests start their own).",
            ),
          require_custom_log_mount: t
            .boolean()
            .default(false)
            .describe(
              "With mount_custom_log, fail the boot (TPG_CUSTOM_LOG_UNPROTECTED) before anything is configured unless /var/log-custom lies on a mount with nosymfollow, nodev, nosuid and noexec (the image's var-log\\x2dcustom.mount). The image sets true; a scratch root has no such mount.",
            ),
          ca_file: t
            .string({ singleLine: true, pattern: /^\/[^"'\\\s]*$/, patternMessage: 'must be an absolute path without spaces or quotes' })
            .default('/etc/ssl/certs/ca-certificates.crt')
            .describe("CA certificates rsyslog checks TLS syslog servers (rsyslog_protocol: tls, Logentries) against: the image's system store."),
          queue_max_disk_space: t
            .string({ pattern: /^[0-9]+[kmg]$/, patternMessage: 'must be a size such as 512m or 1g' })
            .default('1g')
            .describe(
              'Disk each forwarding queue (remote syslog, Logentries) may fill while its server is unreachable; lines beyond it are dropped, never blocking the application.',
            ),
          retry_interval_seconds: t
            .integer({ min: 1, max: 600 })
            .default(10)
            .describe('rsyslog retries an unreachable log server after this long (growing slowly while it stays down).'),
          probe_timeout_ms: t
            .integer({ min: 100, max: 30_000 })
            .default(3_000)
            .describe(
              'The boot checks that each log server answers (TCP, TLS handshake) within this; one that does not is a warning in the status, not a failure.',
            ),
          logentries_host: t
            .string({ singleLine: true, pattern: /^[A-Za-z0-9.-]+$/, patternMessage: 'must be a host name' })
            .default('data.logentries.com')
            .describe('Logentries token-based TLS syslog endpoint.'),
          logentries_port: t.integer({ min: 1, max: 65_535 }).default(443),
          scalyr_servers: t
            .object({ eu: url().default('https://upload.eu.scalyr.com'), us: url().default('https://upload.scalyr.com') }, { unknownKeys: 'error' })
            .defaults()
            .describe("Scalyr's upload server per scalyr_region (agent.json scalyr_server)."),
          scalyr_unit: t
            .string({ pattern: /^[A-Za-z0-9@._-]+\.service$/, patternMessage: 'must be a systemd service name' })
            .default('scalyr-agent-2.service')
            .describe("The Scalyr agent's unit: restarted after agent.json is written, when it is installed."),
        },
        { unknownKeys: 'error' },
      )
      .defaults(),
    pierone: t
      .object(
        {
          registries: t
            .list(t.string({ singleLine: true }))
            .default(['pierone.stups.zalan.do'])
            .describe(
              'Registries that are Pier One: they get instance-identity Basic auth, and only their approval (X-Production-Ready-Taupage / X-Trusted) lets an image run; an image from any other registry is refused.',
            ),
          request_timeout_ms: t.integer({ min: 100, max: 120_000 }).default(30_000),
          attempts: t
            .integer({ min: 1, max: 20 })
            .default(5)
            .describe('Attempts per trust check when no deadline bounds it; in a boot it retries until the boot deadline.'),
        },
        { unknownKeys: 'error' },
      )
      .defaults(),
    application_user: t
      .object(
        { uid: t.integer({ min: 0, max: 2 ** 31 - 1 }).default(999), gid: t.integer({ min: 0, max: 2 ** 31 - 1 }).default(999) },
        { unknownKeys: 'error' },
      )
      .defaults()
      .describe(
        'The numeric user the container runs as unless root: true; it owns /var/log-custom, which logrotate rotates as it, so the image must have an account and a group of these ids (its own: application, 999:999).',
      ),
    credentials: t
      .object(
        {
          refresh_interval_seconds: seconds(120, 86_400),
          jitter_seconds: t.integer({ min: 0, max: 3_600 }).default(15),
        },
        { unknownKeys: 'error' },
      )
      .defaults(),
    ssh: t
      .object(
        {
          even_url: secureUrl().describe(
            'Even, the access-granting service (public keys are fetched from it). https only: the key fetched grants a login (plain http only to loopback, for tests).',
          ),
          grant_lifetime_seconds: seconds(8 * 3_600, 7 * 86_400).describe('A grant expires after this long unless Even grants again.'),
          user_groups: t
            .list(t.string({ pattern: /^[a-z_][a-z0-9_-]*$/ }))
            .default(['adm'])
            .describe(
              `Supplementary groups of the accounts Even creates (those that exist). The default, adm, reads the logs in /var/log; a grant is not root. A root-equivalent group (${ROOT_EQUIVALENT_GROUPS.join(', ')}) is refused unless grants_are_root is true.`,
            ),
          grants_are_root: t
            .boolean()
            .default(false)
            .describe(
              'Set to true to give granted people root-equivalent groups (e.g. docker) in user_groups: then a grant is root, and revoking cannot undo what a root user may have set up.',
            ),
          granted_group: t
            .string({ pattern: /^[a-z_][a-z0-9_-]{0,31}$/, patternMessage: 'must be a group name' })
            .default('even-ssh')
            .describe(
              'Group of every account Even grants (created when missing). sshd reads only root-owned key files for its members (the boot writes a Match Group block), so a person cannot add keys or strip expiry-time.',
            ),
          request_deadline_ms: t
            .integer({ min: 1_000, max: 600_000 })
            .default(60_000)
            .describe(
              'A request to `taupage ssh-service` still running after this is abandoned and recorded as failed; the lock is released for the next one.',
            ),
          remote_host_known_hosts: t
            .string({ pattern: /^\//, patternMessage: 'must be an absolute path' })
            .default('/etc/taupage/ssh_known_hosts')
            .describe('Known-hosts file the --remote-host hop checks host keys against (strict); without it every hop fails.'),
          allowed_remote_networks: t
            .list(t.string({ pattern: /^[0-9.]+\/\d+$/ }))
            .default([])
            .describe('CIDRs --remote-host may hop to; empty: never hop.'),
          revoke_grace_seconds: t.integer({ min: 0, max: 60 }).default(2),
          request_timeout_ms: t.integer({ min: 100, max: 60_000 }).default(10_000),
          attempts: t
            .integer({ min: 1, max: 10 })
            .default(3)
            .describe('Attempts per Even request when no deadline bounds it (full-jitter backoff between them); a grant retries until its request deadline.'),
          instance_users: t
            .list(t.string({ pattern: /^[a-z_][a-z0-9_-]*$/ }))
            .default(['admin', 'ubuntu'])
            .describe(
              "The base image's default users: their authorized_keys (the EC2 key pair) is removed at boot unless the user data says keep_instance_users.",
            ),
          remote_host_port: t.integer({ min: 1, max: 65_535 }).default(22).describe('sshd port of the hosts --remote-host hops to.'),
          audit_syslog_socket: t
            .string({ pattern: /^\//, patternMessage: 'must be an absolute path to a Unix datagram socket' })
            .default('/dev/log')
            .describe('Syslog socket the SSH audit records are sent to (facility authpriv, tag taupage-ssh).'),
          hook_socket: t
            .string({
              singleLine: true,
              pattern: /^\/[^\s]{0,100}$/,
              patternMessage: 'must be an absolute path of at most 100 characters (a Unix socket path)',
            })
            .describe(
              'Unix socket `taupage ssh-service` listens on and `taupage ssh-hook` connects to (default: run/taupage/ssh-hook.sock under root). Changing it needs a service restart and `ssh-hook --socket` in the forced command.',
            ),
          hook_socket_group: t
            .string({ pattern: /^[a-z_][a-z0-9_-]{0,31}$/, patternMessage: 'must be a group name' })
            .default('granting-service')
            .describe(
              'Group of the hook socket (mode 0660, owner root) when the service creates it itself; under systemd the socket unit sets it (SocketGroup=).',
            ),
          hook_request_timeout_ms: t
            .integer({ min: 50, max: 60_000 })
            .default(5_000)
            .describe('A client must send its whole request within this long, or it is refused (and audited).'),
        },
        { unknownKeys: 'error' },
      )
      .defaults(),
    shutdown: t
      .object(
        { command: t.list(t.string(), { minItems: 1 }).default(['shutdown', '-h', '+1']).describe('Command that powers the instance off (tests replace it).') },
        { unknownKeys: 'error' },
      )
      .defaults(),
  },
  { unknownKeys: 'error' },
);

export type AgentConfig = Infer<typeof agentConfigSchema>;

/** Rules across settings, after the schema: each problem as "key.path: message". */
export function configProblems(config: AgentConfig): string[] {
  const rootGroups = config.ssh.user_groups.filter((g) => (ROOT_EQUIVALENT_GROUPS as readonly string[]).includes(g));
  if (rootGroups.length && !config.ssh.grants_are_root) {
    return [
      `ssh.user_groups: ${rootGroups.join(', ')} ${rootGroups.length > 1 ? 'are' : 'is'} root-equivalent: every grant would be root. Remove ${rootGroups.length > 1 ? 'them' : 'it'}, or set ssh.grants_are_root: true to say that grants are root`,
    ];
  }
  return [];
}
