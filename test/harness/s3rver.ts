/*! A real S3 server (s3rver) on loopback for a test file: start on an ephemeral port, seed and
 * rotate objects, stop and start again on the same port and data ("S3 down, then up").
 *
 * s3rver checks only that the access key id is one it knows (V4 signatures are not verified), so
 * `accessKeyIds` lets the instance role's keys from the fake IMDS in, as S3 would for the role.
 *
 * Also a command for the demo: `node --import tsx test/harness/s3rver.ts --bucket NAME
 * [--access-key-id ID]... [--put KEY=FILE]... [--dir DIR]` prints `S3=http://127.0.0.1:port` and
 * serves until SIGTERM/SIGINT. */
import { mkdtemp, rm, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import S3rver from 's3rver';
import { serveUntilSignal, whenMain } from './command.js';

/** s3rver's account registry: the same module instance s3rver itself uses. */
const accounts = createRequire(import.meta.url)('s3rver/lib/models/account.js') as { DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void } };

export interface LocalS3 {
  endpoint: string;
  port: number;
  /** PUT an object (s3rver accepts unsigned requests); returns its ETag. */
  put(bucket: string, key: string, body: string): Promise<string>;
  remove(bucket: string, key: string): Promise<void>;
  stop(): Promise<void>;
  /** Start again on the same port with the same data. */
  start(): Promise<void>;
  /** Stop and remove the data. */
  dispose(): Promise<void>;
}

export interface LocalS3Options {
  /** Access key ids accepted besides s3rver's own S3RVER (any secret goes). */
  accessKeyIds?: string[];
  /** Data directory (default: a fresh temporary one, removed by dispose). */
  directory?: string;
  /** Address to listen on (default 127.0.0.1), e.g. a Docker bridge's, for a booted image. */
  address?: string;
}

/** fetch for PUT and DELETE, sent again once when the connection fails: a kept-alive socket that
 * s3rver closes as idle just as it is reused answers ECONNRESET (seen after a pause of seconds). */
async function idempotent(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch {
    return fetch(url, init);
  }
}

export async function startS3(buckets: string[], options: LocalS3Options = {}): Promise<LocalS3> {
  for (const id of options.accessKeyIds ?? []) accounts.DUMMY_ACCOUNT.createKeyPair(id, 'any secret: s3rver does not verify V4 signatures');
  const directory = options.directory ?? (await mkdtemp(join(tmpdir(), 'tpg-s3-')));
  const address = options.address ?? '127.0.0.1';
  let port = 0;
  let server: S3rver | undefined;
  const start = async () => {
    const s = new S3rver({ address, port, directory, silent: true, configureBuckets: buckets.map((name) => ({ name })) });
    port = (await s.run()).port;
    server = s;
  };
  await start();
  const stop = async () => {
    const s = server;
    server = undefined;
    if (!s) return;
    const closing = s.close();
    s.httpServer?.closeAllConnections(); // keep-alive sockets would keep "down" S3 half up
    await closing;
  };
  const endpoint = `http://${address}:${port}`;
  return {
    endpoint,
    port,
    async put(bucket, key, body) {
      const res = await idempotent(`${endpoint}/${bucket}/${key}`, { method: 'PUT', body, headers: { 'content-type': 'application/json' } });
      if (res.status !== 200) throw new Error(`PUT ${key}: ${res.status} ${await res.text()}`);
      // s3rver answers a PUT before its write stream has flushed (FilesystemStore.putObject
      // resolves on the input's end): a GET right after can find the object empty. Mint's writes
      // land whole, so wait until the object reads back as written.
      for (let tries = 0; ; tries++) {
        const back = await idempotent(`${endpoint}/${bucket}/${key}`, { method: 'GET' });
        if (back.status === 200 && (await back.text()) === body) break;
        if (tries >= 100) throw new Error(`PUT ${key}: s3rver does not give back what was written`);
        await new Promise((r) => setTimeout(r, 5));
      }
      return res.headers.get('etag') ?? '';
    },
    async remove(bucket, key) {
      const res = await idempotent(`${endpoint}/${bucket}/${key}`, { method: 'DELETE' });
      if (res.status !== 204) throw new Error(`DELETE ${key}: ${res.status}`);
    },
    stop,
    start,
    async dispose() {
      await stop();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

async function main(argv: string[]): Promise<void> {
  const all = (flag: string) => argv.flatMap((a, i) => (a === flag && argv[i + 1] !== undefined ? [argv[i + 1]!] : []));
  const [bucket] = all('--bucket');
  if (!bucket) throw new Error('usage: s3rver.ts --bucket NAME [--access-key-id ID]... [--put KEY=FILE]... [--dir DIR]');
  const [dir] = all('--dir');
  const s3 = await startS3([bucket], { accessKeyIds: all('--access-key-id'), ...(dir ? { directory: dir } : {}) });
  for (const put of all('--put')) {
    const eq = put.indexOf('=');
    await s3.put(bucket, put.slice(0, eq), await readFile(put.slice(eq + 1), 'utf8'));
  }
  serveUntilSignal(`S3=${s3.endpoint}`, () => s3.stop());
}

whenMain(import.meta.url, main);
