#!/usr/bin/env node
// The V8 code caches of the single executable (scripts/build.mjs --sea runs this with the image's
// Node, the binary the executable is a copy of: V8 rejects a cache made by another version):
// TOP.cache, of the agent's top level, for every command, and CREDENTIALS.cache for
// `taupage credentials` (agent/src/sea-main.ts picks it for that command).
//
// usage: SEA_NODE scripts/sea-code-cache.cjs WRAPPED_AGENT.cjs TOP.cache CREDENTIALS.cache
//
// A cache made right after compiling holds only the functions V8 compiles eagerly: the top level.
// Every module the bundle initialises lazily (the S3 client and its middleware above all) is still
// compiled on each start, which is most of what `taupage credentials --once` costs beyond Node's
// own start. So this runs `taupage credentials --once` once, in this process, against a loopback
// server that answers like S3 (config, user data validation, the S3 client's whole request path,
// atomic writes, status), and makes the cache afterwards, when it also holds every function that
// run compiled. Everything runs in a scratch directory that is removed at the end; nothing leaves
// loopback.
'use strict';
const { Script } = require('node:vm');
const { createServer } = require('node:http');
const { mkdtempSync, mkdirSync, writeFileSync, rmSync, readFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const [agentFile, topOut, out] = process.argv.slice(2);
if (!agentFile || !topOut || !out) {
  console.error('usage: SEA_NODE scripts/sea-code-cache.cjs WRAPPED_AGENT.cjs TOP.cache CREDENTIALS.cache');
  process.exit(2);
}
// The filename must be the one agent/src/sea-main.ts compiles the asset under (AGENT_ASSET).
const source = readFileSync(agentFile, 'utf8');
// The top level's cache comes from a script of its own, compiled and not run.
writeFileSync(topOut, new Script(source, { filename: 'taupage.cjs' }).createCachedData());
const script = new Script(source, { filename: 'taupage.cjs' });
const agent = script.runInThisContext();
const eagerBytes = script.createCachedData().length;

const BUCKET = 'warm-up';
const APP = 'warm-up-app';
const OBJECTS = {
  [`/${BUCKET}/${APP}/user.json`]: JSON.stringify({ application_username: `${APP}-user`, application_password: 'not a real password' }),
  [`/${BUCKET}/${APP}/client.json`]: JSON.stringify({ client_id: `${APP}-client`, client_secret: 'not a real secret' }),
};

/** Run one command of the agent to its end, as agent/src/sea-main.ts runs it (the bundle's module
 * function); process.exit is where the agent's one exit is. */
function run(args) {
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

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'taupage-code-cache-'));
  const server = createServer((req, res) => {
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
    const agentYaml = join(dir, 'agent.yaml');
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    writeFileSync(
      agentYaml,
      `root: ${dir}\nlog_level: warn\naws:\n  region: eu-central-1\n  endpoints:\n    s3: http://127.0.0.1:${server.address().port}\n  s3_force_path_style: true\napplication_user:\n  uid: ${uid}\n  gid: ${gid}\n`,
    );
    const meta = join(dir, 'meta');
    mkdirSync(meta, { recursive: true });
    writeFileSync(join(meta, 'taupage.yaml'), userData);
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'warm-up', AWS_SECRET_ACCESS_KEY: 'warm-up', AWS_EC2_METADATA_DISABLED: 'true' });
    delete process.env.TAUPAGE_CONFIG;
    await run(['credentials', '--once', '--config', agentYaml]);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const cache = script.createCachedData();
  // The S3 client alone triples it; a cache no larger than the top level's means the run compiled
  // nothing, and the refresher would silently start as slowly as without this script.
  if (cache.length < 2 * eagerBytes)
    throw new Error(`the warmed code cache (${cache.length} bytes) is not larger than the top level's (${eagerBytes}): did credentials --once run?`);
  writeFileSync(out, cache);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  },
);
