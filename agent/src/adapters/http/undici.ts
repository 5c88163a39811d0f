/*! undici, the part the agent uses: an Agent (connection pool) and `request`. Every adapter that
 * speaks HTTP imports these from here, not from 'undici'.
 *
 * Why not `import { request, Agent } from 'undici'`: the package's index loads all of undici
 * (fetch, WebSocket, caches, mocks, proxies: ~730 KB), which costs every `taupage boot` about
 * 30 ms of start-up and the single executable ~360 KB. The modules below are the same code the
 * index re-exports (undici 7, pinned by package-lock.json; test/integration/imds-client.test.ts
 * and the adapter tests exercise them). `request` mirrors the index's own URL handling. */
import type { Dispatcher } from 'undici';
// @ts-expect-error: undici's internal modules have no type declarations; typed by the casts below.
import AgentImpl from 'undici/lib/dispatcher/agent.js';
// @ts-expect-error: see above.
import DispatcherImpl from 'undici/lib/dispatcher/dispatcher.js';
// @ts-expect-error: see above.
import api from 'undici/lib/api/index.js';

Object.assign((DispatcherImpl as { prototype: object }).prototype, api);

export type { Dispatcher } from 'undici';
export type Agent = import('undici').Agent;
export const Agent = AgentImpl as typeof import('undici').Agent;

let defaultAgent: Agent | undefined;

type RequestOptions = { dispatcher?: Dispatcher } & Omit<Dispatcher.RequestOptions, 'origin' | 'path' | 'method'> &
  Partial<Pick<Dispatcher.RequestOptions, 'method'>>;

/** `undici.request(url, options)`: through `options.dispatcher`, else one shared Agent. */
export function request(url: string | URL, options: RequestOptions = {}): Promise<Dispatcher.ResponseData> {
  const u = typeof url === 'string' ? new URL(url) : url;
  const { dispatcher, ...rest } = options;
  if (!dispatcher && !defaultAgent) defaultAgent = new Agent();
  const d = dispatcher ?? (defaultAgent as Agent);
  return d.request({ ...rest, origin: u.origin, path: `${u.pathname}${u.search}`, method: rest.method ?? 'GET' } as Dispatcher.RequestOptions);
}
