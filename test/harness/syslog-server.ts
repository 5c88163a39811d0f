/*! Log servers for tests: a CA of the run (openssl) and a syslog listener over TCP or TLS on a
 * loopback port that collects every line, can go down (its connections cut) and come back on the
 * same port. */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as tcpServer, type Server, type Socket, type AddressInfo } from 'node:net';
import { createServer as tlsServer } from 'node:tls';
import { join } from 'node:path';

export interface TestCa {
  /** PEM file of the CA certificate (what a client trusts). */
  caFile: string;
  cert: string;
  /** `openssl x509 -subject_hash` of the CA (the name in /etc/ssl/certs). */
  hash: string;
  /** A server certificate the CA signed for `names`. */
  server: { key: string; cert: string };
}

/** A CA and a server certificate for `names` (host names and IP addresses; default localhost and 127.0.0.1). */
export function makeTestCa(dir: string, names: string[] = ['localhost', '127.0.0.1']): TestCa {
  const f = (n: string) => join(dir, n);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=taupage test CA');
  openssl('req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', `/CN=${names[0]}`);
  const san = names.map((n) => (/^[\d.]+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  writeFileSync(f('server.ext'), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  openssl(
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.crt'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-out',
    f('server.crt'),
    '-days',
    '2',
    '-extfile',
    f('server.ext'),
  );
  return {
    caFile: f('ca.crt'),
    cert: readFileSync(f('ca.crt'), 'utf8'),
    hash: openssl('x509', '-noout', '-subject_hash', '-in', f('ca.crt')).trim(),
    server: { key: readFileSync(f('server.key'), 'utf8'), cert: readFileSync(f('server.crt'), 'utf8') },
  };
}

export interface SyslogListener {
  port: number;
  /** Every line received so far (newline-framed, without the newline). */
  lines: string[];
  /** Go down: stop listening and cut every connection. */
  stop(): Promise<void>;
  /** Come back on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function syslogListener(options: { tls?: { key: string; cert: string }; host?: string } = {}): Promise<SyslogListener> {
  const lines: string[] = [];
  const sockets = new Set<Socket>();
  const onConnection = (s: Socket) => {
    sockets.add(s);
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('utf8');
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  };
  const make = (): Server => {
    const server = options.tls ? tlsServer({ key: options.tls.key, cert: options.tls.cert }, onConnection) : tcpServer(onConnection);
    server.on('tlsClientError', () => undefined);
    return server;
  };
  let server: Server | undefined;
  let port = 0;
  const listen = async () => {
    const s = make();
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, options.host ?? '127.0.0.1', () => resolve());
    });
    server = s;
    port = (s.address() as AddressInfo).port;
  };
  const stop = async () => {
    const s = server;
    server = undefined;
    for (const c of sockets) c.destroy();
    if (s) await new Promise((resolve) => s.close(resolve));
  };
  await listen();
  return {
    get port() {
      return port;
    },
    lines,
    stop,
    start: listen,
    close: stop,
  };
}
