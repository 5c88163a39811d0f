// No secret of the user data reaches any message: every secret position (a secret-named key's
// value, an aws:kms: ciphertext, dockercfg, an unknown secret-named key) is fed through every way
// a document goes wrong (schema errors beside it, YAML syntax errors at it, complex keys holding
// it, aliases and merges of it, duplicates), and every output of validate and plan is searched.
import { describe, it, expect } from 'vitest';
import { main } from '../../agent/src/main.js';
import { memoryIo } from '../harness/io.js';
import { validateUserData } from '../../agent/src/user-data/validate.js';
import { userDataSecrets } from '../../agent/src/user-data/secrets.js';

const HEAD = '#taupage-ami-config\napplication_id: my-app\napplication_version: "1.0"\nruntime: Docker\nsource: pierone.stups.zalan.do/team/my-app:1.0\n';
/** Each secret is this marker with a number; base64-valid so it can be a ciphertext too. */
const marker = (n: number) => `SEKRETmarker${String(n).padStart(4, '0')}`;

/** Where a secret sits: YAML with `$S` for the secret (and `$K` for the whole `key: $S` line). */
const POSITIONS: Record<string, string> = {
  'environment password': 'environment:\n  DB_PASSWORD: $S\n',
  'environment kms': 'environment:\n  TOKEN: aws:kms:$S\n',
  'environment secret (quoted)': 'environment:\n  "API_SECRET": "$S"\n',
  'environment private key block': 'environment:\n  PRIVATE_KEY: |\n    $S\n',
  'environment password folded': 'environment:\n  DB_PASSWORD: >-\n    $S\n',
  'scalyr key': 'scalyr_account_key: $S\n',
  'logging scalyr key kms': 'logging:\n  scalyr_account_key: aws:kms:$S\n',
  'logentries key': 'logentries_account_key: $S\n',
  'dockercfg auth': 'dockercfg:\n  https://registry.example.com:\n    auth: $S\n',
  'unknown top-level password': 'db_password: $S\n',
  'unknown password in notify_cfn': 'notify_cfn:\n  stack: s\n  resource: r\n  password: $S\n',
  'logsink password (unsupported key)': 'logsink_password: $S\n',
  'kms in a list': 'environment:\n  LIST: [aws:kms:$S]\n',
};

