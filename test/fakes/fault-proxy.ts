/*! A tiny HTTP proxy in front of a real server that injects what the real one cannot produce:
 * S3 error answers (503 SlowDown, 500, 301 PermanentRedirect), bodies cut short, requests that
 * never get an answer, connection resets. Faults queue up and apply one per request; `always`
 * applies to every request until cleared. Every request is recorded (method, path, If-None-Match,
 * status) so tests can see what the client asked and what it got. */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventEmitter } from 'node:events';

export type Fault =
  | { kind: 'error'; status: number; code: string; headers?: Record<string, string> }
  /** Forward, but send only the first half of the body and then drop the connection. */
  | { kind: 'truncate' }
  /** Never answer (until the proxy closes). */
  | { kind: 'hang' }
  /** Drop the connection without an answer. */
  | { kind: 'reset' };

export interface ProxiedRequest {
  method: string;
  path: string;
  ifNoneMatch?: string;
  status?: number;
  fault?: Fault['kind'];
}

export class FaultProxy extends EventEmitter {
  readonly faults: Fault[] = [];
  always: Fault | undefined;
  readonly requests: ProxiedRequest[] = [];
  private readonly hanging = new Set<ServerResponse>();
  private readonly server = createServer((req, res) => this.handle(req, res));
  url = '';

  constructor(private readonly target: string) {
    super();
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const record: ProxiedRequest = { method: req.method ?? 'GET', path: req.url ?? '/' };
    const inm = req.headers['if-none-match'];
    if (typeof inm === 'string') record.ifNoneMatch = inm;
    this.requests.push(record);
    const fault = this.faults.shift() ?? this.always;
    if (fault) record.fault = fault.kind;
    this.emit('request', record);
    if (fault?.kind === 'hang') {
      this.hanging.add(res);
      res.on('close', () => this.hanging.delete(res));
      return;
    }
    if (fault?.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'error') {
      record.status = fault.status;
      const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${fault.code}</Code><Message>injected ${fault.code}</Message><RequestId>fault-proxy</RequestId></Error>`;
      res.writeHead(fault.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), ...fault.headers });
      res.end(body);
      return;
    }
    const upstream = request(`${this.target}${req.url ?? '/'}`, { method: req.method, headers: req.headers }, (up) => {
      record.status = up.statusCode;
      if (fault?.kind !== 'truncate') {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      up.on('data', (c: Buffer) => chunks.push(c));
      up.on('end', () => {
        const all = Buffer.concat(chunks);
        res.writeHead(up.statusCode ?? 502, up.headers); // the full Content-Length, then half the bytes
        res.write(all.subarray(0, Math.floor(all.length / 2)), () => setTimeout(() => res.socket?.destroy(), 10));
      });
    });
    upstream.on('error', () => {
      record.status = 502;
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    req.pipe(upstream);
  }
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  return new FaultProxy(target).listen();
}
