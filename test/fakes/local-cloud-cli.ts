/*! `scripts/local-cloud`: run the local cloud (fake IMDS, KMS, CloudFormation, EC2) as a daemon.
 *
 *   start [--user-data FILE]   start in the background (no-op when running); prints the env lines
 *   stop                       stop it
 *   env [--no-keys]            `export NAME=value` lines for eval; --no-keys: the SDK takes the
 *                              instance role credentials from the fake IMDS instead
 *   status                     running or not, and the state file
 *   user-data FILE|-|--none    set the instance's user data
 *   encrypt TEXT               print an aws:kms: value the fake KMS decrypts
 *   signals                    the CloudFormation signals received, as JSON
 *   faults imds|kms|cloudformation|ec2 JSON   e.g. '{"throttleNext":3}', '{"down":"refuse"}', '{"clear":true}'
 *   serve                      run in the foreground (what start runs)
 *
 * State lives in $LOCAL_CLOUD_DIR (default .tmp/local-cloud): local-cloud.json (ports, pid) and
 * local-cloud.log. A small control server on loopback carries the commands to the daemon. */
import { processAlive } from '../../agent/src/lib/process-alive.js';
import { spawn } from 'node:child_process';
import { createServer, request } from 'node:http';
import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { REPO } from '../harness/repo.js';
import { startLocalCloud } from './local-cloud.js';
import { applyFaults, type FaultState } from './http-fake.js';
import { kmsValue } from './kms.js';

const dir = resolve(process.env.LOCAL_CLOUD_DIR ?? join(REPO, '.tmp', 'local-cloud'));
const stateFile = join(dir, 'local-cloud.json');

interface State {
  pid: number;
  control: string;
  env: Record<string, string>;
  envNoKeys: Record<string, string>;
}

function readState(): State | undefined {
  try {
    return JSON.parse(readFileSync(stateFile, 'utf8')) as State;
  } catch {
    return undefined;
  }
}

function running(): State | undefined {
  const s = readState();
  return s && processAlive(s.pid) ? s : undefined;
}

function printEnv(env: Record<string, string>): void {
  for (const [k, v] of Object.entries(env)) process.stdout.write(`export ${k}=${shellQuote(v)}\n`);
}

function shellQuote(v: string): string {
  return /^[A-Za-z0-9_./:@-]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`;
}

async function control(method: string, path: string, body?: string): Promise<string> {
  const s = running();
  if (!s) throw new Error('the local cloud is not running; start it with scripts/local-cloud start');
  return new Promise((res, rej) => {
    const req = request(`${s.control}${path}`, { method }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if ((r.statusCode ?? 500) >= 400) rej(new Error(text));
        else res(text);
      });
    });
    req.on('error', rej);
    req.end(body);
  });
}

async function serve(): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const cloud = await startLocalCloud();
  const services = { imds: cloud.imds, kms: cloud.kms, cloudformation: cloud.cloudformation, ec2: cloud.ec2 } as const;
  const ctl = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const url = req.url ?? '/';
        try {
          let out: unknown = { ok: true };
          if (url === '/user-data' && req.method === 'PUT') cloud.imds.setUserData(body);
          else if (url === '/user-data' && req.method === 'DELETE') cloud.imds.setUserData(null);
          else if (url === '/signals') out = cloud.cloudformation.signals;
          else if (url.startsWith('/faults/') && req.method === 'POST') {
            const name = url.slice('/faults/'.length) as keyof typeof services;
            if (!services[name]) throw new Error(`unknown service ${name}; one of ${Object.keys(services).join(', ')}`);
            await applyFaults(services[name].faults, JSON.parse(body.toString('utf8') || '{}') as Partial<FaultState> & { clear?: boolean });
          } else {
            res.writeHead(404).end('unknown control path');
            return;
          }
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out, null, 2));
        } catch (e) {
          res.writeHead(400).end((e as Error).message);
        }
      })();
    });
  });
  await new Promise<void>((r) => ctl.listen(0, '127.0.0.1', r));
  const state: State = {
    pid: process.pid,
    control: `http://127.0.0.1:${(ctl.address() as AddressInfo).port}`,
    env: cloud.env(),
    envNoKeys: cloud.env({ withKeys: false }),
  };
  writeFileSync(stateFile, `${JSON.stringify(state, null, 2)}\n`);
  process.stderr.write(`local cloud: imds ${cloud.imds.url} kms ${cloud.kms.url} cloudformation ${cloud.cloudformation.url} ec2 ${cloud.ec2.url}\n`);
  const stop = async () => {
    ctl.close();
    await cloud.close();
    const s = readState();
    if (s?.pid === process.pid) rmSync(stateFile, { force: true });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

async function start(args: string[]): Promise<void> {
  let s = running();
  if (s) {
    process.stderr.write(`local cloud already running (pid ${s.pid})\n`);
  } else {
    mkdirSync(dir, { recursive: true });
    rmSync(stateFile, { force: true });
    const log = openSync(join(dir, 'local-cloud.log'), 'a');
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'serve'], {
      cwd: REPO,
      detached: true,
      stdio: ['ignore', log, log],
      env: { ...process.env, LOCAL_CLOUD_DIR: dir },
    });
    child.unref();
    for (let i = 0; i < 200 && !s; i++) {
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
      s = running();
    }
    if (!s) throw new Error(`the local cloud did not start; see ${join(dir, 'local-cloud.log')}`);
    process.stderr.write(`local cloud started (pid ${s.pid}); state in ${stateFile}\n`);
  }
  const i = args.indexOf('--user-data');
  if (i >= 0 && args[i + 1]) await control('PUT', '/user-data', readFileSync(args[i + 1]!, 'utf8'));
  printEnv(s.env);
}

