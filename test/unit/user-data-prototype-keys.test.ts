// Keys named like JavaScript object properties (constructor, toString, __proto__, ...) are keys
// like any other, at every mapping position of the user data: nothing crashes, nothing is dropped,
// nothing built from user data has a prototype, and Object.prototype is left alone.
import { describe, it, expect } from 'vitest';
import { validateUserData } from '../../agent/src/user-data/validate.js';
import { userDataSchema } from '../../agent/src/steps/schema.js';
import { ListSchema, MapSchema, ObjectSchema, type AnySchema } from '../../agent/src/lib/schema/types.js';
import { planSteps } from '../../agent/src/engine/runner.js';
import { steps } from '../../agent/src/steps/index.js';
import { defaultConfig } from '../../agent/src/config/load.js';
import { main } from '../../agent/src/main.js';
import { salvageNotifyCfn } from '../../agent/src/steps/signal/schema.js';
import { memoryIo } from '../harness/io.js';

/** Every name Object.prototype has, and the ones that make an object special elsewhere. */
const NAMES = [...new Set([...Object.getOwnPropertyNames(Object.prototype), '__proto__', 'prototype', 'then', 'toJSON'])];

type Seg = string | number;

/** Paths of every mapping in the schema (free keys of a map stand as "k0", list items as 0). */
function mappingPositions(schema: AnySchema, path: Seg[] = [], out: Seg[][] = [], depth = 0): Seg[][] {
  if (depth > 8) return out;
  const s = unwrap(schema);
  if (s instanceof ObjectSchema) {
    out.push(path);
    for (const [k, f] of Object.entries(s.shape as Record<string, AnySchema>)) mappingPositions(f, [...path, k], out, depth + 1);
  } else if (s instanceof MapSchema) {
    out.push(path);
    mappingPositions(s.value as AnySchema, [...path, 'k0'], out, depth + 1);
  } else if (s instanceof ListSchema) {
    mappingPositions(s.item as AnySchema, [...path, 0], out, depth + 1);
  }
  return out;
}

function unwrap(s: AnySchema): AnySchema {
  let cur = s as AnySchema & { inner?: AnySchema };
  while (cur.inner) cur = cur.inner as AnySchema & { inner?: AnySchema };
  return cur;
}

/** YAML for `name: x` at `path` (written by hand: a JS object cannot hold a key named __proto__ safely). */
function yamlAt(path: Seg[], name: string): string {
  let indent = '';
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') {
      out += `${indent}-\n`;
    } else {
      out += `${indent}${JSON.stringify(seg)}:\n`;
    }
    indent += '  ';
  }
  return `${out}${indent}${JSON.stringify(name)}: x\n`;
}

const BASE = '#taupage-ami-config\napplication_id: my-app\napplication_version: "1.0"\nruntime: Docker\nsource: pierone.stups.zalan.do/team/my-app:1.0\n';

/** Every object reachable from `v` that was built from the document, with its path. */
function objects(v: unknown, path = '', out: Array<[string, object]> = [], depth = 0): Array<[string, object]> {
  if (v === null || typeof v !== 'object' || depth > 20) return out;
  out.push([path, v]);
  for (const [k, x] of Object.entries(v)) objects(x, `${path}.${k}`, out, depth + 1);
  return out;
}

describe('object property names as user-data keys', () => {
  const positions = mappingPositions(userDataSchema);

  it('finds the mapping positions of the whole contract', () => {
    const names = positions.map((p) => p.join('.'));
    for (const p of ['', 'notify_cfn', 'environment', 'ports', 'mounts', 'mounts.k0', 'volumes', 'logging', 'dockercfg', 'sysctl']) expect(names).toContain(p);
  });

  it('at every position: no crash, an answer with codes, and Object.prototype untouched', () => {
    let checked = 0;
    for (const position of positions) {
      for (const name of NAMES) {
        // A position below the top level replaces the key it sits under (so the base keys stay valid).
        const text = position.length === 0 ? `${BASE}${yamlAt([], name)}` : `${BASE}${yamlAt(position, name)}`;
        const where = `${position.join('.') || '(top)'} / ${name}`;
        let r: ReturnType<typeof validateUserData>;
        try {
          r = validateUserData(text);
        } catch (e) {
          throw new Error(`validate threw at ${where}: ${(e as Error).stack}`);
        }
        for (const i of [...r.errors, ...r.warnings]) expect(i.code, where).toMatch(/^TPG_UD_[A-Z_]+$/);
        if (r.settings) {
          for (const [p, o] of objects(r.settings)) {
            const proto = Object.getPrototypeOf(o);
            // Mappings built from the document have none; values of our own types keep theirs.
            if (proto === Object.prototype)
              expect(
                Object.keys(o).some((k) => NAMES.includes(k) && k !== 'kind'),
                `${where}: ${p}`,
              ).toBe(false);
          }
          expect(() => planSteps(steps, { settings: r.settings!, config: defaultConfig().config, paths: defaultConfig().paths }), where).not.toThrow();
        }
        checked++;
      }
    }
    expect(checked).toBe(positions.length * NAMES.length);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
    expect(typeof ({} as { toString: unknown }).toString).toBe('function');
  });

  it('an unknown top-level key named constructor is a warning, not a crash', () => {
    const r = validateUserData(`${BASE}constructor: x\ntoString: y\n`);
    expect(r.valid).toBe(true);
    expect(r.warnings.map((w) => `${w.code} ${w.path.join('.')}`)).toEqual(['TPG_UD_UNKNOWN_KEY constructor', 'TPG_UD_UNKNOWN_KEY toString']);
  });

  it('inside notify_cfn (unknown keys are errors there): an error at the key', () => {
    const r = validateUserData(`${BASE}notify_cfn:\n  stack: s\n  resource: r\n  constructor: x\n`);
    expect(r.errors).toMatchObject([{ code: 'TPG_UD_UNKNOWN_KEY', path: ['notify_cfn', 'constructor'], line: 9, column: 3 }]);
    // The boot's fallback signal still finds the stack in such a document.
    expect(salvageNotifyCfn({ notify_cfn: { stack: 's', resource: 'r', constructor: 'x' } })).toEqual({ stack: 's', resource: 'r' });
  });

  it('environment keeps __proto__, constructor and hasOwnProperty as variables, in a mapping without a prototype', () => {
    const r = validateUserData(`${BASE}environment:\n  __proto__: v\n  constructor: c\n  hasOwnProperty: h\n`);
    expect(r.valid).toBe(true);
    const env = r.settings!.environment as Record<string, unknown>;
    expect(Object.getPrototypeOf(env)).toBeNull();
    expect(Object.keys(env)).toEqual(['__proto__', 'constructor', 'hasOwnProperty']);
    expect(Object.getOwnPropertyDescriptor(env, '__proto__')?.value).toBe('v');
    expect(Object.getPrototypeOf(r.settings)).toBeNull();
  });

  it('taupage plan --json shows them as variables', async () => {
    const m = memoryIo(`${BASE}environment:\n  __proto__: v\n  valueOf: w\n`);
    expect(await main(['plan', '--json', '-'], m.io)).toBe(0);
    const plan = JSON.parse(m.out()) as { steps: Array<{ id: string; plan: { env?: Array<{ name: string; value: string }> } }> };
    const env = plan.steps.find((s) => s.id === 'container')!.plan.env!;
    expect(env.filter((e) => ['__proto__', 'valueOf'].includes(e.name))).toEqual([
      { name: '__proto__', value: 'v' },
      { name: 'valueOf', value: 'w' },
    ]);
  });
});
