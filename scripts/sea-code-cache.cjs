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
// compiled. Both run against loopback stand-ins for everything they talk to
// (scripts/lib/warm-up-cloud.cjs), the role's credentials from the metadata service as on an instance:
// - `credentials --once` (the refresher's timer, every 2 minutes): config, user data validation,
//   the S3 client's whole request path, atomic writes, status;
// - `boot` (every instance start): user data, every step, KMS, S3, Pier One, the Docker engine,
//   the health check, the CloudFormation signal, status and metrics. The logging step's tools are
//   `true` there (rsyslog and logrotate need not be installed where the build runs).
// Each cache comes from a process of its own, so one command's run does not fill another's cache.
// Everything runs in a scratch directory that is removed at the end; nothing leaves loopback.
'use strict';
const { Script } = require('node:vm');
const { createServer } = require('node:net');
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

/** Run `command` once against the loopback stand-ins (scripts/lib/warm-up-cloud.cjs), configured
 * as on an instance: the role's credentials from the metadata service, nothing of the build's
 * environment (AWS settings, DOCKER_HOST, TAUPAGE_*) overriding the config. */
async function warm(dir, command) {
  const cloud = await startWarmUpCloud(dir);
  const closing = [() => cloud.close()];
  try {
    const config = agentYaml(
      dir,
      [
        'log_level: info',
        'metadata:',
        `  endpoint: ${cloud.imds}`,
        'aws:',
        // The boot records the instance's region for the refresher; the same region here for both.
        '  region: eu-central-1',
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
    for (const k of Object.keys(process.env)) if (/^(AWS_|TAUPAGE_|DOCKER_)/.test(k)) delete process.env[k];
    process.env.AWS_CONFIG_FILE = join(dir, 'no-aws-config');
    process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'no-aws-credentials');
    if (command === 'credentials') {
      // The refresher reads the user data the boot wrote.
      mkdirSync(join(dir, 'meta'), { recursive: true });
      writeFileSync(join(dir, 'meta', 'taupage.yaml'), cloud.userData);
      await run(['credentials', '--once', '--config', config]);
      return;
    }
    // What rsyslog makes for the container's log driver (paths.ts applicationLogSocket): the logging
    // step checks it is there after its (stand-in) restart.
    const logDir = join(dir, 'run', 'taupage', 'log');
    mkdirSync(logDir, { recursive: true, mode: 0o700 });
    const logSocket = createServer();
    await new Promise((r) => logSocket.listen(join(logDir, 'application.sock'), r));
    closing.push(() => logSocket.close());
    await run(['boot', '--config', config]);
  } finally {
    for (const close of closing.reverse()) await close();
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
    await warm(dir, command);
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
