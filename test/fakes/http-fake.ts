/*! The loopback HTTP server every fake AWS service is built on, with the fault controls tests
 * use: a delay on every answer, an error status or throttling for the next N requests, and
 * "down" (connection refused, or connections reset as soon as they open).
 *
 * Each service (imds.ts, kms.ts, cloudformation.ts) supplies the protocol: a request handler and
 * how an error or a throttle looks on its wire (IMDS: bare status; KMS: JSON `__type`;
 * CloudFormation: query-protocol XML). Servers listen on 127.0.0.1, port 0 unless told. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface FakeRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

export interface FakeResponse {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/** What every request looked like and how it was answered, for assertions. */
export interface RecordedRequest {
  method: string;
  path: string;
  status: number | 'reset';
  headers: IncomingMessage['headers'];
  at: number;
}

export interface FaultState {
  /** Every answer waits this long first. */
  delayMs: number;
  /** The next `errorNext` requests get `errorStatus` in the protocol's error shape. */
  errorNext: number;
  errorStatus: number;
  /** The next `throttleNext` requests are throttled (protocol-specific answer). */
  throttleNext: number;
  /** false, or: 'refuse' (nothing listens; connection refused), 'reset' (accepted, then destroyed). */
  down: false | 'refuse' | 'reset';
}

export interface Faults {
  readonly state: Readonly<FaultState>;
  delay(ms: number): void;
  failNext(n: number, status?: number): void;
  throttleNext(n: number): void;
  down(mode?: 'refuse' | 'reset'): Promise<void>;
  up(): Promise<void>;
  /** Back to healthy: no delay, no errors, listening. */
  clear(): Promise<void>;
}

export interface FakeServer {
  url: string;
  port: number;
  faults: Faults;
  requests: RecordedRequest[];
  /** Requests being answered right now, and the most at once so far (concurrency assertions). */
  inFlight: { now: number; max: number };
  close(): Promise<void>;
}

export interface FakeProtocol {
  name: string;
  handle(req: FakeRequest): FakeResponse | Promise<FakeResponse>;
  throttled(req: FakeRequest): FakeResponse;
  error(status: number, req: FakeRequest): FakeResponse;
}

export async function startFakeServer(protocol: FakeProtocol, options: { port?: number; host?: string } = {}): Promise<FakeServer> {
  const host = options.host ?? '127.0.0.1';
  const state: FaultState = { delayMs: 0, errorNext: 0, errorStatus: 500, throttleNext: 0, down: false };
  const requests: RecordedRequest[] = [];
  const inFlight = { now: 0, max: 0 };
  const sockets = new Set<Socket>();
  let server: Server;
  let port = options.port ?? 0;
  let listening = false;

  const onRequest = async (req: IncomingMessage, res: ServerResponse) => {
    inFlight.now++;
    inFlight.max = Math.max(inFlight.max, inFlight.now);
    try {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const url = new URL(req.url ?? '/', 'http://fake');
      const fr: FakeRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, body: Buffer.concat(chunks) };
      if (state.delayMs > 0) await new Promise((r) => setTimeout(r, state.delayMs));
      if (res.destroyed) return;
      let answer: FakeResponse;
      if (state.throttleNext > 0) {
        state.throttleNext--;
        answer = protocol.throttled(fr);
      } else if (state.errorNext > 0) {
        state.errorNext--;
        answer = protocol.error(state.errorStatus, fr);
      } else {
        try {
          answer = await protocol.handle(fr);
        } catch (e) {
          answer = protocol.error(500, fr);
          process.stderr.write(`fake ${protocol.name}: handler failed: ${(e as Error).stack}\n`);
        }
      }
      requests.push({ method: fr.method, path: fr.path, status: answer.status, headers: req.headers, at: Date.now() });
      const body = answer.body ?? '';
      res.writeHead(answer.status, { 'content-length': String(Buffer.byteLength(body)), ...answer.headers });
      res.end(body);
    } finally {
      inFlight.now--;
    }
  };

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer((req, res) => void onRequest(req, res));
      server.keepAliveTimeout = 2_000;
      server.on('connection', (s: Socket) => {
        if (state.down === 'reset') {
          requests.push({ method: '?', path: '?', status: 'reset', headers: {}, at: Date.now() });
          s.resetAndDestroy();
          return;
        }
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
      });
      server.once('error', reject);
      server.listen(port, host, () => {
        port = (server.address() as AddressInfo).port;
        listening = true;
        resolve();
      });
    });

  const stopListening = () =>
    new Promise<void>((resolve) => {
      if (!listening) return resolve();
      listening = false;
      for (const s of sockets) s.destroy();
      sockets.clear();
      server.close(() => resolve());
    });

  await listen();

  const faults: Faults = {
    state,
    delay: (ms) => {
      state.delayMs = ms;
    },
    failNext: (n, status = 500) => {
      state.errorNext = n;
      state.errorStatus = status;
    },
    throttleNext: (n) => {
      state.throttleNext = n;
    },
    down: async (mode = 'refuse') => {
      state.down = mode;
      if (mode === 'refuse') await stopListening();
      else for (const s of sockets) s.destroy();
    },
    up: async () => {
      state.down = false;
      if (!listening) await listen();
    },
    clear: async () => {
      Object.assign(state, { delayMs: 0, errorNext: 0, errorStatus: 500, throttleNext: 0 });
      await faults.up();
    },
  };

  return {
    get url() {
      return `http://${host}:${port}`;
    },
    get port() {
      return port;
    },
    faults,
    requests,
    inFlight,
    close: async () => {
      state.down = 'refuse';
      await stopListening();
    },
  };
}

/** Apply a JSON fault description (the local-cloud control API and CLI use it). */
export async function applyFaults(faults: Faults, spec: Partial<FaultState> & { clear?: boolean }): Promise<void> {
  if (spec.clear) await faults.clear();
  if (spec.delayMs !== undefined) faults.delay(spec.delayMs);
  if (spec.errorNext !== undefined) faults.failNext(spec.errorNext, spec.errorStatus ?? 500);
  if (spec.throttleNext !== undefined) faults.throttleNext(spec.throttleNext);
  if (spec.down === false) await faults.up();
  else if (spec.down) await faults.down(spec.down);
}

/** Region, service and access key id from a SigV4 Authorization header (unchecked signature). */
export function sigv4Scope(headers: IncomingMessage['headers']): { accessKeyId: string; region: string; service: string } | undefined {
  const m = /Credential=([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(String(headers.authorization ?? ''));
  return m ? { accessKeyId: m[1]!, region: m[2]!, service: m[3]! } : undefined;
}
