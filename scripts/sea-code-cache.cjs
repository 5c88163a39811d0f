#!/usr/bin/env node
// A V8 code cache of the single executable (scripts/build.mjs --sea runs this once per cache, with
// the image's Node, the binary the executable is a copy of: V8 rejects a cache made by another
// version; agent/src/sea-main.ts picks the cache by command):
//
//   SEA_NODE scripts/sea-code-cache.cjs WRAPPED_AGENT.cjs OUT.cache             the top level, for every command
//   SEA_NODE scripts/sea-code-cache.cjs WRAPPED_AGENT.cjs OUT.cache credentials  after one `credentials --once`
//   SEA_NODE scripts/sea-code-cache.cjs WRAPPED_AGENT.cjs OUT.cache boot         after one whole `boot`
//
// A cache made right after compiling holds only the functions V8 compiles eagerly: the top level.
// Every module the bundle initialises lazily (the AWS clients and their middleware, dockerode,
// undici, the steps) is still compiled on each start, which is most of what a command costs beyond
// Node's own start. So for the two commands an instance runs on its own, this runs the command
// once, in this process, and makes the cache afterwards, when it also holds every function that run
// compiled:
// - `credentials --once` (the refresher's timer, every 2 minutes) against a loopback server that
//   answers like S3: config, user data validation, the S3 client's whole request path, atomic
//   writes, status;
// - `boot` (every instance start) against loopback stand-ins for everything it talks to
//   (scripts/lib/warm-up-cloud.cjs): user data, every step, KMS, S3, Pier One, the Docker engine,
//   the health check, the CloudFormation signal, status and metrics. The logging step's tools are
//   `true` there (rsyslog and logrotate need not be installed where the build runs).
// Each cache comes from a process of its own, so one command's run does not fill another's cache.
// Everything runs in a scratch directory that is removed at the end; nothing leaves loopback.
'use strict';
const { Script } = require('node:vm');
const { createServer } = require('node:net');
const { createServer: createHttpServer } = require('node:http');
const { mkdtempSync, mkdirSync, writeFileSync, rmSync, readFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { startWarmUpCloud } = require('./lib/warm-up-cloud.cjs');

const USAGE = 'usage: SEA_NODE scripts/sea-code-cache.cjs WRAPPED_AGENT.cjs OUT.cache [credentials|boot]';
const [agentFile, out, command] = process.argv.slice(2);
if (!agentFile || !out || (command !== undefined && command !== 'credentials' && command !== 'boot')) {
  console.error(USAGE);
  process.exit(2);
}
// The filename must be the one agent/src/sea-main.ts compiles the asset under (AGENT_ASSET).
const source = readFileSync(agentFile, 'utf8');
const script = new Script(source, { filename: 'taupage.cjs' });

/** Run one command of the agent to its end, as agent/src/sea-main.ts runs it (the bundle's module
 * function); process.exit is where the agent's one exit is. */
function run(args) {
  const agent = script.runInThisContext();
  return new Promise((resolve, reject) => {
    const exit = process.exit;
    process.exit = (code) => {
      process.exit = exit;
      if (code) reject(new Error(`taupage ${args.join(' ')} exited ${code} during the code-cache warm-up`));
      else resolve();
    };
    process.argv = [process.argv[0], 'taupage', ...args];
    const m = { exports: {} };
    agent(m.exports, require, m, agentFile, __dirname);
  });
}

/** The agent config of a warm-up: everything under `dir`, files owned by whoever builds. */
function agentYaml(dir, extra) {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const file = join(dir, 'agent.yaml');
  writeFileSync(file, `root: ${dir}\napplication_user:\n  uid: ${uid}\n  gid: ${gid}\n${extra}`);
  return file;
}

async function warmCredentials(dir) {
  const BUCKET = 'warm-up';
  const APP = 'warm-up-app';
  const OBJECTS = {
    [`/${BUCKET}/${APP}/user.json`]: JSON.stringify({ application_username: `${APP}-user`, application_password: 'not a real password' }),
    [`/${BUCKET}/${APP}/client.json`]: JSON.stringify({ client_id: `${APP}-client`, client_secret: 'not a real secret' }),
  };
  const server = createHttpServer((req, res) => {
    const body = OBJECTS[req.url.split('?')[0]];
    if (req.method !== 'GET' || body === undefined) {
      res.writeHead(404, { 'content-type': 'application/xml' }).end('<Error><Code>NoSuchKey</Code></Error>');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), etag: '"warm-up"' }).end(body);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  try {
    const userData = `#taupage-ami-config\napplication_id: ${APP}\napplication_version: '1.0'\nruntime: Docker\nsource: registry.example.org/team/app:1.0\nmint_bucket: ${BUCKET}\nports:\n  8080: 8080\nenvironment:\n  STAGE: warm-up\n`;
    const config = agentYaml(
      dir,
      `log_level: warn\naws:\n  region: eu-central-1\n  endpoints:\n    s3: http://127.0.0.1:${server.address().port}\n  s3_force_path_style: true\n`,
    );
    mkdirSync(join(dir, 'meta'), { recursive: true });
    writeFileSync(join(dir, 'meta', 'taupage.yaml'), userData);
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'warm-up', AWS_SECRET_ACCESS_KEY: 'warm-up', AWS_EC2_METADATA_DISABLED: 'true' });
    await run(['credentials', '--once', '--config', config]);
  } finally {
    server.close();
  }
}

