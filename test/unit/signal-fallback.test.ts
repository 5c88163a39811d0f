/*! A boot whose user data is invalid still signals FAILURE when notify_cfn can be read, by the
 * same rules for stack and resource as the schema (one definition, steps/signal/schema.ts). */
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { fallbackSignal } from '../../agent/src/steps/signal/plan.js';
import { validateUserData } from '../../agent/src/user-data/validate.js';

const doc = (notifyCfn: string) => `#taupage-ami-config\napplication_id: my-app\nnotify_cfn:\n${notifyCfn}`;

describe('the signal step when the user data is invalid', () => {
  it('plans FAILURE to the stack the document names, whatever else is wrong with it', () => {
    const text = doc('  stack: my-stack\n  resource: AppServerGroup\n  extra: key\n');
    expect(validateUserData(text).valid).toBe(false);
    expect(fallbackSignal(parse(text))).toEqual({ stack: 'my-stack', resource: 'AppServerGroup', uniqueId: 'instance-id' });
  });

  it('plans nothing when notify_cfn breaks the rules the schema has for it', () => {
    const cases = [
      doc(`  stack: ${'s'.repeat(129)}\n  resource: AppServerGroup\n`),
      doc('  stack: my-stack\n'),
      doc('  stack: "my\\nstack"\n  resource: AppServerGroup\n'),
      doc('  stack: ""\n  resource: AppServerGroup\n'),
      doc('  - not a mapping\n'),
    ];
    for (const text of cases) {
      expect(validateUserData(text).errors.some((e) => e.path[0] === 'notify_cfn')).toBe(true);
      expect(fallbackSignal(parse(text))).toBeNull();
    }
    expect(fallbackSignal(undefined)).toBeNull();
  });
});
