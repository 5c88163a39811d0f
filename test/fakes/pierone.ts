/*! The local Pier One: a small trust gate of ours in front of the real registry (docker-registry).
 *
 * It proxies the registry API unchanged (so `docker pull` through it works; layer downloads are
 * redirected to the registry, as Pier One redirects them to S3) and
 * adds Pier One's trust headers to manifest answers from an approvals list: X-Trusted,
 * X-Production-Ready-Taupage and X-Production-Ready-Reason, per `repo:tag` or `repo@digest`. It can
 * demand instance-identity Basic auth (user `instance-identity-document`, password the PKCS7
 * signature), and it has fault controls for tests: fail the first N requests, be down, delay, and
 * a hook that runs after a tag's manifest was read and before it is answered (to re-point the tag
 * in between). Every request is recorded.
 *
 * Also a command for the demo: `tsx test/fakes/pierone.ts --registry 127.0.0.1:5000
 * [--listen 127.0.0.1:0] [--approve org/name:tag]... [--identity-file pkcs7.txt]` prints
 * `PIERONE=host:port` and serves until SIGTERM/SIGINT. */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { serveUntilSignal, whenMain } from '../harness/command.js';

export interface Verdict {
  /** X-Trusted; omitted when undefined. */
  trusted?: boolean;
  /** X-Production-Ready-Taupage; omitted when undefined. */
  productionReady?: boolean;
  /** X-Production-Ready-Reason. */
  reason?: string;
}

export const APPROVED: Verdict = { trusted: true, productionReady: true };

export interface GateRequest {
  method: string;
  path: string;
  kind: 'ping' | 'manifest' | 'blob' | 'other';
  repository?: string;
  /** Tag or digest of a manifest request. */
  reference?: string;
  authorized: boolean;
  /** What the gate did: proxied, redirected (a layer, to the registry), or the fault / auth answer it gave. */
  outcome: 'proxied' | 'redirected' | 'unauthorized' | 'failed' | 'reset';
}

export interface Faults {
  /** Fail this many of the next matching requests. */
  failFirst: number;
  /** Fail every matching request. */
  down: boolean;
  /** How to fail: an HTTP status, or drop the connection. */
  failWith: number | 'reset';
  /** Delay every matching request this long before proxying it. */
  delayMs: number;
  /** Which requests the faults above apply to (default: all). */
  when?: (r: GateRequest) => boolean;
}

export interface PierOneGateOptions {
  /** host:port of the real registry (plain HTTP on loopback). */
  registry: string;
  /** When set, every request needs Basic auth `instance-identity-document:<this>`. */
  identity?: string;
  listen?: { host?: string; port?: number };
  /** Serve HTTPS with this key and certificate (PEM), as Pier One does; default plain HTTP. */
  tls?: { key: string; cert: string };
  /** Answer a layer download (GET of a blob) with a redirect to the registry, as Pier One does (to
   * S3), instead of passing the bytes through this process; default: when serving plain HTTP. The
   * layers then do not share this process's event loop with the other local services of a test
   * (metadata, KMS, S3), which would slow a pull by whatever those answer meanwhile. */
  redirectBlobs?: boolean;
}

const MANIFEST = /^\/v2\/(.+)\/manifests\/([^/]+)$/;
const BLOB = /^\/v2\/(.+)\/blobs\/([^/]+)$/;

export class PierOneGate {
  readonly requests: GateRequest[] = [];
  readonly faults: Faults = { failFirst: 0, down: false, failWith: 503, delayMs: 0 };
  /** Runs after the registry answered a GET of a manifest by tag, before the gate answers. */
  beforeTagAnswer?: (repository: string, tag: string) => Promise<void>;
  identity: string | undefined;
  private readonly approvals = new Map<string, Verdict>();
  private readonly server: Server;
  private port = 0;

  constructor(private readonly options: PierOneGateOptions) {
    this.identity = options.identity;
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    this.server = options.tls ? createTlsServer({ key: options.tls.key, cert: options.tls.cert }, handler) : createServer(handler);
  }

