// The fixture corpus: every document's verdict, error and warning positions, as reviewed in expected.yaml.
import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { validateUserData, formatKeyPath, type UserDataIssue } from '../../agent/src/user-data/validate.js';

const dir = join(import.meta.dirname, '../fixtures/user-data');
const expected = parse(readFileSync(join(dir, 'expected.yaml'), 'utf8')) as Record<string, { valid: boolean; errors?: string[]; warnings?: string[] }>;
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml') && f !== 'expected.yaml')
  .sort();
const show = (i: UserDataIssue) => `${i.line}:${i.column} ${i.code} ${formatKeyPath(i.path)}`;

describe('user-data fixture corpus', () => {
  it('has at least 40 documents, each with an expectation, valid and invalid among them', () => {
    expect(files.length).toBeGreaterThanOrEqual(40);
    expect(Object.keys(expected).sort()).toEqual(files);
    expect(files.filter((f) => expected[f]!.valid).length).toBeGreaterThan(10);
    expect(files.filter((f) => !expected[f]!.valid).length).toBeGreaterThan(20);
  });

  it.each(files)('%s', (file) => {
    const r = validateUserData(readFileSync(join(dir, file), 'utf8'));
    const want = expected[file]!;
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
    for (const f of files) expect(expected[f]!.valid).toBe(!f.startsWith('invalid-'));
  });
});
