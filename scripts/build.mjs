#!/usr/bin/env node
// Bundle the agent into one file, agent/dist/taupage.mjs (ESM, Node 20), with esbuild.
// `--sea` also builds the single-file executable agent/dist/taupage (see scripts/build-sea.sh).
import { build } from 'esbuild';
import { readFileSync, chmodSync, mkdirSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const format = process.argv.includes('--cjs') ? 'cjs' : 'esm';
const outfile = join(root, 'agent/dist', format === 'esm' ? 'taupage.mjs' : 'taupage.cjs');

// Optional native or platform-specific modules that are inside try/catch in their users
// (ssh2's sshcrypto.node and cpu-features, macOS sensors, the CRT signer): resolve them to a stub
// that throws, so the bundle has no dynamic require of a file that is not there.
const stubOptional = {
  name: 'stub-optional-native',
  setup(b) {
    b.onResolve({ filter: /\.node$|^cpu-features$|^(osx|macos)-temperature-sensor$|^@aws-sdk\/signature-v4-crt$/ }, (args) => ({ path: args.path, namespace: 'stub' }));
    b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({ contents: "throw new Error('not bundled');", loader: 'js' }));
  },
};

// Parts of dependencies the agent never reaches, left out of the bundle because loading them
// costs boot time (about a third of the agent's start): dockerode's BuildKit session (gRPC,
// protobuf) and docker-modem's ssh:// transport (ssh2 and its WebAssembly crypto). The agent
// neither builds images nor talks to an engine over ssh (docker.host is unix:// or tcp://).
// A stub stands in that fails only if used.
const UNUSED = /^(@grpc\/grpc-js|@grpc\/proto-loader|ssh2)$/;
const stubUnused = {
  name: 'stub-unused',
  setup(b) {
    b.onResolve({ filter: UNUSED }, (args) => ({ path: args.path, namespace: 'unused' }));
    b.onLoad({ filter: /.*/, namespace: 'unused' }, (args) => ({
      contents: `const fail = () => { throw new Error(${JSON.stringify(`${args.path} is not in the taupage bundle (scripts/build.mjs)`)}); };
module.exports = new Proxy(fail, { get: (_t, k) => (k === '__esModule' ? false : fail), apply: fail, construct: fail });`,
      loader: 'js',
    }));
  },
};

mkdirSync(dirname(outfile), { recursive: true });
// Written beside it and renamed into place, so a process starting the agent meanwhile (a test,
// the demo) never reads a half-written bundle.
const partial = `${outfile}.${process.pid}.partial`;
await build({
  entryPoints: [join(root, 'agent/src/bin.ts')],
  outfile: partial,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format,
  minify: process.argv.includes('--minify'),
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
  define: { __TAUPAGE_VERSION__: JSON.stringify(pkg.version) },
  // CommonJS dependencies bundled into ESM still expect require, __filename and __dirname
  // (pino's transports, dockerode's proto paths; without them a module throws as it loads).
  banner:
    format === 'esm'
      ? {
          js: [
            '#!/usr/bin/env node',
            "import { createRequire as __taupageCreateRequire } from 'node:module';",
            "import { fileURLToPath as __taupageFileURLToPath } from 'node:url';",
            "import { dirname as __taupageDirname } from 'node:path';",
            'const require = __taupageCreateRequire(import.meta.url);',
            'const __filename = __taupageFileURLToPath(import.meta.url);',
            'const __dirname = __taupageDirname(__filename);',
          ].join('\n'),
        }
      : { js: '#!/usr/bin/env node' },
  plugins: [stubOptional, stubUnused],
});
chmodSync(partial, 0o755);
renameSync(partial, outfile);
console.error(`built ${outfile.replace(root + '/', '')}`);
