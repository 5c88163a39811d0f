// The user-data contract's rules, one behaviour each, as a team sees them.
import { describe, it, expect } from 'vitest';
import { validateUserData } from '../../agent/src/user-data/validate.js';
import { isKmsEncrypted } from '../../agent/src/values/kms.js';
import { Secret } from '../../agent/src/lib/secret.js';

const BASE = '#taupage-ami-config\napplication_id: my-app\napplication_version: "1.0"\nruntime: Docker\nsource: pierone.stups.zalan.do/team/my-app:1.0\n';
const check = (extra: string, opts = {}) => validateUserData(BASE + extra, opts);
const codes = (extra: string) => check(extra).errors.map((e) => `${e.code} ${e.path.join('.')}`);

describe('YAML 1.1 as PyYAML read it', () => {
  it('reads yes/no/on/off as booleans, but y/n as strings', () => {
    const r = check('root: yes\nread_only: off\nenvironment:\n  Y: y\n  ON: on\n');
    expect(r.valid).toBe(true);
    expect(r.settings!.root).toBe(true);
    expect(r.settings!.read_only).toBe(false);
    expect(r.settings!.environment.Y).toBe('y');
  });
  it('gives environment values exactly as written (1.10 stays 1.10, on stays on)', () => {
    const r = check('environment:\n  V: 1.10\n  B: on\n  O: 0755\n  Q: "quoted"\n');
    expect(r.settings!.environment).toEqual({ V: '1.10', B: 'on', O: '0755', Q: 'quoted' });
  });
  it('keeps application_version as typed', () => {
    const r = validateUserData(BASE.replace('"1.0"', '1.10'));
    expect(r.settings!.application_version).toBe('1.10');
  });
  it('reads integer port keys', () => {
    const r = check('ports:\n  80: 8080\n  "53/udp": 53\n  9000: 9000/udp\n');
    expect(r.settings!.ports).toEqual([
      { hostPort: 53, containerPort: 53, protocol: 'udp' },
      { hostPort: 80, containerPort: 8080, protocol: 'tcp' },
      { hostPort: 9000, containerPort: 9000, protocol: 'udp' },
    ]);
  });
  it('keeps the last of duplicate keys, as PyYAML did, and warns at the duplicate naming the other line', () => {
    const r = check('environment:\n  A: 1\n  A: 2\n');
    expect(r.valid).toBe(true);
    expect(r.settings!.environment.A).toBe('2');
    expect(r.warnings).toMatchObject([{ code: 'TPG_UD_DUPLICATE_KEY', path: ['environment', 'A'], line: 8, column: 3 }]);
    expect(r.warnings[0]!.message).toMatch(/also set on line 7: the last value is used/);
  });
  it('names every earlier line of a key given three times, and counts 80 and "80" as one key', () => {
    const r = check('ports:\n  80: 8080\n  "80": 9090\n  80: 7070\n');
    expect(r.settings!.ports).toEqual([{ hostPort: 80, containerPort: 7070, protocol: 'tcp' }]);
    expect(r.warnings.map((w) => [w.line, w.message.match(/also set on line ([\d, ]+):/)![1]])).toEqual([
      [8, '7'],
      [9, '7, 8'],
    ]);
  });
  it('reports every problem of a document with duplicate keys, and the value checked is the one used', () => {
    const r = check('root: "yes"\nroot: maybe\nports:\n  80: 70000\n');
    expect(r.errors.map((e) => `${e.line} ${e.code} ${e.path.join('.')}`)).toEqual(['7 TPG_UD_TYPE root', '9 TPG_UD_PORT ports.80']);
    expect(r.warnings.map((w) => `${w.line} ${w.code}`)).toEqual(['7 TPG_UD_DUPLICATE_KEY']);
  });
  it('--strict makes a duplicate key an error', () => {
    const r = check('environment:\n  A: 1\n  A: 2\n', { strict: true });
    expect(r.valid).toBe(false);
    expect(r.errors.map((e) => e.code)).toEqual(['TPG_UD_DUPLICATE_KEY']);
  });
  it('rejects a billion-laughs document without expanding it', () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 12; i++) {
      const p = String.fromCharCode(96 + i);
      const c = String.fromCharCode(97 + i);
      levels.push(`${c}: &${c} [${Array(9).fill(`*${p}`).join(',')}]`);
    }
    const r = check(`${levels.join('\n')}\n`);
    expect(r.valid).toBe(false);
    expect(r.errors[0]!.code).toBe('TPG_UD_ALIAS_LIMIT');
  });
  it('rejects user data over 16 KiB, the EC2 limit', () => {
    const big = `environment:\n${Array.from({ length: 300 }, (_, i) => `  V${i}: ${'x'.repeat(60)}`).join('\n')}`;
    expect(codes(big)).toEqual(['TPG_UD_TOO_LARGE ']);
    expect(check(`environment:\n  V: ${'x'.repeat(15_000)}\n`).valid).toBe(true);
  });
  it('needs a mapping at the top level and a non-empty document', () => {
    expect(validateUserData('#taupage-ami-config\n').errors[0]!.code).toBe('TPG_UD_EMPTY');
    expect(validateUserData('#taupage-ami-config\n- a\n').errors[0]!.code).toBe('TPG_UD_NOT_MAPPING');
  });
  it('needs the #taupage-ami-config header unless told it is a fragment', () => {
    const body = BASE.replace('#taupage-ami-config\n', '');
    expect(validateUserData(body).errors.map((e) => e.code)).toEqual(['TPG_UD_HEADER']);
    expect(validateUserData(body, { requireHeader: false }).valid).toBe(true);
  });
});

