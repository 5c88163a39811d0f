import { join } from 'node:path';
import { startLab, run, REPO } from '../test/integration/ssh/lab.js';
const lab = await startLab({});
try {
  const user = lab.user('probe');
  lab.even.keys.set(user, lab.keygen(user).text);
  await lab.hook(`grant-ssh-access ${user}`);
  const env = { PATH: process.env.PATH, SSH_CONNECTION: '127.0.0.1 1 127.0.0.1 22', TAUPAGE_ROOT: lab.root, TAUPAGE_CONFIG: lab.configFile };
  await run(process.execPath, ['--cpu-prof', '--cpu-prof-dir=/tmp/prof3/refuse', '--cpu-prof-interval=200', join(REPO, 'agent/dist/taupage.mjs'), 'ssh-hook'], { env: { ...env, SSH_ORIGINAL_COMMAND: 'rm -rf /' } });
  await run(process.execPath, ['--cpu-prof', '--cpu-prof-dir=/tmp/prof3/grant', '--cpu-prof-interval=200', join(REPO, 'agent/dist/taupage.mjs'), 'ssh-hook'], { env: { ...env, SSH_ORIGINAL_COMMAND: `grant-ssh-access ${user}` } });
} finally { await lab.close(); }
