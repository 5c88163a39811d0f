// Every configuration the logging step can render from the fixture corpus is accepted by the real
// rsyslogd (-N1, on its own and inside a Debian-like main configuration) and by logrotate.
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { validateUserData } from '../../agent/src/user-data/validate.js';
import { planLogging } from '../../agent/src/steps/logging/plan.js';
import { renderCheckConfig, renderCustomLogReader, renderRsyslog } from '../../agent/src/steps/logging/rsyslog.js';
import { renderLogrotate } from '../../agent/src/steps/logging/logrotate.js';
import { logDaemons } from '../../agent/src/adapters/log-daemons.js';
import { configFromText } from '../../agent/src/config/load.js';
import { scratchRoot } from '../harness/scratch.js';
import { writeDebianLikeConfig } from '../harness/rsyslog.js';

const dir = join(import.meta.dirname, '../fixtures/user-data');
const valid = readdirSync(dir).filter((f) => /^(valid|warn)-.*\.yaml$/.test(f));
const tools = logDaemons({ rsyslogd: 'rsyslogd', logrotate: 'logrotate', restartRsyslog: ['false'], restartCustomLogReader: ['false'] });
const FACTS = { tokens: { logentries: '2bfbea1e-10c3-4419-bdad-7e6435882e1f' }, account: '123456789012', region: 'eu-central-1' };

describe('rendered configurations are accepted by the real tools', () => {
  it.each(valid)('%s', async (file) => {
    const r = validateUserData(readFileSync(join(dir, file), 'utf8'));
    expect(r.valid).toBe(true);
    const root = await scratchRoot({ purpose: 'logconf' });
    await chmod(root, 0o755); // as / is: logrotate looks at /var/log-custom as the application's user
    // An account this machine has (nobody:nogroup; the image's is 999): the custom logs rotate as it.
    const { config, paths } = configFromText(JSON.stringify({ root, application_user: { uid: 65534, gid: 65534 } }), 'test', {});
    const plan = planLogging({ settings: r.settings!, config, paths });
    const dropIn = renderRsyslog(plan, FACTS);
    // On its own, as the step checks it before putting it in place.
    const check = join(root, 'check');
    await mkdir(check, { recursive: true });
    await writeFile(join(check, 'taupage.conf'), dropIn);
    await writeFile(join(check, 'rsyslog.conf'), renderCheckConfig(check, join(check, 'taupage.conf')));
    expect(await tools.checkRsyslog(join(check, 'rsyslog.conf'))).toBeUndefined();
    // In the Debian-like whole configuration.
    writeDebianLikeConfig(root);
    await writeFile(paths.rsyslogDropIn, dropIn);
    expect(await tools.checkRsyslog(paths.rsyslogConf)).toBeUndefined();
    // The custom log reader's own configuration, as the step checks it.
    if (plan.customLogs?.shipped) {
      await writeFile(join(check, 'custom-logs.conf'), renderCustomLogReader(plan, check));
      expect(await tools.checkRsyslog(join(check, 'custom-logs.conf'))).toBeUndefined();
    }
    const files = renderLogrotate(plan);
    for (const f of files) {
      const staged = join(check, f.path.split('/').pop()!);
      await writeFile(staged, f.content);
      expect(await tools.checkLogrotate(staged), f.path).toBeUndefined();
    }
    // application.log is rsyslog's (root's); /var/log-custom the application's, rotated as its owner.
    const su = files.map((f) => [f.path.split('/').pop(), f.content.match(/^ {2}su .*$/gm)]);
    expect(su).toEqual([
      ['taupage-application', null],
      ...(r.settings!.mount_custom_log ? [['taupage-custom', [r.settings!.root ? '  su 0 0' : '  su 65534 65534']]] : []),
    ]);
  });

  it('the checks can fail: rsyslog and logrotate name what they refuse', async () => {
    const root = await scratchRoot({ purpose: 'logconf' });
    await writeFile(join(root, 'bad.conf'), 'module(load="imuxsock" SysSock.Use="off")\ntemplate(name="t" type="string" string="%nosuch%")\n');
    expect(await tools.checkRsyslog(join(root, 'bad.conf'))).toMatch(/invalid property 'nosuch'/);
    await writeFile(join(root, 'bad.rotate'), '/tmp/x.log {\n  missingok\n  rotate many\n}\n');
    expect(await tools.checkLogrotate(join(root, 'bad.rotate'))).toMatch(/^error: .*bad\.rotate:3/);
  });
});
