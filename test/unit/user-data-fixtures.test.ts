// The fixture corpus: every document's verdict, error and warning positions, as reviewed in expected.yaml.
// test/fixtures/user-data holds whole user data; its senza/ folder Senza TaupageConfig mappings (validate --senza).
import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { validateSenzaTaupageConfig, validateUserData, formatKeyPath, type UserDataIssue } from '../../agent/src/user-data/validate.js';

type Expected = Record<string, { valid: boolean; errors?: string[]; warnings?: string[] }>;
const corpus = (dir: string) => ({
  dir,
  expected: parse(readFileSync(join(dir, 'expected.yaml'), 'utf8')) as Expected,
  files: readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') && f !== 'expected.yaml')
    .sort(),
});
const userData = corpus(join(import.meta.dirname, '../fixtures/user-data'));
const senza = corpus(join(import.meta.dirname, '../fixtures/user-data/senza'));
const show = (i: UserDataIssue) => `${i.line}:${i.column} ${i.code} ${formatKeyPath(i.path)}`;

describe.each([
  { name: 'user-data fixture corpus', c: userData, validate: (text: string) => validateUserData(text), least: { all: 40, valid: 10, invalid: 20 } },
  {
    name: 'Senza TaupageConfig fixture corpus',
    c: senza,
    validate: (text: string) => validateSenzaTaupageConfig(text),
    least: { all: 15, valid: 4, invalid: 10 },
  },
])('$name', ({ c, validate, least }) => {
  it('has enough documents, each with an expectation, valid and invalid among them', () => {
    expect(c.files.length).toBeGreaterThanOrEqual(least.all);
    expect(Object.keys(c.expected).sort()).toEqual(c.files);
    expect(c.files.filter((f) => c.expected[f]!.valid).length).toBeGreaterThanOrEqual(least.valid);
    expect(c.files.filter((f) => !c.expected[f]!.valid).length).toBeGreaterThanOrEqual(least.invalid);
  });

  it.each(c.files)('%s', (file) => {
    const r = validate(readFileSync(join(c.dir, file), 'utf8'));
    const want = c.expected[file]!;
    expect({ valid: r.valid, errors: r.errors.map(show), warnings: r.warnings.map(show) }).toEqual({
      valid: want.valid,
      errors: want.errors ?? [],
      warnings: want.warnings ?? [],
    });
    // A valid document yields settings; an invalid one never does.
    expect(r.settings !== undefined).toBe(r.valid);
    for (const i of [...r.errors, ...r.warnings]) expect(i.message.length).toBeGreaterThan(10);
  });

  it('file names say the verdict (valid-/warn- are valid, invalid- are not)', () => {
    for (const f of c.files) expect(c.expected[f]!.valid).toBe(!f.startsWith('invalid-'));
  });
});

describe('the two corpora side by side', () => {
  it('a TaupageConfig without the keys Senza fills in is not whole user data', () => {
    for (const f of senza.files.filter((f) => senza.expected[f]!.valid)) {
      const text = readFileSync(join(senza.dir, f), 'utf8');
      if (/^application_id:/m.test(text) && /^application_version:/m.test(text)) continue;
      expect(validateUserData(text, { requireHeader: false }).valid, f).toBe(false);
    }
  });
});
