// Loopback stand-ins for what `taupage boot` talks to, for the code-cache warm-up of the single
// executable (scripts/sea-code-cache.cjs): the metadata service (IMDSv2: token, user data, identity,
// role credentials), KMS Decrypt, S3 GetObject (Mint's two files), CloudFormation SignalResource,
// a Pier One registry approving one image, the Docker engine's API on a unix socket (inspect, pull,
// create, start) and the application's health check. Each answers just enough, in the real wire
// format, for one whole successful boot to run every step's code path the way an instance runs it.
// Nothing listens beyond 127.0.0.1 and a socket in the scratch directory; no test uses this (the
// tests have test/fakes, which check what they are sent).
'use strict';
const { createServer } = require('node:http');
const { createHash } = require('node:crypto');
const { join } = require('node:path');

const APP = 'warm-up-app';
const BUCKET = 'warm-up-bucket';
const ROLE = 'warm-up-role';
const REPOSITORY = 'team/warm-up-app';
const TAG = '1.0';
const MANIFEST = JSON.stringify({
  schemaVersion: 2,
  mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
  config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: 2, digest: `sha256:${'c'.repeat(64)}` },
  layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: 2, digest: `sha256:${'d'.repeat(64)}` }],
});
const DIGEST = `sha256:${createHash('sha256').update(MANIFEST).digest('hex')}`;

function listen(server, where) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(...where, () => resolve(server));
  });
}

const port = (server) => server.address().port;

function body(req) {
  return new Promise((resolve) => {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => resolve(text));
  });
}

function json(res, status, value, headers = {}) {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers }).end(text);
}

/**
 * Start every stand-in; `dir` is a scratch directory (the engine's socket goes there).
 * Returns what the agent config and the user data need, and close().
 */
