/*! Is a log server there? A TCP connection, with `tls` a complete handshake that checks the
 * server's certificate (against `caFile`, or the system's store) and its name, then closed.
 * Implemented over node:net and node:tls in adapters/endpoint-probe.ts. */

export interface EndpointTarget {
  host: string;
  port: number;
  tls?: { caFile?: string };
}

export interface EndpointProbe {
  /** Resolves when the server answered; rejects with the reason (refused, timed out, certificate). */
  reach(target: EndpointTarget, options: { timeoutMs: number; signal?: AbortSignal }): Promise<void>;
}
