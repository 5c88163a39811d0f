/*! HttpProbe over undici: one GET, its status code; the body is discarded. */
import { request } from './http/undici.js';
import { withTimeout } from '../lib/retry.js';
import type { HttpProbe } from '../ports/http-probe.js';

export const httpProbe: HttpProbe = {
  status: (url, { timeoutMs, signal }) =>
    withTimeout(
      timeoutMs,
      `GET ${url}`,
      async (s) => {
        const res = await request(url, { method: 'GET', signal: s, headers: { 'user-agent': 'taupage-health-check' } });
        await res.body.dump();
        return res.statusCode;
      },
      signal ? { signal } : {},
    ),
};
