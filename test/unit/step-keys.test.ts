// Every key of the user-data contract belongs to exactly one step, so plan and status can say what
// this image does with it (a key nobody owns would be dropped from the report without a word).
import { describe, expect, it } from 'vitest';
import { steps } from '../../agent/src/steps/index.js';
import { userDataFragments } from '../../agent/src/steps/schema.js';

describe('step keys', () => {
  it('each key outside the unsupported ones has one owning step; unsupported keys have none', () => {
    const { unsupported, ...owned } = userDataFragments;
    const owners = new Map<string, string[]>();
    for (const s of steps) for (const k of s.keys ?? []) owners.set(k, [...(owners.get(k) ?? []), s.id]);
    const keys = Object.values(owned).flatMap((f) => Object.keys(f));
    expect(keys.filter((k) => owners.get(k)?.length !== 1)).toEqual([]);
    expect(Object.keys(unsupported).filter((k) => owners.has(k))).toEqual([]);
    expect([...owners.keys()].filter((k) => !keys.includes(k))).toEqual([]);
  });
});