async function warmBoot(dir) {
  const cloud = await startWarmUpCloud(dir);
  // What rsyslog makes for the container's log driver (paths.ts applicationLogSocket): the logging
  // step checks it is there after its (stand-in) restart.
  const logDir = join(dir, 'run', 'taupage', 'log');
  mkdirSync(logDir, { recursive: true, mode: 0o700 });
  const logSocket = createServer();
  await new Promise((r) => logSocket.listen(join(logDir, 'application.sock'), r));
  try {
    const config = agentYaml(
      dir,
      [
        'log_level: info',
        'metadata:',
        `  endpoint: ${cloud.imds}`,
        'aws:',
        '  endpoints:',
        `    kms: ${cloud.kms}`,
        `    s3: ${cloud.s3}`,
        `    cloudformation: ${cloud.cloudformation}`,
        '  s3_force_path_style: true',
        'docker:',
        `  host: ${cloud.dockerHost}`,
        'pierone:',
        `  registries: [${cloud.registry}]`,
        'logging:',
        '  rsyslogd: "true"',
        '  logrotate: "true"',
        '  restart_rsyslog: ["true"]',
        '',
      ].join('\n'),
    );
    // The instance role's credentials come from the metadata service, as on an instance.
    // Nothing of the build's environment (AWS settings, DOCKER_HOST, TAUPAGE_*) may override the config.
    for (const k of Object.keys(process.env)) if (/^(AWS_|TAUPAGE_|DOCKER_)/.test(k)) delete process.env[k];
    process.env.AWS_CONFIG_FILE = join(dir, 'no-aws-config');
    process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'no-aws-credentials');
    await run(['boot', '--config', config]);
  } finally {
    logSocket.close();
    await cloud.close();
  }
}

async function main() {
  if (command === undefined) {
    // The top level's cache: compiled, not run.
    writeFileSync(out, script.createCachedData());
    return;
  }
  const eagerBytes = script.createCachedData().length;
  const dir = mkdtempSync(join(tmpdir(), 'taupage-code-cache-'));
  try {
    await (command === 'credentials' ? warmCredentials(dir) : warmBoot(dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const cache = script.createCachedData();
  // The run compiles at least as much again as the top level; a cache no larger means it compiled
  // nothing, and the command would silently start as slowly as without this script.
  if (cache.length < 2 * eagerBytes)
    throw new Error(`the warmed code cache (${cache.length} bytes) is not larger than the top level's (${eagerBytes}): did ${command} run?`);
  writeFileSync(out, cache);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  },
);
