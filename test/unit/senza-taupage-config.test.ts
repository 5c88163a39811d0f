// A Senza TaupageConfig (validate --senza, plan --senza): the keys Senza fills in may be absent,
// everything else is as strict as in user data, and the rendering matches Senza's.
import { describe, it, expect } from 'vitest';
import { validateSenzaTaupageConfig, validateUserData } from '../../agent/src/user-data/validate.js';
import { renderSenza, SENZA_PLACEHOLDERS } from '../../agent/src/user-data/senza.js';
import { userDataSchema, senzaTaupageConfigSchema, SENZA_FILLS_IN } from '../../agent/src/steps/schema.js';

const FRAGMENT = 'runtime: Docker\nsource: pierone.stups.zalan.do/team/my-app:1.0\n';

describe('validateSenzaTaupageConfig', () => {
  it('accepts a mapping without application_id, application_version and notify_cfn, which user data needs', () => {
    expect(validateSenzaTaupageConfig(FRAGMENT)).toMatchObject({ valid: true, errors: [], warnings: [] });
    expect(validateUserData(FRAGMENT, { requireHeader: false }).errors.map((e) => e.path[0])).toEqual(['application_id', 'application_version']);
  });

  it('needs no header, and a header does no harm', () => {
    expect(validateSenzaTaupageConfig(`#taupage-ami-config\n${FRAGMENT}`).valid).toBe(true);
  });

  it('checks the keys Senza would fill in when the team gives them, the version as senza create does', () => {
    const r = validateSenzaTaupageConfig(`${FRAGMENT}application_id: My_App\napplication_version: "1.0 beta"\nnotify_cfn:\n  stack: s\n`);
    expect(r.errors.map((e) => `${e.code} ${e.path.join('.')}`)).toEqual([
      'TPG_UD_PATTERN application_id',
      'TPG_UD_PATTERN application_version',
      'TPG_UD_REQUIRED notify_cfn.resource',
    ]);
  });

  it('is as strict as user data about everything else: runtime, source, types, aws:kms:, unknown keys under --strict', () => {
    const r = validateSenzaTaupageConfig('source: my-app:latest\nroot: "true"\nenvironment:\n  P: "aws:kms:.."\n');
    expect(r.errors.map((e) => `${e.code} ${e.path.join('.')}`)).toEqual([
      'TPG_UD_REQUIRED runtime',
      'TPG_UD_IMAGE_REF source',
      'TPG_UD_TYPE root',
      'TPG_UD_KMS_BASE64 environment.P',
    ]);
    expect(validateSenzaTaupageConfig(`${FRAGMENT}DefParam: x\n`, { strict: true }).errors.map((e) => e.code)).toEqual(['TPG_UD_UNKNOWN_KEY']);
  });

  it('says what an empty mapping needs', () => {
    expect(validateSenzaTaupageConfig('# nothing\n').errors[0]!.message).toBe('the document is empty; it needs at least runtime and source');
  });

  it('differs from the user-data schema only in the keys Senza fills in', () => {
    const presence = (s: typeof userDataSchema | typeof senzaTaupageConfigSchema) =>
      Object.fromEntries(Object.entries(s.shape as Record<string, { presence: string }>).map(([k, f]) => [k, f.presence]));
    const full = presence(userDataSchema);
    const senza = presence(senzaTaupageConfigSchema);
    expect(Object.keys(senza)).toEqual(Object.keys(full));
    const changed = Object.keys(full).filter((k) => full[k] !== senza[k]);
    expect(changed).toEqual(['application_id', 'application_version']);
    for (const k of SENZA_FILLS_IN) expect(senza[k]).toBe('optional');
  });
});

describe('renderSenza', () => {
  const stack = { name: 'hello', version: '42', component: 'AppServer' };

  it('fills in what is absent as Senza does: stack name, stack version, a signal to the component', () => {
    const config = validateSenzaTaupageConfig(FRAGMENT).settings!;
    const { settings, filledIn } = renderSenza(config, stack);
    expect(filledIn).toEqual(['application_id', 'application_version', 'notify_cfn']);
    expect(settings).toMatchObject({ application_id: 'hello', application_version: '42', notify_cfn: { stack: 'hello-42', resource: 'AppServer' } });
  });

  it('keeps what the TaupageConfig sets', () => {
    const config = validateSenzaTaupageConfig(`${FRAGMENT}application_version: "7"\nnotify_cfn:\n  stack: other\n  resource: Workers\n`).settings!;
    const { settings, filledIn } = renderSenza(config, stack);
    expect(filledIn).toEqual(['application_id']);
    expect(settings).toMatchObject({ application_id: 'hello', application_version: '7', notify_cfn: { stack: 'other', resource: 'Workers' } });
  });

  it('renders what validates as user data once the stack values are real', () => {
    const { settings: s } = renderSenza(validateSenzaTaupageConfig(FRAGMENT).settings!, stack);
    const rendered = `#taupage-ami-config\napplication_id: ${s.application_id}\napplication_version: "${s.application_version}"\n${FRAGMENT}notify_cfn:\n  stack: ${s.notify_cfn!.stack}\n  resource: ${s.notify_cfn!.resource}\n`;
    expect(validateUserData(rendered)).toMatchObject({ valid: true, errors: [], warnings: [] });
  });

  it('shows placeholders for what only senza create knows', () => {
    expect(SENZA_PLACEHOLDERS).toEqual({ name: '<StackName>', version: '<StackVersion>', component: '<ComponentName>' });
  });
});
