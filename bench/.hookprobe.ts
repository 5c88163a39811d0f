import { join } from 'node:path';
import { startLab, run, REPO } from '../test/integration/ssh/lab.js';
const SEA = join(REPO, 'agent/dist/taupage');
const lab = await startLab({ agent: [SEA] });
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
try {
  const user = lab.user('probe');
  lab.even.keys.set(user, lab.keygen(user).text);
  await lab.hook(`grant-ssh-access ${user}`);
  const env = { PATH: process.env.PATH, SSH_ORIGINAL_COMMAND: `grant-ssh-access ${user}`, SSH_CONNECTION: '127.0.0.1 1 127.0.0.1 22', TAUPAGE_ROOT: lab.root, TAUPAGE_CONFIG: lab.configFile };
  const t = async (f: () => Promise<unknown>) => { const t0 = performance.now(); await f(); return performance.now() - t0; };
  const a: number[] = [], b: number[] = [], c: number[] = [], d: number[] = [];
  for (let i = 0; i < 9; i++) {
    a.push(await t(() => lab.hook(`grant-ssh-access ${user}`)));
    b.push(await t(() => run(SEA, ['ssh-hook'], { env })));
    c.push(await t(() => run(SEA, ['--version'], { env })));
    d.push(await t(() => run(SEA, ['ssh-hook'], { env: { ...env, SSH_ORIGINAL_COMMAND: 'rm -rf /' } })));
  }
  console.log('grant via ssh', med(a).toFixed(0), 'direct grant', med(b).toFixed(0), 'sea --version', med(c).toFixed(0), 'direct refusal', med(d).toFixed(0));
} finally { await lab.close(); }
