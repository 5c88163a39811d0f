// `taupage validate`, `plan`, `schema`, `help` and `--version` as a team runs them: the built
// bundle, real files and stdin, exit codes, exact output shapes.
import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runAgent as taupage } from '../harness/agent.js';
import { fixture, REPO } from '../harness/repo.js';
import { generatedDocs } from '../../agent/src/docs/generate.js';

describe('taupage validate', () => {
  it('exits 0 for a valid document and says so', async () => {
    const r = await taupage(['validate', fixture('valid-minimal.yaml')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${fixture('valid-minimal.yaml')}: valid\n`);
  });

  it('prints file:line:col: error CODE key.path: message, then a summary, and exits 1', async () => {
    const file = fixture('invalid-erase-on-boot-string.yaml');
    const r = await taupage(['validate', file]);
    expect(r.code).toBe(1);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:10:20: error TPG_UD_TYPE mounts\\["/data"\\]\\.erase_on_boot: expected a boolean`),
    );
    expect(lines.at(-1)).toBe(`${file}: invalid: 1 error, 0 warnings`);
  });

  it('keeps warnings from failing the document, unless --strict', async () => {
    const file = fixture('warn-unknown-key-typo.yaml');
    const lenient = await taupage(['validate', file]);
    expect(lenient.code).toBe(0);
    expect(lenient.stdout).toContain('6:1: warning TPG_UD_UNKNOWN_KEY helth_check_path: unknown key at the top level; did you mean health_check_path?');
    expect(lenient.stdout).toContain('valid (1 warning)');
    const strict = await taupage(['validate', '--strict', file]);
    expect(strict.code).toBe(1);
    expect(strict.stdout).toContain('6:1: error TPG_UD_UNKNOWN_KEY');
  });

  it('--json prints exactly one object with the documented fields', async () => {
    const r = await taupage(['validate', '--json', fixture('invalid-ports.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out)).toEqual(['valid', 'errors', 'warnings', 'errorCount', 'warningCount']);
    expect(out.valid).toBe(false);
    expect(out.errors[0]).toEqual({ path: ['ports', '80'], line: 7, column: 7, code: 'TPG_UD_PORT', message: 'port 70000 is out of range 1-65535' });
    for (const e of out.errors) expect(Object.keys(e)).toEqual(['path', 'line', 'column', 'code', 'message']);
  });

  it('reads stdin for -', async () => {
    const r = await taupage(['validate', '--json', '-'], { input: readFileSync(fixture('valid-minimal.yaml'), 'utf8') });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ valid: true, errors: [], warnings: [], errorCount: 0, warningCount: 0 });
  });

  it('--annotate marks each problem under its line and keeps the file parseable YAML', async () => {
    const r = await taupage(['validate', '--annotate', fixture('invalid-source-latest.yaml')]);
    expect(r.code).toBe(1);
    const lines = r.stdout.split('\n');
    const at = lines.indexOf('source: pierone.stups.zalan.do/team/my-app:latest');
    expect(at).toBeGreaterThan(0);
    expect(lines[at + 1]).toMatch(/^# {7}\^ E1 TPG_UD_IMAGE_REF source: invalid image reference: the tag latest is not allowed/);
    expect(r.stdout).toContain('# Errors: -------------');
  });

  it('--no-header validates a whole document kept without its header', async () => {
    const body = readFileSync(fixture('valid-minimal.yaml'), 'utf8').replace('#taupage-ami-config\n', '');
    expect((await taupage(['validate', '-'], { input: body })).code).toBe(1);
    expect((await taupage(['validate', '--no-header', '-'], { input: body })).code).toBe(0);
  });

  it('--senza validates a Senza TaupageConfig: application_id, application_version and notify_cfn may be left out', async () => {
    const file = fixture('senza/valid-webapp.yaml');
    expect(await taupage(['validate', '--senza', file])).toMatchObject({ code: 0, stdout: `${file}: valid\n` });
    const whole = await taupage(['validate', '--no-header', file]);
    expect(whole.code).toBe(1);
    expect(whole.stdout).toContain('error TPG_UD_REQUIRED application_id: missing required key: the Kio application id');
    const bad = await taupage(['validate', '--senza', fixture('senza/invalid-source-snapshot.yaml')]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(':2:9: error TPG_UD_IMAGE_REF source: invalid image reference: the tag "1.0-SNAPSHOT" is a SNAPSHOT tag');
  });

  it('reports every problem when keys are duplicated, the duplicates as warnings', async () => {
    const file = fixture('invalid-duplicate-keys-hide-nothing.yaml');
    const r = await taupage(['validate', file]);
    expect(r.code).toBe(1);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.slice(0, -1).map((l) => /^.*?:(\d+:\d+: \w+ \w+ \S+):/.exec(l.slice(file.length))?.[1])).toEqual([
      '9:9: error TPG_UD_PORT ports.8600',
      '11:1: warning TPG_UD_DUPLICATE_KEY scalyr_account_key',
      '11:21: error TPG_UD_KMS_BASE64 scalyr_account_key',
      '14:3: warning TPG_UD_DUPLICATE_KEY environment.STAGE',
    ]);
    expect(lines.at(-1)).toBe(`${file}: invalid: 2 errors, 2 warnings`);
  });

  it('exits 2 on a missing file or wrong arguments, saying why', async () => {
    const missing = await taupage(['validate', '/nonexistent/user-data.yaml']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/TPG_READ_FAILED: cannot read \/nonexistent\/user-data.yaml: no such file/);
    const noArg = await taupage(['validate']);
    expect(noArg.code).toBe(2);
    expect(noArg.stderr).toMatch(/usage: taupage validate/);
    expect((await taupage(['validate', '--bogus', fixture('valid-minimal.yaml')])).code).toBe(2);
  });
});

describe('taupage plan', () => {
  it('shows the container, credentials, logging, ssh, disks, host and signal plans as JSON', async () => {
    const r = await taupage(['plan', '--json', fixture('valid-full-container.yaml')]);
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout);
    const byId = Object.fromEntries(plan.steps.map((s: { id: string; plan: unknown }) => [s.id, s.plan]));
    expect(Object.keys(byId).sort()).toEqual(['container', 'credentials', 'disks', 'host', 'logging', 'shutdown', 'signal', 'ssh']);
    const c = byId.container;
    expect(c.name).toBe('taupageapp');
    expect(c.reference).toBe('pierone.stups.zalan.do/team/my-app:1.0');
    expect(c.user).toBe('999:999');
    expect(c.restartPolicy).toEqual({ name: 'on-failure', maximumRetryCount: 10 });
    expect(c.logConfig).toEqual({ type: 'syslog', config: { tag: 'my-app', 'syslog-address': 'unix:///run/taupage/log/application.sock' } });
    expect(c.ports).toContainEqual({ hostPort: 53, containerPort: 53, protocol: 'udp' });
    expect(c.binds).toContainEqual({ host: '/meta', container: '/meta', readOnly: true });
    expect(c.binds).toContainEqual({ host: '/var/log-custom', container: '/var/log', readOnly: false });
    expect(c.capAdd).toEqual(['NET_ADMIN', 'SYS_PTRACE']);
    expect(c.env.map((e: { name: string }) => e.name)).toEqual([
      'TOKENINFO_URL',
      'STAGE',
      'FEATURE_FLAG',
      'MAX_THREADS',
      'DB_PASSWORD',
      'API_SECRET',
      'APPLICATION_ID',
      'APPLICATION_VERSION',
      'CREDENTIALS_DIR',
    ]);
    expect(c.env.find((e: { name: string }) => e.name === 'DB_PASSWORD').value).toBe('aws:kms:[redacted] (decrypted at boot)');
    expect(c.env.find((e: { name: string }) => e.name === 'API_SECRET').value).toBe('[redacted]');
    expect(c.health).toMatchObject({ timeoutSeconds: 120, http: { port: 80, path: '/health', url: 'http://127.0.0.1:80/health' } });
    expect(byId.credentials).toMatchObject({
      bucket: 'exampleorg-stups-mint-123456789012-eu-central-1',
      keys: ['my-app/user.json', 'my-app/client.json'],
      directory: '/meta/credentials',
    });
    expect(byId.signal).toMatchObject({ stack: 'my-app-1', resource: 'AppServerAutoScalingGroup' });
    expect(byId.ssh.directives).toContain('Port 22');
  });

  it('runs the host paths under TAUPAGE_ROOT', async () => {
    const r = await taupage(['plan', '--json', fixture('valid-minimal.yaml')], { env: { TAUPAGE_ROOT: '/scratch' } });
    const c = JSON.parse(r.stdout).steps.find((s: { id: string }) => s.id === 'container').plan;
    expect(c.binds).toContainEqual({ host: '/scratch/meta', container: '/meta', readOnly: true });
  });

  it('--senza plans the user data Senza renders, with placeholders for what senza create knows', async () => {
    const file = fixture('senza/valid-webapp.yaml');
    const json = await taupage(['plan', '--senza', '--json', file]);
    expect(json.code).toBe(0);
    const plan = JSON.parse(json.stdout);
    expect(plan.senzaFillsIn).toEqual(['application_id', 'notify_cfn']);
    const byId = Object.fromEntries(plan.steps.map((s: { id: string; plan: unknown }) => [s.id, s.plan]));
    expect(byId.signal).toMatchObject({ stack: '<StackName>-<StackVersion>', resource: '<ComponentName>' });
    expect(byId.credentials.keys).toEqual(['<StackName>/user.json', '<StackName>/client.json']);
    expect(byId.container.env).toContainEqual({ name: 'APPLICATION_VERSION', value: '1.0' });
    const people = await taupage(['plan', '--senza', file]);
    expect(people.stdout).toContain(
      'Senza fills in application_id (<StackName>) and notify_cfn (stack <StackName>-<StackVersion>, resource <ComponentName>) when it renders the stack',
    );
    const whole = await taupage(['plan', '--no-header', file]);
    expect(whole.code).toBe(1);
    expect(whole.stderr).toContain('error TPG_UD_REQUIRED application_id');
    const bad = await taupage(['plan', '--senza', fixture('senza/invalid-kms-base64.yaml')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`invalid; fix the errors above (taupage validate --senza ${fixture('senza/invalid-kms-base64.yaml')})`);
  });

  it('prints the plan for people and refuses invalid user data with the validate messages', async () => {
    const ok = await taupage(['plan', fixture('valid-volumes-and-tmpfs.yaml')]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('## Volumes and mounts (disks)');
    expect(ok.stdout).toContain('erase: never');
    expect(ok.stdout).toMatch(/^keys applied: application_id, application_version, mount_custom_log, mounts, runtime, source, sysctl, sysfs, volumes$/m);
    expect(ok.stdout).toMatch(/^## Log routing and shipping \(logging\)\nrsyslog:$/m);
    const bad = await taupage(['plan', fixture('invalid-source-latest.yaml')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('error TPG_UD_IMAGE_REF source');
    expect(bad.stdout).toBe('');
  });

  it('says which keys this image applies and which it ignores', async () => {
    // Every step of this image has effects, so no valid document is refused for a key it cannot
    // apply (the rule itself: test/integration/boot.test.ts, TPG_NOT_APPLIED).
    const r = await taupage(['plan', fixture('valid-original-test-userdata.yaml')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^keys applied: .*\bscalyr_account_key\b.*\bvolumes$/m);
    expect(r.stdout).not.toContain('keys NOT applied');
    expect(r.stdout).toMatch(/^## Log routing and shipping \(logging\)\nrsyslog:$/m);
    expect(r.stdout).toContain('erase: always');
    const warned = await taupage(['plan', '--json', fixture('warn-unsupported-appdynamics.yaml')]);
    expect(warned.code).toBe(0);
    expect(JSON.parse(warned.stdout).keys).toEqual({
      applied: ['application_id', 'application_version', 'runtime', 'source'],
      ignored: ['appdynamics_application', 'appdynamics_account_name', 'xray_enabled'],
      notApplied: [],
    });
    // Warned about but used (deprecated, repeated, taken as the original took it): applied, never "ignored".
    for (const [name, key] of [
      ['warn-logentries-account-key.yaml', 'logentries_account_key'],
      ['warn-mounts-as-the-original-took-them.yaml', 'mounts'],
      ['warn-duplicate-port-spellings.yaml', 'ports'],
    ]) {
      const used = JSON.parse((await taupage(['plan', '--json', fixture(name!)])).stdout).keys;
      expect(used.applied).toContain(key);
      expect(used.ignored).toEqual([]);
    }
  });

  it('plans the disks: RAID commands, tmpfs options with the owner, volumes and the custom log directory', async () => {
    const r = await taupage(['plan', '--json', fixture('valid-volumes-and-tmpfs.yaml')]);
    expect(r.code).toBe(0);
    const { disks, host } = Object.fromEntries(JSON.parse(r.stdout).steps.map((st: { id: string; plan: unknown }) => [st.id, st.plan]));
    expect(disks.ebs).toEqual([
      // biome-ignore lint/suspicious/noTemplateCurlyInString: expanded at boot, shown as written.
      { device: '/dev/sdf', nameTag: 'orders-db-${local_ipv4}' },
      { device: '/dev/sdg', nameTag: 'orders-wal-a' },
      { device: '/dev/sdh', nameTag: 'orders-wal-b' },
    ]);
    expect(disks.raid[0].commands.create).toEqual(['--create', '/dev/md/wal', '--run', '--level=1', '--raid-devices=2', '/dev/xvdg', '/dev/xvdh']);
    expect(disks.mounts).toEqual([
      { kind: 'tmpfs', path: '/cache', hostPath: '/mounts/cache', options: 'nodev,nosuid,mode=0755,uid=999,gid=999' },
      {
        kind: 'volume',
        path: '/data',
        hostPath: '/mounts/data',
        device: '/dev/xvdf',
        filesystem: 'xfs',
        erase: 'never',
        options: 'nodev,nosuid,noatime',
        owner: { uid: 999, gid: 999 },
      },
      { kind: 'tmpfs', path: '/scratch', hostPath: '/mounts/scratch', options: 'nodev,nosuid,mode=0755,uid=999,gid=999,size=256m' },
      {
        kind: 'volume',
        path: '/wal',
        hostPath: '/mounts/wal',
        device: '/dev/md/wal',
        filesystem: 'ext4',
        erase: 'if-tagged',
        options: 'nodev,nosuid',
        owner: { uid: 999, gid: 999 },
      },
    ]);
    expect(disks.customLogDir).toEqual({ path: '/var/log-custom', owner: { uid: 999, gid: 999 } });
    expect(host.sysctl.entries).toEqual([
      { key: 'vm.swappiness', value: '1', file: '/proc/sys/vm/swappiness' },
      { key: 'net.core.somaxconn', value: '4096', file: '/proc/sys/net/core/somaxconn' },
    ]);
    expect(host.sysfs).toEqual([{ path: '/sys/kernel/mm/transparent_hugepage/enabled', file: '/sys/kernel/mm/transparent_hugepage/enabled', value: 'never' }]);
    const bad = await taupage(['plan', fixture('invalid-source-latest.yaml')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('error TPG_UD_IMAGE_REF source');
    expect(bad.stdout).toBe('');
  });
});

describe('secrets never reach output', () => {
  const SECRETS = [
    'AQICAHhYc2VjcmV0LWNpcGhlcnRleHQ=',
    'plain-but-secret-named',
    'AQICAHhzdXBlcnVzZXI=',
    'AQICAHhzdGFuZGJ5dXNlcg==',
    'AQICAHhzY2FseXIta2V5',
    '2bfbea1e-10c3-4419-bdad-7e6435882e1f',
    'Zm9vOmJhcg==',
  ];
  // Every fixture that carries a secret (aws:kms:, secret-named keys, tokens, registry auth).
  const files = readdirSync(join(REPO, 'test/fixtures/user-data')).filter(
    (f) => f.endsWith('.yaml') && f !== 'expected.yaml' && /aws:kms:|PASSWORD|SECRET|_key:|auth:/i.test(readFileSync(fixture(f), 'utf8')),
  );
  it('covers the fixtures with secrets', () => expect(files.length).toBeGreaterThanOrEqual(6));
  // And the Senza TaupageConfig fixtures, checked with --senza.
  const senzaFiles = readdirSync(join(REPO, 'test/fixtures/user-data/senza'))
    .filter((f) => f.endsWith('.yaml') && f !== 'expected.yaml' && /aws:kms:|PASSWORD|SECRET|_key:|auth:/i.test(readFileSync(fixture(`senza/${f}`), 'utf8')))
    .map((f) => `senza/${f}`);
  it('covers the Senza fixtures with secrets', () => expect(senzaFiles.length).toBeGreaterThanOrEqual(2));
  it.each([...files, ...senzaFiles])('%s: plan, validate and their logs carry no aws:kms: value or secret-named value', async (f) => {
    const mode = f.startsWith('senza/') ? ['--senza'] : [];
    const outputs = [
      await taupage(['plan', ...mode, fixture(f)]),
      await taupage(['plan', ...mode, '--json', fixture(f)]),
      await taupage(['validate', ...mode, fixture(f)]),
      await taupage(['validate', ...mode, '--json', fixture(f)]),
    ];
    for (const o of outputs) {
      const all = o.stdout + o.stderr;
      for (const s of SECRETS) expect(all).not.toContain(s);
      expect(all).not.toMatch(/aws:kms:(?!\[redacted\])[A-Za-z0-9+/]/);
    }
  });
});

describe('taupage schema, help, --version', () => {
  it('prints the JSON Schema (draft 2020-12)', async () => {
    const r = await taupage(['schema']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(s.required).toEqual(['application_id', 'application_version', 'runtime', 'source']);
    expect(s.properties.health_check_timeout_seconds).toMatchObject({ type: ['integer', 'null'], default: 60, minimum: 1 });
  });

  it('keeps the committed docs in step with the code (run npm run docs)', async () => {
    for (const [file, text] of Object.entries(generatedDocs())) expect(readFileSync(join(REPO, file), 'utf8'), `${file} is stale: run npm run docs`).toBe(text);
    expect((await taupage(['schema', '--markdown'])).stdout).toBe(readFileSync(join(REPO, 'docs/user-data.md'), 'utf8'));
  });

  it('answers --help on every command and --version', async () => {
    const overview = await taupage(['help']);
    expect(overview.code).toBe(0);
    const names = [...overview.stdout.matchAll(/^ {2}([a-z-]+) {2,}/gm)].map((m) => m[1]!);
    expect(names).toEqual(expect.arrayContaining(['validate', 'plan', 'schema']));
    for (const n of names) {
      const h = await taupage([n, '--help']);
      expect(h.code, n).toBe(0);
      expect(h.stdout, n).toMatch(new RegExp(`usage: taupage ${n}`));
    }
    const v = await taupage(['--version']);
    expect(v.stdout).toMatch(/^taupage \d+\.\d+\.\d+/);
    expect((await taupage(['frobnicate'])).code).toBe(2);
  });
});
