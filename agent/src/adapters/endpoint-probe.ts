/*! EndpointProbe over node:net and node:tls: connect (and shake hands, checking the certificate
 * chain against the CA file or Node's and the system's store, and the host name), then close. */
import { connect as tcpConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { readFile } from 'node:fs/promises';
import type { EndpointProbe } from '../ports/endpoint-probe.js';

export const endpointProbe: EndpointProbe = {
  async reach(target, { timeoutMs, signal }) {
    const ca = target.tls?.caFile ? await readFile(target.tls.caFile, 'utf8') : undefined;
    await new Promise<void>((resolve, reject) => {
      let socket: Socket;
      const done = (e?: Error) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', abort);
        socket.destroy();
        if (e) reject(e);
        else resolve();
      };
      const abort = () => done(new Error('cancelled'));
      const timer = setTimeout(() => done(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      if (target.tls)
        socket = tlsConnect({ host: target.host, port: target.port, ...(isIP(target.host) ? {} : { servername: target.host }), ...(ca ? { ca } : {}) }, () =>
          done(),
        );
      else socket = tcpConnect({ host: target.host, port: target.port }, () => done());
      socket.once('error', (e) => done(e));
      signal?.addEventListener('abort', abort, { once: true });
    });
  },
};
