// YAML the parser accepts but a document cannot mean gets its own code at its own position:
// an alias to no anchor, a merge of something that is not a mapping. Alias bombs keep theirs.
import { describe, it, expect } from 'vitest';
import { validateUserData } from '../../agent/src/user-data/validate.js';

const HEAD = '#taupage-ami-config\napplication_id: my-app\napplication_version: "1.0"\nruntime: Docker\nsource: pierone.stups.zalan.do/team/my-app:1.0\n';
const errors = (extra: string) => validateUserData(HEAD + extra).errors.map((e) => `${e.code} ${e.path.join('.')} ${e.line}:${e.column}`);

describe('aliases and merges', () => {
  it('an undefined alias in a merge is TPG_UD_ALIAS_UNDEFINED at the alias (not an alias limit at 1:1)', () => {
    expect(errors('environment:\n  <<: *missing\n')).toEqual(['TPG_UD_ALIAS_UNDEFINED environment 7:7']);
  });
  it('an undefined alias as a value, and one used before its anchor', () => {
    expect(errors('environment:\n  A: *nope\n')).toEqual(['TPG_UD_ALIAS_UNDEFINED environment.A 7:6']);
    expect(errors('environment:\n  A: *later\n  B: &later x\n')).toEqual(['TPG_UD_ALIAS_UNDEFINED environment.A 7:6']);
  });
  it('a merge of a scalar, or of a list of scalars, is TPG_UD_MERGE_NOT_MAPPING at the merged value', () => {
    expect(errors('x: &s 3\nenvironment:\n  <<: *s\n')).toEqual(['TPG_UD_MERGE_NOT_MAPPING environment 8:7']);
    expect(errors('environment:\n  <<: plain\n')).toEqual(['TPG_UD_MERGE_NOT_MAPPING environment 7:7']);
    expect(errors('a: &a {A: 1}\nb: &b 2\nenvironment:\n  <<: [*a, *b]\n')).toEqual(['TPG_UD_MERGE_NOT_MAPPING environment 9:12']);
  });
  it('merges of mappings still work', () => {
    const r = validateUserData(`${HEAD}base: &base\n  A: "1"\nenvironment:\n  <<: *base\n  B: "2"\n`);
    expect(r.errors).toEqual([]);
    expect(r.settings!.environment).toEqual({ A: '1', B: '2' });
  });
  it('an alias bomb is still TPG_UD_ALIAS_LIMIT', () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 10; i++)
      levels.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(',')}]`,
      );
    expect(validateUserData(`${HEAD}${levels.join('\n')}\n`).errors.map((e) => e.code)).toEqual(['TPG_UD_ALIAS_LIMIT']);
  });
});