describe('required keys and image references', () => {
  it('names each missing required key', () => {
    const r = validateUserData('#taupage-ami-config\nsource: pierone.stups.zalan.do/team/app:1\n');
    expect(r.errors.map((e) => e.path[0])).toEqual(['application_id', 'application_version', 'runtime']);
  });
  it('refuses whole user data without application_version, saying what the original did and where Senza fits', () => {
    const r = validateUserData(BASE.replace('application_version: "1.0"\n', ''));
    expect(r.errors).toMatchObject([{ code: 'TPG_UD_REQUIRED', path: ['application_version'] }]);
    expect(r.errors[0]!.message).toMatch(/APPLICATION_VERSION=None/);
    expect(r.errors[0]!.message).toMatch(/--senza/);
  });
  it.each([
    ['My_App', false],
    ['my-app', true],
    ['app-', false],
    ['9app', false],
    ['a1', true],
  ])('application_id %s valid=%s', (id, ok) => {
    expect(validateUserData(BASE.replace('my-app\n', `${id}\n`)).valid).toBe(ok);
  });
  it('only knows the Docker runtime', () => {
    expect(codes('').length).toBe(0);
    expect(validateUserData(BASE.replace('Docker', 'Rkt')).errors[0]!.code).toBe('TPG_UD_ENUM');
  });
  it.each([
    ['team/app:1.0', /no registry/],
    ['pierone.stups.zalan.do/team/app', /no tag/],
    ['pierone.stups.zalan.do/team/app:latest', /latest is not allowed/],
    ['pierone.stups.zalan.do/team/app:1.0-SNAPSHOT', /SNAPSHOT/],
    ['pierone.stups.zalan.do/app:1.0', /organization and a name/],
    ['pierone.stups.zalan.do/team/app:1.0@sha256:1234', /64 lowercase hex/],
  ])('refuses source %s with the reason', (source, reason) => {
    const r = validateUserData(BASE.replace('pierone.stups.zalan.do/team/my-app:1.0', source));
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatchObject({ code: 'TPG_UD_IMAGE_REF', path: ['source'], line: 5, column: 9 });
    expect(r.errors[0]!.message).toMatch(reason);
  });
  it('accepts a registry with a port and a pinned digest', () => {
    const digest = `sha256:${'ab'.repeat(32)}`;
    const r = validateUserData(BASE.replace('pierone.stups.zalan.do/team/my-app:1.0', `127.0.0.1:5000/team/sub/app:1.0@${digest}`));
    expect(r.settings!.source).toEqual({ registry: '127.0.0.1:5000', repository: 'team/sub/app', tag: '1.0', digest });
  });
});

