/** Which way imports run in agent/src (checked by scripts/test: `npm run layers`).
 *
 * Top to bottom:  main.ts, bin.ts, sea-main.ts → cli/ → engine/ → user-data/ → steps/ → ports/ → values/ → lib/
 * beside them:    adapters/ (the real ports: made in adapters/index.ts, handed out by the commands),
 *                 access/ and audit/ (SSH access), config/ (the agent's settings), docs/.
 * An arrow never runs back up: a step reaches the world through its ports, the engine runs what
 * the command gives it, ports speak in values. */
const SRC = '^agent/src/';

/** `from` may import nothing under agent/src but `allowed` (folders or files, relative to agent/src). */
const only = (name, comment, from, allowed) => ({
  name,
  comment,
  severity: 'error',
  from: { path: `${SRC}${from}` },
  to: { path: SRC, pathNot: `${SRC}(${allowed.join('|')})` },
});

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'Files that import each other in a loop have no order to read them in.',
      severity: 'error',
      from: { path: SRC },
      to: { circular: true },
    },
    only('lib-is-the-ground', 'lib/ is the ground floor: it imports nothing of the agent.', 'lib/', ['lib/']),
    only('values-are-pure', 'Value types know only the schema language.', 'values/', ['values/', 'lib/']),
    only('config-is-low', "The agent's settings know only the schema language.", 'config/', ['config/', 'lib/']),
    only('ports-speak-values', 'A port is an interface in domain words: no step, adapter or engine in it.', 'ports/', ['ports/', 'values/', 'lib/']),
    only(
      'steps-see-ports-only',
      'A step plugs into ports (ctx.ports) and the step model; it never imports an adapter, the engine, the user-data reader or a command.',
      'steps/',
      ['steps/', 'ports/', 'values/', 'config/', 'lib/'],
    ),
    only('user-data-is-below-the-engine', 'Reading and checking the document needs the schema (steps/schema.ts) and a port, nothing above.', 'user-data/', [
      'user-data/',
      'steps/schema\\.ts$',
      'steps/[^/]+/schema\\.ts$',
      'steps/unsupported\\.ts$',
      'ports/',
      'values/',
      'config/',
      'lib/',
    ]),
    only(
      'engine-runs-what-it-is-given',
      'The engine runs the steps and ports the command hands it: it imports the step model, never a step, an adapter or a command.',
      'engine/',
      ['engine/', 'steps/step\\.ts$', 'steps/context\\.ts$', 'steps/schema\\.ts$', 'user-data/', 'ports/', 'values/', 'config/', 'lib/', 'version\\.ts$'],
    ),
    only('adapters-implement-ports', 'An adapter implements a port; it knows no step, engine or command.', 'adapters/', [
      'adapters/',
      'ports/',
      'values/',
      'config/',
      'lib/',
    ]),
    only('access-sees-ports', 'SSH access works through its ports (accounts, Even) like a step.', 'access/', [
      'access/',
      'audit/',
      'ports/',
      'values/',
      'config/',
      'lib/',
    ]),
    only('audit-is-low', 'The audit trail is written by access and read by commands.', 'audit/', ['audit/', 'config/', 'lib/', 'version\\.ts$']),
    {
      name: 'only-commands-make-adapters',
      comment: 'Commands build the real ports (adapters/index.ts) and hand them on; nothing else reaches an adapter.',
      severity: 'error',
      from: { path: SRC, pathNot: `${SRC}(cli/|adapters/)` },
      to: { path: `${SRC}adapters/` },
    },
    {
      name: 'nothing-imports-a-command',
      comment: 'cli/ is the top floor below the entry points.',
      severity: 'error',
      from: { path: SRC, pathNot: `${SRC}(cli/|main\\.ts$|sea-main\\.ts$|bin\\.ts$)` },
      to: { path: `${SRC}cli/` },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
