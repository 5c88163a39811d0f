/*! Even on loopback, speaking its wire protocol for what the host uses:
 * `GET /public-keys/{name}/sshkey.pub` → 200 text/plain key, or 404 "User not found".
 * HTTPS with a given key and certificate (the image test: Even must be https off loopback).
 * Knobs for tests: keys to serve, a number of failures (status) before answering, a delay. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface FakeEven {
  url: string;
  keys: Map<string, string>;
  /** Paths requested, in order. */
  requests: string[];
  /** Answer the next `count` requests with `status`. */
  failNext(count: number, status: number): void;
  /** Wait this long before answering (timeouts). */
  delayMs: number;
  close(): Promise<void>;
}

export async function startFakeEven(
  keys: Record<string, string> = {},
  options: { host?: string; tls?: { key: string; cert: string } } = {},
): Promise<FakeEven> {
  const host = options.host ?? '127.0.0.1';
  let failures: { count: number; status: number } = { count: 0, status: 500 };
  const state: FakeEven = {
    url: '',
    keys: new Map(Object.entries(keys)),
    requests: [],
    failNext: (count, status) => {
      failures = { count, status };
    },
    delayMs: 0,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    state.requests.push(req.url ?? '');
    const answer = () => {
      if (failures.count > 0) {
        failures.count--;
        res.writeHead(failures.status, { 'content-type': 'text/plain' }).end('unavailable');
        return;
      }
      const m = /^\/public-keys\/([^/]+)\/sshkey\.pub$/.exec(req.url ?? '');
      if (req.method !== 'GET' || !m) return void res.writeHead(404).end('Not found');
      const key = state.keys.get(decodeURIComponent(m[1]!));
      if (key === undefined) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('User not found');
      res.writeHead(200, { 'content-type': 'text/plain' }).end(key);
    };
    if (state.delayMs) setTimeout(answer, state.delayMs);
    else answer();
  };
  const server: Server = options.tls ? createTlsServer(options.tls, handler) : createServer(handler);
  server.keepAliveTimeout = 100;
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  state.url = `${options.tls ? 'https' : 'http'}://${host}:${(server.address() as AddressInfo).port}`;
  return state;
}