describe('types are checked strictly', () => {
  it('refuses a quoted boolean (erase_on_boot once wiped data)', () => {
    const r = check('mounts:\n  /data:\n    partition: /dev/xvdf\n    erase_on_boot: "false"\n');
    expect(r.errors).toMatchObject([{ code: 'TPG_UD_TYPE', path: ['mounts', '/data', 'erase_on_boot'], line: 9, column: 20 }]);
    expect(r.errors[0]!.message).toMatch(/without quotes/);
  });
  it('checks enumerations and suggests the closest', () => {
    const r = check('shutdown: on-succes\n');
    expect(r.errors[0]!.message).toMatch(/did you mean on-success/);
  });
  it('wants positive integers for counts and timeouts', () => {
    expect(codes('health_check_timeout_seconds: 0\n')).toEqual(['TPG_UD_RANGE health_check_timeout_seconds']);
    expect(codes('health_check_timeout_seconds: "60"\n')).toEqual(['TPG_UD_TYPE health_check_timeout_seconds']);
    expect(codes('application_logrotate_rotate: -1\n')).toEqual(['TPG_UD_RANGE application_logrotate_rotate']);
  });
  it('checks port numbers and protocols on both sides', () => {
    expect(codes('ports:\n  80: 0\n')).toEqual(['TPG_UD_PORT ports.80']);
    expect(codes('ports:\n  65536: 80\n')).toEqual(['TPG_UD_PORT ports.65536']);
    expect(codes('ports:\n  "53/udp": 53/tcp\n')).toEqual(['TPG_UD_PORT ports.53/udp']);
    expect(codes('ssh_ports: [22, 70000]\n')).toEqual(['TPG_UD_PORT ssh_ports.1']);
  });
  it('maps ssh_gateway_ports yes/no (booleans in YAML 1.1) to the words sshd wants', () => {
    expect(check('ssh_gateway_ports: no\n').settings!.ssh_gateway_ports).toBe('no');
    expect(check('ssh_gateway_ports: clientspecified\n').settings!.ssh_gateway_ports).toBe('clientspecified');
  });
});

describe('mounts', () => {
  it('refuses a mount inside a mount without a partition (a directory the application owns), saying why and what to do', () => {
    const r = check('mounts:\n  /data: {}\n  /data/cache:\n    partition: /dev/xvdf\n');
    expect(r.valid).toBe(false);
    expect(r.errors).toMatchObject([{ code: 'TPG_UD_MOUNT_IN_DIRECTORY', path: ['mounts', '/data/cache'], line: 8, column: 3 }]);
    expect(r.errors[0]!.message).toBe(
      '/data is a directory the application owns (it has no partition); a mount inside it would be made on a path the application can change: give /data a partition or move /data/cache out of it',
    );
    expect(codes('mounts:\n  /data: {}\n  /data/cache:\n    filesystem: tmpfs\n')).toEqual(['TPG_UD_MOUNT_IN_DIRECTORY mounts./data/cache']);
  });
  it('keeps mounts inside volumes and tmpfs, and paths that only share a prefix', () => {
    expect(codes('mounts:\n  /data:\n    partition: /dev/xvdf\n  /data/cache: {}\n  /tmp:\n    filesystem: tmpfs\n  /tmp/x:\n    filesystem: tmpfs\n')).toEqual(
      [],
    );
    expect(codes('mounts:\n  /data: {}\n  /database:\n    partition: /dev/xvdf\n')).toEqual([]);
  });
  it("refuses a mount at the container path a mount_* or docker_daemon_access key binds (Docker would refuse the container at boot), at the mount's key", () => {
    const r = check('mount_custom_log: true\nmounts:\n  /var/log:\n    partition: /dev/xvdf\n');
    expect(r.valid).toBe(false);
    expect(r.errors).toMatchObject([{ code: 'TPG_UD_DUPLICATE', path: ['mounts', '/var/log'], line: 8, column: 3 }]);
    expect(r.errors[0]!.message).toBe(
      '/var/log is where mount_custom_log: true mounts in the container already; Docker would refuse the container at boot. Give this mount another path, or drop mount_custom_log',
    );
    expect(codes('mount_var_log: true\nmounts:\n  /var/log-host:\n    filesystem: tmpfs\n')).toEqual(['TPG_UD_DUPLICATE mounts./var/log-host']);
    expect(codes('docker_daemon_access: true\nmounts:\n  /var/run/docker.sock: {}\n')).toEqual(['TPG_UD_DUPLICATE mounts./var/run/docker.sock']);
    // Without the key, or beside it at another path (Docker nests binds), the mount is the team's.
    expect(codes('mounts:\n  /var/log:\n    partition: /dev/xvdf\n')).toEqual([]);
    expect(codes('mount_custom_log: true\nmounts:\n  /var/log/app:\n    filesystem: tmpfs\n  /var:\n    filesystem: tmpfs\n')).toEqual([]);
  });
});

