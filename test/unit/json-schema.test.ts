// The generated JSON Schema is a valid draft 2020-12 schema that editors can use, and it agrees
// with the validator on the fixture corpus wherever JSON Schema can express the rule.
import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parseYamlSource } from '../../agent/src/lib/schema/yaml-source.js';
import { validateUserData } from '../../agent/src/user-data/validate.js';
import { userDataJsonSchema } from '../../agent/src/user-data/json-schema.js';

const dir = join(import.meta.dirname, '../fixtures/user-data');

describe('user-data JSON Schema', () => {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const validate = ajv.compile(userDataJsonSchema());

  it('compiles as draft 2020-12 and describes every top-level key', () => {
    const s = userDataJsonSchema() as { properties: Record<string, { description?: string; deprecated?: boolean }> };
    for (const [k, v] of Object.entries(s.properties)) expect(v.description ?? (v.deprecated ? 'unsupported' : undefined), k).toBeTruthy();
  });

  it('accepts every valid fixture', () => {
    for (const f of readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'expected.yaml')) {
      const text = readFileSync(join(dir, f), 'utf8');
      if (!validateUserData(text).valid) continue;
      const ok = validate(parseYamlSource(text).value);
      expect(ok, `${f}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
  });

  it('rejects type and enum mistakes the validator rejects', () => {
    for (const f of [
      'invalid-erase-on-boot-string.yaml',
      'invalid-enums.yaml',
      'invalid-counts.yaml',
      'invalid-missing-required.yaml',
      'invalid-runtime.yaml',
    ]) {
      expect(validate(parseYamlSource(readFileSync(join(dir, f), 'utf8')).value), f).toBe(false);
    }
  });
});
