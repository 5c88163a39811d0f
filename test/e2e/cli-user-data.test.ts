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

  it('--no-header validates a Senza TaupageConfig fragment', async () => {
    const body = readFileSync(fixture('valid-minimal.yaml'), 'utf8').replace('#taupage-ami-config\n', '');
    expect((await taupage(['validate', '-'], { input: body })).code).toBe(1);
    expect((await taupage(['validate', '--no-header', '-'], { input: body })).code).toBe(0);
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
    expect(c.logConfig).toEqual({ type: 'syslog', config: { tag: 'my-app' } });
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

  it('prints the plan for people and refuses invalid user data with the validate messages', async () => {
    const ok = await taupage(['plan', fixture('valid-original-test-userdata.yaml')]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('## Volumes and mounts (disks)');
    expect(ok.stdout).toContain('erase: always');
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
  it.each(files)('%s: plan, validate and their logs carry no aws:kms: value or secret-named value', async (f) => {
    const outputs = [
      await taupage(['plan', fixture(f)]),
      await taupage(['plan', '--json', fixture(f)]),
      await taupage(['validate', fixture(f)]),
      await taupage(['validate', '--json', fixture(f)]),
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