/** Ways to go wrong around the secret: a transform of the position's YAML. */
const FAULTS: Record<string, (yaml: string, s: string) => string> = {
  'none (valid or warnings)': (y) => y,
  'schema error beside it': (y) => `${y}ports:\n  99999: 80\nruntime_x: 1\n`,
  'value mis-indented (the block scalar example)': (y, s) => y.replace(/: (\|?|>-?)\s*\n?\s*(aws:kms:)?"?SEKRET/, ': >-\n $2SEKRET').replace(`${s}"`, s),
  'value on the next line at column 0': (y, s) => y.replace(new RegExp(`: "?(aws:kms:)?${s}"?`), `:\n$1${s}`),
  'block header with extra characters': (y, s) => y.replace(new RegExp(`: "?(aws:kms:)?${s}"?`), `: >- $1${s}`).replace(/: [|>]-?\n\s+(SEKRET)/, ': >- $1'),
  'unterminated double quote': (y, s) => y.replace(new RegExp(`"?${s}"?`), `"${s}`),
  'bad escape inside the quotes': (y, s) => y.replace(new RegExp(`"?${s}"?`), `"${s.slice(0, 6)}\\q${s.slice(6)}"`),
  'tab as indentation': (y) => y.replace(/\n {2}(\S)/, '\n\t$1'),
  'as a complex key': (y, s) => `${y}environment_x:\n  ? [${s}]\n  : v\n`,
  'as a complex mapping key': (y, s) => `${y.replace(/^(environment|logging|dockercfg|notify_cfn):\n/m, '$1_x:\n')}extra:\n  ? {DB_PASSWORD: ${s}}\n  : v\n`,
  'in a flow mapping key': (y, s) => `${y}flow: {[${s}]: v}\n`,
  'anchored and merged as a scalar': (y, s) => `anchor_holder: &sec ${s}\n${y}merged:\n  <<: *sec\n`,
  'undefined alias next to it': (y) => `${y}broken:\n  <<: *nowhere\n`,
  'duplicated key': (y) => `${y}${y.split('\n')[0]}\n  X: 1\n`,
  'unterminated flow mapping': (y) => y.replace(/:\n {2}/, ': {').replace(/\n$/, '\n'),
  'a second document': (y) => `${y}---\n${y}`,
};

interface Ran {
  code: number;
  out: string;
  err: string;
}

async function run(argv: string[], input: string): Promise<Ran> {
  const m = memoryIo(input);
  const code = await main(argv, m.io);
  return { code, out: m.out(), err: m.err() };
}

const COMMANDS = [
  ['validate', '-'],
  ['validate', '--json', '-'],
  ['validate', '--annotate', '-'],
  ['validate', '--strict', '--json', '-'],
  ['plan', '-'],
  ['plan', '--json', '-'],
];

describe('no secret in any message', () => {
  let n = 0;
  for (const [position, yaml] of Object.entries(POSITIONS)) {
    it(`${position}: through every fault and every command`, async () => {
      for (const [fault, transform] of Object.entries(FAULTS)) {
        const secret = marker(++n);
        const doc = HEAD + transform(yaml.replaceAll('$S', secret), secret);
        const where = `${position} / ${fault}\n${doc}`;
        for (const argv of COMMANDS) {
          const r = await run(argv, doc);
          expect([0, 1], `${argv.join(' ')}: ${where}\n${r.err}`).toContain(r.code);
          if (argv.includes('--json') && r.out) expect(() => JSON.parse(r.out), `${argv.join(' ')}: ${where}`).not.toThrow();
          const all = r.out + r.err;
          // The secret, and its first half (what a library might quote of a cut value).
          expect(all.includes(secret), `${argv.join(' ')} printed the secret: ${where}\n---\n${all}`).toBe(false);
        }
      }
    });
  }

  it('the issue example: a mis-indented password does not become the printed key path', () => {
    const doc = `${HEAD}environment:\n  DB_PASSWORD: >-\n hunter2\n`;
    const r = validateUserData(doc);
    expect(r.valid).toBe(false);
    expect(JSON.stringify(r.errors)).not.toContain('hunter2');
    // The parser read `hunter2` as a top-level key: only keys the contract names are printed.
    expect(r.errors.map((e) => [e.code, e.path, e.line])).toEqual([
      ['TPG_UD_YAML_SYNTAX', [], 8],
      ['TPG_UD_YAML_SYNTAX', [], 8],
    ]);
  });

  it('a complex key is an error at its position that quotes nothing', () => {
    const r = validateUserData(`${HEAD}environment:\n  ? [k, hunter2]\n  : v\n  ? [DB_PASSWORD]\n  : "aws:kms:QUJDRA=="\n`);
    expect(r.errors.map((e) => `${e.code} ${e.path.join('.')} ${e.line}:${e.column}`)).toEqual([
      'TPG_UD_COMPLEX_KEY environment 7:5',
      'TPG_UD_COMPLEX_KEY environment 9:5',
    ]);
    expect(JSON.stringify(r)).not.toMatch(/hunter2|QUJDRA/);
  });

  it('annotate redacts the secrets of the echoed file, and nothing else', async () => {
    const r = await run(
      ['validate', '--annotate', '-'],
      `${HEAD}environment:\n  DB_PASSWORD: hunter2secret\n  PLAIN: visible\n  TOKEN: aws:kms:QUJDREVGR0g=\nports: {99999: 1}\n`,
    );
    expect(r.out).toContain('DB_PASSWORD: [redacted]');
    expect(r.out).toContain('TOKEN: [redacted]');
    expect(r.out).toContain('PLAIN: visible');
    expect(r.out).not.toMatch(/hunter2secret|QUJDREVGR0g/);
  });

  it('the scrubber finds values under secret-named keys in text that does not parse', () => {
    const s = userDataSecrets('environment:\n  DB_PASSWORD: >-\n hunter2\n  my_secret: "quoted value"\n  k: v\n');
    expect(s.scrub('a hunter2 b quoted value c v')).toBe('a [redacted] b [redacted] c v');
  });
});
