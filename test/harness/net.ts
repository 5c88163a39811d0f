/*! Loopback endpoints for tests: a free port, and a UDP sink that collects what is sent to it
 * (the container's syslog log driver). */
import { createSocket } from 'node:dgram';
import { createServer, type AddressInfo } from 'node:net';
import { request } from 'undici';

/** A TCP port nothing listens on right now (another process may take it: use it soon). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface UdpSink {
  /** `udp://127.0.0.1:<port>` (a Docker syslog-address). */
  address: string;
  port: number;
  /** Every datagram received so far, as text. */
  lines: string[];
  close(): void;
}

export async function udpSink(): Promise<UdpSink> {
  const socket = createSocket('udp4');
  const lines: string[] = [];
  socket.on('message', (m) => lines.push(m.toString('utf8')));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const { port } = socket.address();
  return { address: `udp://127.0.0.1:${port}`, port, lines, close: () => socket.close() };
}

/** GET http://127.0.0.1:<port><path>: status and body text. */
export async function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await request(`http://127.0.0.1:${port}${path}`);
  return { status: res.statusCode, body: await res.body.text() };
}
