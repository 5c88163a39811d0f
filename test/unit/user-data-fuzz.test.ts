// A seeded fuzzer over user data: a few hundred mutated documents (the fixtures and documents that
// carry secrets in every position) through validate, validate --json, validate --annotate and
// plan --json. Whatever the mutation, the exit code is 0 or 1 (never a crash: 70, or 2), JSON
// output is whole JSON, and no secret marker appears in any output.
//
// TAUPAGE_FUZZ_SEED=<n> replays a run, TAUPAGE_FUZZ_DOCS=<n> runs more documents. A failure
// prints the seed and the failing documents.
import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../agent/src/main.js';
import { memoryIo } from '../harness/io.js';
import { runAgent } from '../harness/agent.js';

const SEED = Number(process.env.TAUPAGE_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const DOCS = Number(process.env.TAUPAGE_FUZZ_DOCS ?? 300);
/** Documents also run through the built agent (a process, real pipes): slower, so a few. */
const THROUGH_PROCESS = 6;

/** mulberry32: small, seeded, good enough to pick mutations. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MARKER = 'FUZZsekret';
const HEAD = '#taupage-ami-config\napplication_id: my-app\napplication_version: "1.0"\nruntime: Docker\nsource: pierone.stups.zalan.do/team/my-app:1.0\n';
/** Documents with secrets (`$S`) in the positions a team puts them. */
const SECRET_SEEDS = [
  `${HEAD}notify_cfn:\n  stack: s\n  resource: r\nenvironment:\n  DB_PASSWORD: $S\n  TOKEN: aws:kms:$S\n  PLAIN: visible\n  PRIVATE_KEY: |\n    $S\n    $S\n`,
  `${HEAD}scalyr_account_key: $S\nlogentries_account_key: aws:kms:$S\nlogging:\n  scalyr_account_key: $S\n`,
  `${HEAD}dockercfg:\n  https://registry.example.com:\n    password: $S\n    email: me@example.com\nenvironment:\n  API_SECRET: "$S"\n  ODD_PASSWORD: '$S'\n`,
  `${HEAD}environment:\n  DB_PASSWORD: >-\n    $S\n  OTHER: x\nports:\n  80: 8080\nmounts:\n  /data:\n    partition: /dev/xvdf\n`,
  `${HEAD}db_password: $S\nlogsink_password: $S\nenvironment: {A_PASSWORD: $S, B: aws:kms:$S}\n`,
];

const FIXTURES = join(import.meta.dirname, '../fixtures/user-data');
const FIXTURE_SEEDS = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.yaml') && f !== 'expected.yaml' && f !== 'invalid-too-large.yaml')
  .map((f) => readFileSync(join(FIXTURES, f), 'utf8'));

const TOKENS = [
  ':',
  ' ',
  '\n',
  '- ',
  '[',
  ']',
  '{',
  '}',
  ',',
  '&a ',
  '*a',
  '<<: ',
  '<<: *a',
  '? ',
  '!!str ',
  '!x ',
  '|',
  '>-',
  '"',
  "'",
  '#',
  '\t',
  '%YAML 1.1\n',
  '---\n',
  '@',
  '`',
  '\\',
  '\r',
  'é',
  '\u2028',
  '__proto__: x\n',
  'constructor: ',
  '  ',
  ': >\n',
];
const PROTO = ['__proto__', 'constructor', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', 'then', 'prototype'];

interface Doc {
  text: string;
  /** The secret values in it (each a marker): none may be printed. */
  secrets: string[];
}

/**
 * What keeps a secret a secret: its value and the key that names it (`DB_PASSWORD: `, a
 * `dockercfg:` or `PRIVATE_KEY: |` line above it). Character edits leave these spans whole and
 * line moves leave these lines in place; re-indenting them is allowed (the issue's mis-indented
 * value). Without that, a mutation could rename `DB_PASSWORD` to `DB_PSSWORD`, and the value
 * would be an ordinary one the tools may show.
 */
const SECRET_KEY_LINE = /(?:pass|secret|private|dockercfg)[^:\n]*:/i;
function protectedSpans(text: string, secrets: string[]): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  for (const s of secrets) {
    for (let i = text.indexOf(s); i >= 0; i = text.indexOf(s, i + 1)) {
      const lineStart = text.lastIndexOf('\n', i) + 1;
      spans.push([lineStart, i + s.length]);
    }
  }
  let offset = 0;
  for (const line of text.split('\n')) {
    if (SECRET_KEY_LINE.test(line)) spans.push([offset, offset + line.length]);
    offset += line.length + 1;
  }
  return spans;
}

const fixedLine = (line: string, secrets: string[]) => SECRET_KEY_LINE.test(line) || secrets.some((s) => line.includes(s));

function mutate(doc: Doc, rnd: () => number): Doc {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  let text = doc.text;
  const edits = 1 + Math.floor(rnd() * 3);
  for (let n = 0; n < edits; n++) {
    const spans = protectedSpans(text, doc.secrets);
    const free = (at: number) => spans.every(([a, b]) => at <= a || at >= b);
    const at = () => {
      for (let tries = 0; tries < 20; tries++) {
        const p = Math.floor(rnd() * (text.length + 1));
        if (free(p)) return p;
      }
      return text.length;
    };
    const lines = text.split('\n');
    const li = Math.floor(rnd() * lines.length);
    switch (Math.floor(rnd() * 8)) {
      case 0: {
        const p = at();
        const len = 1 + Math.floor(rnd() * 5);
        if (free(p + len)) text = text.slice(0, p) + text.slice(p + len);
        break;
      }
      case 1: {
        const p = at();
        text = text.slice(0, p) + pick(TOKENS) + text.slice(p);
        break;
      }
      case 2: // re-indent a line (a secret's line included: the mis-indented value)
        lines[li] = rnd() < 0.5 ? lines[li]!.replace(/^ {1,3}/, '') : ' '.repeat(1 + Math.floor(rnd() * 3)) + lines[li];
        text = lines.join('\n');
        break;
      case 3: // duplicate or drop a line
        if (fixedLine(lines[li]!, doc.secrets)) break;
        if (rnd() < 0.5) lines.splice(li, 0, lines[li]!);
        else lines.splice(li, 1);
        text = lines.join('\n');
        break;
      case 4: {
        const lj = Math.floor(rnd() * lines.length);
        if (fixedLine(lines[li]!, doc.secrets) || fixedLine(lines[lj]!, doc.secrets)) break;
        [lines[li], lines[lj]] = [lines[lj]!, lines[li]!];
        text = lines.join('\n');
        break;
      }
      case 5: // a key becomes an object property name
        if (fixedLine(lines[li]!, doc.secrets)) break;
        lines[li] = lines[li]!.replace(/^(\s*(?:- )?)[A-Za-z_][\w-]*:/, `$1${pick(PROTO)}:`);
        text = lines.join('\n');
        break;
      case 6: {
        const p = at();
        text = text.slice(0, p);
        break;
      }
      default: {
        // A flow or block structure around part of the document.
        const p = at();
        const q = at();
        const [a, b] = p < q ? [p, q] : [q, p];
        const [open, close] = pick([
          ['[', ']'],
          ['{', '}'],
          ['"', '"'],
          ['? ', '\n: v\n'],
        ] as const);
        text = text.slice(0, a) + open + text.slice(a, b) + close + text.slice(b);
      }
    }
  }
  return { text, secrets: doc.secrets };
}

interface Failure {
  doc: string;
  command: string;
  why: string;
}

const COMMANDS = [
  ['validate', '-'],
  ['validate', '--json', '-'],
  ['validate', '--annotate', '-'],
  ['plan', '--json', '-'],
];

function check(command: string[], doc: Doc, code: number | null, out: string, err: string, failures: Failure[]): void {
  const fail = (why: string) => failures.push({ doc: doc.text, command: command.join(' '), why });
  if (code !== 0 && code !== 1) fail(`exit ${code}: ${err.slice(0, 500)}`);
  if (command.includes('--json') && out.trim()) {
    try {
      JSON.parse(out);
    } catch (e) {
      fail(`output is not whole JSON (${(e as Error).message}; ${out.length} bytes)`);
    }
  }
  for (const s of doc.secrets) {
    const line = (out + err).split('\n').find((l) => l.includes(s));
    if (line !== undefined) fail(`printed the secret ${s} in the line ${JSON.stringify(line.slice(0, 300))}`);
  }
}

function documents(): Doc[] {
  const rnd = prng(SEED);
  let n = 0;
  const seeds: Doc[] = [
    ...SECRET_SEEDS.map((t) => {
      const secrets: string[] = [];
      const text = t.replaceAll('$S', () => {
        const s = `${MARKER}${String(++n).padStart(4, '0')}`;
        secrets.push(s);
        return s;
      });
      return { text, secrets };
    }),
    ...FIXTURE_SEEDS.map((text) => ({ text, secrets: [] })),
  ];
  // Secret-bearing seeds get half the documents: they are what this test is most about.
  return Array.from({ length: DOCS }, (_, i) => mutate(i % 2 === 0 ? seeds[i % SECRET_SEEDS.length]! : seeds[Math.floor(rnd() * seeds.length)]!, rnd));
}

describe(`user-data fuzz (seed ${SEED}, ${DOCS} documents)`, () => {
  const docs = documents();

  it('every command: exit 0 or 1, whole JSON, no secret in any output', async () => {
    const failures: Failure[] = [];
    for (const doc of docs) {
      for (const command of COMMANDS) {
        const m = memoryIo(doc.text);
        let code: number;
        try {
          code = await main(command, m.io);
        } catch (e) {
          failures.push({ doc: doc.text, command: command.join(' '), why: `threw: ${(e as Error).stack}` });
          continue;
        }
        check(command, doc, code, m.out(), m.err(), failures);
      }
    }
    report(failures);
  });

  it('the same through the built agent, a few documents', async () => {
    const failures: Failure[] = [];
    for (const doc of docs.slice(0, THROUGH_PROCESS)) {
      for (const command of [COMMANDS[1]!, COMMANDS[3]!]) {
        const r = await runAgent(command, { input: doc.text });
        check(command, doc, r.code, r.stdout, r.stderr, failures);
      }
    }
    report(failures);
  });
});

function report(failures: Failure[]): void {
  if (!failures.length) return;
  const shown = failures
    .slice(0, 5)
    .map((f) => `--- ${f.command}: ${f.why}\n${JSON.stringify(f.doc)}`)
    .join('\n');
  expect.fail(
    `${failures.length} failure(s) with TAUPAGE_FUZZ_SEED=${SEED} (replay: TAUPAGE_FUZZ_SEED=${SEED} npx vitest run test/unit/user-data-fuzz.test.ts)\n${shown}`,
  );
}