async function stop(): Promise<void> {
  const s = running();
  if (!s) {
    rmSync(stateFile, { force: true });
    process.stderr.write('local cloud not running\n');
    return;
  }
  process.kill(s.pid, 'SIGTERM');
  for (let i = 0; i < 100 && processAlive(s.pid); i++) await new Promise((r) => setTimeout(r, 50));
  rmSync(stateFile, { force: true });
  process.stderr.write(`local cloud stopped (pid ${s.pid})\n`);
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...args] = argv;
  switch (cmd) {
    case 'serve':
      await serve();
      return -1; // keep running
    case 'start':
      await start(args);
      return 0;
    case 'stop':
      await stop();
      return 0;
    case 'env': {
      const s = running();
      if (!s) throw new Error('the local cloud is not running; start it with scripts/local-cloud start');
      printEnv(args.includes('--no-keys') ? s.envNoKeys : s.env);
      return 0;
    }
    case 'status': {
      const s = running();
      process.stdout.write(s ? `running (pid ${s.pid})\n${JSON.stringify(s, null, 2)}\n` : 'not running\n');
      return s ? 0 : 3;
    }
    case 'user-data': {
      const file = args[0];
      if (!file) throw new Error('usage: local-cloud user-data FILE|-|--none');
      if (file === '--none') await control('DELETE', '/user-data');
      else await control('PUT', '/user-data', file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8'));
      return 0;
    }
    case 'encrypt': {
      if (args[0] === undefined) throw new Error('usage: local-cloud encrypt TEXT');
      process.stdout.write(`${kmsValue(args[0])}\n`);
      return 0;
    }
    case 'signals':
      process.stdout.write(`${await control('GET', '/signals')}\n`);
      return 0;
    case 'faults': {
      if (!args[0] || !args[1]) throw new Error('usage: local-cloud faults imds|kms|cloudformation|ec2 \'{"throttleNext":3}\'');
      await control('POST', `/faults/${args[0]}`, args[1]);
      return 0;
    }
    default:
      process.stderr.write(
        'usage: scripts/local-cloud start [--user-data FILE] | stop | env [--no-keys] | status | user-data FILE|-|--none | encrypt TEXT | signals | faults SERVICE JSON\n',
      );
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (e: Error) => {
    process.stderr.write(`local-cloud: ${e.message}\n`);
    process.exit(1);
  },
);
