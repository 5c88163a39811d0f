/*! A real S3 server (s3rver) on loopback for a test file: start on an ephemeral port, seed and
 * rotate objects, stop and start again on the same port and data ("S3 down, then up"). */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

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

export async function startS3(buckets: string[]): Promise<LocalS3> {
  const directory = await mkdtemp(join(tmpdir(), 'tpg-s3-'));
  let port = 0;
  let server: S3rver | undefined;
  const start = async () => {
    const s = new S3rver({ address: '127.0.0.1', port, directory, silent: true, configureBuckets: buckets.map((name) => ({ name })) });
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
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    port,
    async put(bucket, key, body) {
      const res = await fetch(`${endpoint}/${bucket}/${key}`, { method: 'PUT', body, headers: { 'content-type': 'application/json' } });
      if (res.status !== 200) throw new Error(`PUT ${key}: ${res.status} ${await res.text()}`);
      return res.headers.get('etag') ?? '';
    },
    async remove(bucket, key) {
      const res = await fetch(`${endpoint}/${bucket}/${key}`, { method: 'DELETE' });
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