async function startWarmUpCloud(dir) {
  const servers = [];
  const serve = async (handler, where = [0, '127.0.0.1']) => {
    const s = await listen(
      createServer((req, res) => {
        Promise.resolve(handler(req, res)).catch((e) => res.writeHead(500).end(String(e)));
      }),
      where,
    );
    servers.push(s);
    return s;
  };

  const app = await serve((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'));
  const registry = await serve((req, res) => {
    if (req.url === `/v2/${REPOSITORY}/manifests/${TAG}`)
      return res
        .writeHead(200, {
          'content-type': 'application/vnd.docker.distribution.manifest.v2+json',
          'docker-content-digest': DIGEST,
          'x-production-ready-taupage': 'true',
          'x-trusted': 'true',
        })
        .end(MANIFEST);
    json(res, 404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] });
  });
  const source = `127.0.0.1:${port(registry)}/${REPOSITORY}:${TAG}`;
  const reference = `127.0.0.1:${port(registry)}/${REPOSITORY}@${DIGEST}`;
  const userData = [
    '#taupage-ami-config',
    `application_id: ${APP}`,
    "application_version: '1.0'",
    'runtime: Docker',
    `source: ${source}`,
    `mint_bucket: ${BUCKET}`,
    'ports:',
    `  ${port(app)}: 8080`,
    'health_check_path: /health',
    'notify_cfn:',
    '  stack: warm-up-stack',
    '  resource: AppServerGroup',
    'environment:',
    '  STAGE: warm-up',
    `  DB_PASSWORD: aws:kms:${Buffer.from('a ciphertext of the warm-up').toString('base64')}`,
    '',
  ].join('\n');

  const identity = {
    instanceId: 'i-0123456789abcdef0',
    region: 'eu-central-1',
    availabilityZone: 'eu-central-1a',
    accountId: '123456789012',
    privateIp: '10.0.0.1',
    imageId: 'ami-0123456789abcdef0',
    instanceType: 't3.micro',
  };
  const imds = await serve((req, res) => {
    if (req.method === 'PUT' && req.url === '/latest/api/token')
      return res.writeHead(200, { 'x-aws-ec2-metadata-token-ttl-seconds': '21600' }).end('warm-up-token');
    const answers = {
      '/latest/user-data': userData,
      '/latest/dynamic/instance-identity/document': JSON.stringify(identity),
      '/latest/dynamic/instance-identity/pkcs7': 'MIAGCSqGSIb3DQEHAqCAMIACAQExCzAJBgUrDgMCGgUAMIAGCSqGSIb3DQEHAaCAJIAE',
      '/latest/meta-data/iam/security-credentials/': ROLE,
      [`/latest/meta-data/iam/security-credentials/${ROLE}`]: JSON.stringify({
        Code: 'Success',
        Type: 'AWS-HMAC',
        AccessKeyId: 'ASIAWARMUP',
        SecretAccessKey: 'warm-up-secret',
        Token: 'warm-up-session',
        Expiration: new Date(Date.now() + 6 * 3600_000).toISOString(),
      }),
      '/latest/meta-data/local-hostname': 'ip-10-0-0-1.eu-central-1.compute.internal',
    };
    const answer = answers[req.url];
    if (answer === undefined) return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/plain' }).end(answer);
  });
  const kms = await serve(async (req, res) => {
    const asked = JSON.parse((await body(req)) || '{}');
    json(
      res,
      200,
      { KeyId: 'arn:aws:kms:eu-central-1:123456789012:key/warm-up', Plaintext: Buffer.from(`plaintext of ${asked.CiphertextBlob ?? ''}`).toString('base64') },
      { 'content-type': 'application/x-amz-json-1.1' },
    );
  });
  const objects = {
    [`/${BUCKET}/${APP}/user.json`]: JSON.stringify({ application_username: `${APP}-user`, application_password: 'not a real password' }),
    [`/${BUCKET}/${APP}/client.json`]: JSON.stringify({ client_id: `${APP}-client`, client_secret: 'not a real secret' }),
  };
  const s3 = await serve((req, res) => {
    const object = objects[req.url.split('?')[0]];
    if (req.method !== 'GET' || object === undefined)
      return res.writeHead(404, { 'content-type': 'application/xml' }).end('<Error><Code>NoSuchKey</Code></Error>');
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(object), etag: '"warm-up"' }).end(object);
  });
  const cloudformation = await serve(async (req, res) => {
    await body(req);
    res
      .writeHead(200, { 'content-type': 'text/xml' })
      .end(
        '<SignalResourceResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><ResponseMetadata><RequestId>warm-up</RequestId></ResponseMetadata></SignalResourceResponse>',
      );
  });

  // The engine: no container until it is created; running once started.
  let container;
  const socket = join(dir, 'docker.sock');
  await serve(
    async (req, res) => {
      const url = new URL(req.url, 'http://engine');
      const path = url.pathname.replace(/^\/v[0-9.]+/, '');
      await body(req);
      // The container by name or by the id it was created with.
      const self = (p, suffix) => p === `/containers/taupageapp/${suffix}` || (container && p === `/containers/${container.Id}/${suffix}`);
      if (req.method === 'GET' && self(path, 'json')) {
        if (!container) return json(res, 404, { message: 'No such container: taupageapp' });
        return json(res, 200, container);
      }
      if (req.method === 'POST' && path === '/images/create') {
        res.writeHead(200, { 'content-type': 'application/json' });
        for (const line of [
          { status: `Pulling from ${REPOSITORY}`, id: DIGEST },
          { status: 'Pulling fs layer', id: 'dddddddddddd' },
          { status: 'Downloading', id: 'dddddddddddd', progressDetail: { current: 1, total: 2 } },
          { status: 'Download complete', id: 'dddddddddddd' },
          { status: 'Pull complete', id: 'dddddddddddd' },
          { status: `Digest: ${DIGEST}` },
          { status: `Status: Downloaded newer image for ${reference}` },
        ])
          res.write(`${JSON.stringify(line)}\r\n`);
        return res.end();
      }
      if (req.method === 'GET' && path.startsWith('/images/') && path.endsWith('/json'))
        return json(res, 200, { Id: `sha256:${'c'.repeat(64)}`, RepoDigests: [reference] });
      if (req.method === 'POST' && path === '/containers/create') {
        container = {
          Id: 'f'.repeat(64),
          Image: `sha256:${'c'.repeat(64)}`,
          Config: { Image: reference, Labels: {} },
          State: { Status: 'created', Running: false, ExitCode: 0 },
          RestartCount: 0,
        };
        return json(res, 201, { Id: container.Id, Warnings: [] });
      }
      if (req.method === 'POST' && container && self(path, 'start')) {
        container.State = { Status: 'running', Running: true, ExitCode: 0 };
        return res.writeHead(204).end();
      }
      json(res, 404, { message: `the warm-up engine does not answer ${req.method} ${path}` });
    },
    [socket],
  );

  const url = (server) => `http://127.0.0.1:${port(server)}`;
  return {
    applicationId: APP,
    userData,
    registry: `127.0.0.1:${port(registry)}`,
    imds: url(imds),
    kms: url(kms),
    s3: url(s3),
    cloudformation: url(cloudformation),
    dockerHost: `unix://${socket}`,
    close: () => Promise.all(servers.map((s) => new Promise((r) => s.close(() => r())))),
  };
}

module.exports = { startWarmUpCloud };