describe('environment', () => {
  it('refuses names with = or NUL, empty names and non-scalar values', () => {
    expect(codes('environment:\n  "A=B": 1\n')).toEqual(['TPG_UD_ENV_NAME environment.A=B']);
    expect(codes('environment:\n  "": 1\n')).toEqual(['TPG_UD_LENGTH environment.']);
    expect(codes('environment:\n  "A\\0B": 1\n')).toEqual(['TPG_UD_ENV_NAME environment.A\u0000B']);
    expect(codes('environment:\n  A: [1]\n')).toEqual(['TPG_UD_TYPE environment.A']);
  });
  it('turns aws:kms: values into encrypted values and secret-named ones into Secrets', () => {
    const r = check('environment:\n  DB: aws:kms:AQICAHhzZWNyZXQ=\n  MY_PASSWORD: hunter2\n  PLAIN: hello\n');
    const env = r.settings!.environment;
    expect(isKmsEncrypted(env.DB)).toBe(true);
    expect(env.MY_PASSWORD).toBeInstanceOf(Secret);
    expect(String(env.MY_PASSWORD)).toBe('[redacted]');
    expect(env.PLAIN).toBe('hello');
  });
  it('refuses aws:kms: values that are not base64, without echoing them', () => {
    const r = check('environment:\n  DB: aws:kms:not*base64!\n');
    expect(r.errors).toMatchObject([{ code: 'TPG_UD_KMS_BASE64', path: ['environment', 'DB'] }]);
    expect(JSON.stringify(r)).not.toContain('not*base64');
  });
});

describe('unknown and unsupported keys', () => {
  it('warns about unknown keys with a did-you-mean', () => {
    const r = check('helth_check_path: /health\n');
    expect(r.valid).toBe(true);
    expect(r.warnings).toMatchObject([{ code: 'TPG_UD_UNKNOWN_KEY', path: ['helth_check_path'], line: 6, column: 1 }]);
    expect(r.warnings[0]!.message).toMatch(/did you mean health_check_path\?/);
  });
  it('accepts keys of the original this image does not implement, with a warning naming them', () => {
    const r = check(
      'appdynamics_application: x\nnewrelic_account_key: y\nxray_enabled: true\nopa_enabled: true\netcd_discovery_domain: d\nlocal_planb_tokeninfo: true\n',
    );
    expect(r.valid).toBe(true);
    expect(r.warnings.map((w) => w.code)).toEqual(Array(6).fill('TPG_UD_UNSUPPORTED_KEY'));
    expect(r.warnings[0]!.message).toMatch(/AppDynamics/);
  });
  it('reports hystrix as unsupported (the original published it to etcd for Turbine), never as unknown', () => {
    const r = check('hystrix: ":7979/hystrix.stream"\n');
    expect(r.valid).toBe(true);
    expect(r.warnings).toMatchObject([{ code: 'TPG_UD_UNSUPPORTED_KEY', path: ['hystrix'] }]);
    expect(r.warnings[0]!.message).toMatch(/etcd/);
  });
  it('with etcd_discovery_domain, reports a key it does not know as unsupported (published to etcd), still with a did-you-mean', () => {
    const r = check('etcd_discovery_domain: etcd.example.org\nturbine_cluster: main\nmint_buckt: x\n');
    expect(r.warnings.map((w) => `${w.code} ${w.path.join('.')}`)).toEqual([
      'TPG_UD_UNSUPPORTED_KEY etcd_discovery_domain',
      'TPG_UD_UNSUPPORTED_KEY turbine_cluster',
      'TPG_UD_UNSUPPORTED_KEY mint_buckt',
    ]);
    expect(r.warnings[1]!.message).toMatch(/published it to etcd/);
    expect(r.warnings[2]!.message).toMatch(/did you mean mint_bucket\?$/);
    // Without it (or with it empty: not set), an unknown key is unknown; nested unknown keys are always unknown.
    expect(check('turbine_cluster: main\n').warnings[0]!.code).toBe('TPG_UD_UNKNOWN_KEY');
    expect(check('etcd_discovery_domain:\nturbine_cluster: main\n').warnings[0]!.code).toBe('TPG_UD_UNKNOWN_KEY');
    expect(check('etcd_discovery_domain: d\nnotify_cfn:\n  stack: s\n  resource: r\n  extra: x\n').errors[0]!.code).toBe('TPG_UD_UNKNOWN_KEY');
  });
  it('--strict turns warnings into errors', () => {
    const r = check('helth_check_path: /health\n', { strict: true });
    expect(r.valid).toBe(false);
    expect(r.errors[0]!.code).toBe('TPG_UD_UNKNOWN_KEY');
    expect(r.warnings).toEqual([]);
  });
});

describe('defaults', () => {
  it('fills documented defaults', () => {
    const s = check('').settings!;
    expect(s).toMatchObject({ root: false, environment: {}, health_check_timeout_seconds: 60, networking: 'bridge', shutdown: 'never', ssh_ports: [22] });
  });
});
