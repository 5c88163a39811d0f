// An esbuild plugin: node:http2, loaded when first used, which in the agent is never. undici and
// the AWS SDK's HTTP handler each require it as they load (for HTTP/2 clients the agent does not
// use), and loading it (with node:tls, which it needs) costs a Node 24 start ~17 ms: the boot paid
// it before its first metadata request. Both read `constants` as they load, so the stand-in holds
// the constants of the Node that builds (the same numbers and header names in every Node with
// HTTP/2); any other use loads the real module and hands it on. test/unit/lazy-http2.test.ts.
import { constants } from 'node:http2';

export const lazyHttp2 = {
  name: 'lazy-http2',
  setup(b) {
    b.onResolve({ filter: /^(node:)?http2$/ }, (args) => ({ path: args.path, namespace: 'lazy-http2' }));
    b.onLoad({ filter: /.*/, namespace: 'lazy-http2' }, () => ({
      loader: 'js',
      contents: `let real;
const constants = ${JSON.stringify(constants)};
// Not require('node:http2'), which esbuild would resolve to this very module.
const load = () => (real ??= process.getBuiltinModule?.('node:http2') ?? require(['node', 'http2'].join(':')));
module.exports = new Proxy(Object.create(null), {
  get: (_t, key) => (key === 'constants' && !real ? constants : key === '__esModule' ? false : load()[key]),
  has: (_t, key) => key in load(),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_t, key) => {
    const d = Reflect.getOwnPropertyDescriptor(load(), key);
    return d && { ...d, configurable: true };
  },
});`,
    }));
  },
};
