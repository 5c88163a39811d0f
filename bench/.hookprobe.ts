import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { startLab, REPO } from '../test/integration/ssh/lab.js';
const lab = await startLab({});
writeFileSync('/tmp/labenv.sh', `export TAUPAGE_ROOT='${lab.root}' TAUPAGE_CONFIG='${lab.configFile}' SSH_CONNECTION='127.0.0.1 1 127.0.0.1 22'\n`);
console.log('lab up; sleeping');
await new Promise((r) => setTimeout(r, 120_000));
await lab.close();