  /** host:port to put in image references (`<address>/org/name:tag`). */
  get address(): string {
    return `${this.options.listen?.host ?? '127.0.0.1'}:${this.port}`;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.listen?.port ?? 0, this.options.listen?.host ?? '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Set the verdict for `org/name:tag` or `org/name@sha256:...`. */
  approve(reference: string, verdict: Verdict = APPROVED): void {
    this.approvals.set(reference, verdict);
  }

  revoke(reference: string): void {
    this.approvals.delete(reference);
  }

  /** Requests of one kind, e.g. manifests fetched by digest (what a pull does). */
  seen(kind: GateRequest['kind'], filter: (r: GateRequest) => boolean = () => true): GateRequest[] {
    return this.requests.filter((r) => r.kind === kind && filter(r));
  }

  private classify(req: IncomingMessage): GateRequest {
    const path = (req.url ?? '/').split('?')[0]!;
    const m = MANIFEST.exec(path);
    const b = BLOB.exec(path);
    const kind: GateRequest['kind'] = path === '/v2/' || path === '/v2' ? 'ping' : m ? 'manifest' : b ? 'blob' : 'other';
    return {
      method: req.method ?? 'GET',
      path,
      kind,
      ...(m ? { repository: m[1]!, reference: decodeURIComponent(m[2]!) } : b ? { repository: b[1]!, reference: b[2]! } : {}),
      authorized: this.authorized(req),
      outcome: 'proxied',
    };
  }

  private authorized(req: IncomingMessage): boolean {
    if (this.identity === undefined) return true;
    const h = req.headers.authorization ?? '';
    if (!h.startsWith('Basic ')) return false;
    const decoded = Buffer.from(h.slice(6), 'base64').toString('utf8');
    return decoded === `instance-identity-document:${this.identity}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const r = this.classify(req);
    this.requests.push(r);
    if (!r.authorized) {
      r.outcome = 'unauthorized';
      res.writeHead(401, {
        'content-type': 'application/json',
        'www-authenticate': 'Basic realm="Pier One"',
        'docker-distribution-api-version': 'registry/2.0',
      });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'Computer says no' }] }));
      req.resume();
      return;
    }
    const matches = this.faults.when ? this.faults.when(r) : true;
    if (matches && this.faults.delayMs > 0) {
      const closed = new Promise<void>((resolve) => res.once('close', () => resolve()));
      await Promise.race([new Promise((resolve) => setTimeout(resolve, this.faults.delayMs)), closed]);
      if (res.destroyed || res.writableEnded) return;
    }
    if (matches && (this.faults.down || this.faults.failFirst > 0)) {
      if (!this.faults.down) this.faults.failFirst--;
      if (this.faults.failWith === 'reset') {
        r.outcome = 'reset';
        req.socket.destroy();
        return;
      }
      r.outcome = 'failed';
      res.writeHead(this.faults.failWith, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'Pier One is down (test fault)' }] }));
      req.resume();
      return;
    }
    if (r.kind === 'blob' && r.method === 'GET' && (this.options.redirectBlobs ?? !this.options.tls)) {
      r.outcome = 'redirected';
      res.writeHead(307, { location: `http://${this.options.registry}${req.url}`, 'docker-distribution-api-version': 'registry/2.0' });
      res.end();
      req.resume();
      return;
    }
    this.proxy(req, res, r);
  }

  private proxy(req: IncomingMessage, res: ServerResponse, r: GateRequest): void {
    const [host, port] = this.options.registry.split(':') as [string, string];
    const headers = { ...req.headers, host: this.options.registry };
    delete headers.authorization; // the registry behind is open; Pier One's login ends here
    const upstream = httpRequest({ host, port: Number(port), method: req.method, path: req.url, headers }, (up) => void this.answer(up, res, r));
    upstream.on('error', (e) => {
      if (res.headersSent) res.destroy(e);
      else {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`registry behind the gate failed: ${e.message}`);
      }
    });
    res.once('close', () => upstream.destroy());
    req.pipe(upstream);
  }

  private async answer(up: IncomingMessage, res: ServerResponse, r: GateRequest): Promise<void> {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(up.headers)) if (v !== undefined) headers[k] = v;
    // Keep clients talking to the gate when the registry points them elsewhere (uploads).
    if (typeof headers.location === 'string')
      headers.location = headers.location.replace(`http://${this.options.registry}`, `${this.options.tls ? 'https' : 'http'}://${this.address}`);
    if (r.kind === 'manifest' && up.statusCode === 200) {
      const digest = typeof up.headers['docker-content-digest'] === 'string' ? up.headers['docker-content-digest'] : undefined;
      const byTag = !r.reference!.startsWith('sha256:');
      const verdict = (digest && this.approvals.get(`${r.repository}@${digest}`)) || (byTag ? this.approvals.get(`${r.repository}:${r.reference}`) : undefined);
      if (verdict?.trusted !== undefined) headers['x-trusted'] = String(verdict.trusted);
      if (verdict?.productionReady !== undefined) headers['x-production-ready-taupage'] = String(verdict.productionReady);
      if (verdict?.reason !== undefined) headers['x-production-ready-reason'] = verdict.reason;
      if (byTag && r.method === 'GET' && this.beforeTagAnswer) {
        up.pause();
        await this.beforeTagAnswer(r.repository!, r.reference!);
      }
    }
    res.writeHead(up.statusCode ?? 502, headers);
    up.pipe(res);
  }
}

export async function startPierOneGate(options: PierOneGateOptions): Promise<PierOneGate> {
  return new PierOneGate(options).start();
}

async function main(argv: string[]): Promise<void> {
  const get = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const registry = get('--registry') ?? process.env.TAUPAGE_REGISTRY;
  if (!registry) throw new Error('usage: pierone.ts --registry host:port [--listen host:port] [--approve org/name:tag]... [--identity-file FILE]');
  const [host, port] = (get('--listen') ?? '127.0.0.1:0').split(':');
  const identityFile = get('--identity-file');
  const gate = await startPierOneGate({
    registry,
    listen: { host: host!, port: Number(port) },
    ...(identityFile ? { identity: readFileSync(identityFile, 'utf8').trim() } : {}),
  });
  for (const [i, a] of argv.entries()) if (a === '--approve' && argv[i + 1]) gate.approve(argv[i + 1]!);
  serveUntilSignal(`PIERONE=${gate.address}`, () => gate.close());
}

whenMain(import.meta.url, main);
