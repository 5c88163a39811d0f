/*! YAML text → plain value plus an index from key paths to 1-based line/column, parsed the way
 * the original's PyYAML did (YAML 1.1: yes/no/on/off are booleans, `80: 8080` has integer keys,
 * `<<` merges, a key given twice keeps its last value, here with a warning), with alias
 * expansion bounded.
 *
 * Every mapping of the value has no prototype (a key named `__proto__` or `constructor` is a key
 * like any other). A key that is itself a list or mapping (`? [k]`) is refused: JavaScript would
 * turn it into text, and that text can hold a password. */
import { LineCounter, parseDocument, isMap, isSeq, isScalar, isPair, isAlias, type Node, type Document, type Tags } from 'yaml';
import type { Path } from './types.js';

export interface Position {
  line: number;
  column: number;
}

export interface SourceIssue {
  path: Path;
  line: number;
  column: number;
  code: string;
  message: string;
  severity: 'error' | 'warning';
}

interface Entry {
  key?: Position;
  value: Position;
  source?: string;
}

/** Where each key and value of a document sits in the text. */
export class PositionIndex {
  private readonly entries = new Map<string, Entry>();
  constructor(private readonly fallback: Position = { line: 1, column: 1 }) {}

  set(path: Path, entry: Entry): void {
    this.entries.set(JSON.stringify(path), entry);
  }

  /** The position of the key (at = 'key') or the value at `path`, or of its nearest known ancestor. */
  find(path: Path, at: 'key' | 'value' = 'value'): Position {
    for (let n = path.length; n >= 0; n--) {
      const e = this.entries.get(JSON.stringify(path.slice(0, n)));
      if (e) return at === 'key' && n === path.length && e.key ? e.key : n === path.length ? e.value : (e.key ?? e.value);
    }
    return this.fallback;
  }

  source(path: Path): string | undefined {
    return this.entries.get(JSON.stringify(path))?.source;
  }
}

/** PyYAML's bool resolver: unlike the YAML 1.1 spec (and the `yaml` package) it leaves y/n as strings. */
const PYYAML_TRUE = /^(?:yes|Yes|YES|true|True|TRUE|on|On|ON)$/;
const PYYAML_FALSE = /^(?:no|No|NO|false|False|FALSE|off|Off|OFF)$/;

function pyyamlTags(tags: Tags): Tags {
  return tags.map((tag) => {
    if (typeof tag === 'object' && 'tag' in tag && tag.tag === 'tag:yaml.org,2002:bool' && 'resolve' in tag) {
      const isTrue = (tag as { test?: RegExp }).test?.test('true');
      return { ...tag, test: isTrue ? PYYAML_TRUE : PYYAML_FALSE };
    }
    return tag;
  }) as Tags;
}

/** Syntax errors that get a key path (see parseYamlSource). */
const PATHS_FOR_ERRORS = 200;

export interface ParseOptions {
  /** Alias expansions allowed before the document is rejected ("billion laughs"). */
  maxAliasCount?: number;
}

export interface ParsedSource {
  value: unknown;
  positions: PositionIndex;
  issues: SourceIssue[];
  document?: Document;
}

export function parseYamlSource(text: string, options: ParseOptions = {}): ParsedSource {
  const lineCounter = new LineCounter();
  const positions = new PositionIndex();
  const issues: SourceIssue[] = [];
  const doc = parseDocument(text, {
    version: '1.1',
    merge: true,
    // PyYAML kept the last of duplicate keys; so does toJS() here, and index() warns about them.
    uniqueKeys: false,
    prettyErrors: false,
    lineCounter,
    customTags: pyyamlTags,
    strict: true,
    // The library's own warnings go to the console and quote the text (a complex key, say).
    logLevel: 'error',
  });
  const pos = (offset: number): Position => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, column: p.col };
  };
  doc.errors.forEach((e, n) => {
    issues.push({
      // Each path walks the document: the first errors get one (they are the ones listed), so a
      // document of thousands of errors costs their number, not its square.
      path: doc.contents && n < PATHS_FOR_ERRORS ? pathAtOffset(doc.contents as Node, e.pos[0]) : [],
      ...pos(e.pos[0]),
      code: 'TPG_UD_YAML_SYNTAX',
      message: `YAML syntax error: ${withoutQuotedText(e.message)}`,
      severity: 'error',
    });
  });
  if (issues.length) return { value: undefined, positions, issues, document: doc };
  if (doc.contents) issues.push(...structureIssues(doc.contents as Node, pos));
  if (issues.length) return { value: undefined, positions, issues, document: doc };

  let value: unknown;
  try {
    value = withoutPrototypes(doc.toJS({ maxAliasCount: options.maxAliasCount ?? 100 }));
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const aliasBomb = /excessive alias count|alias resolution is disabled/i.test(message);
    issues.push({
      path: [],
      line: 1,
      column: 1,
      code: aliasBomb ? 'TPG_UD_ALIAS_LIMIT' : 'TPG_UD_YAML_SYNTAX',
      message: aliasBomb
        ? `too many alias expansions (*ref); user data may expand at most ${options.maxAliasCount ?? 100} aliases`
        : `YAML error: ${withoutQuotedText(message)}`,
      severity: 'error',
    });
    return { value: undefined, positions, issues, document: doc };
  }
  if (doc.contents) index(doc.contents as Node, [], positions, pos, issues);
  return { value, positions, issues, document: doc };
}

function index(node: Node, path: Path, positions: PositionIndex, pos: (o: number) => Position, issues: SourceIssue[], key?: Position): void {
  const start = node.range ? pos(node.range[0]) : { line: 1, column: 1 };
  positions.set(path, { ...(key ? { key } : {}), value: start, ...(isScalar(node) && typeof node.source === 'string' ? { source: node.source } : {}) });
  if (isAlias(node)) return; // positions inside an alias are those of the alias itself
  if (isMap(node)) {
    const seen = new Map<string, number[]>();
    for (const item of node.items) {
      if (!isPair(item)) continue;
      const k = item.key;
      const kv = isScalar(k) ? k.value : undefined;
      if (kv === '<<' || kv === null || kv === undefined || typeof kv === 'object') continue;
      const keyPos = (k as Node | null)?.range ? pos((k as Node).range![0]) : start;
      const v = item.value as Node | null;
      // A later duplicate overwrites the earlier one's positions, as its value does.
      if (v) index(v, [...path, String(kv)], positions, pos, issues, keyPos);
      else positions.set([...path, String(kv)], { key: keyPos, value: keyPos });
      const lines = seen.get(String(kv)) ?? [];
      if (lines.length) issues.push(duplicateKey([...path, String(kv)], keyPos, lines));
      seen.set(String(kv), [...lines, keyPos.line]);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      if (item && typeof item === 'object' && 'range' in item) index(item as Node, [...path, i], positions, pos, issues);
    });
  }
}

/** The same key again in one mapping (`80` and `"80"` count as the same): the last value wins. */
function duplicateKey(path: Path, at: Position, earlier: number[]): SourceIssue {
  return {
    path,
    ...at,
    code: 'TPG_UD_DUPLICATE_KEY',
    message: `duplicate key, also set on line ${earlier.join(', ')}: the last value is used (as the original Taupage's YAML parser did) and ${earlier.length === 1 ? 'the earlier one is' : 'the earlier ones are'} ignored; remove all but one`,
    severity: 'warning',
  };
}

/** The deepest key path whose key or value contains `offset` (to name the key of a syntax error). */
function pathAtOffset(node: Node, offset: number, path: Path = []): Path {
  if (isMap(node)) {
    for (const item of node.items) {
      if (!isPair(item) || !isScalar(item.key)) continue;
      const k = item.key as Node;
      const v = item.value as Node | null;
      const end = v?.range ? v.range[2] : k.range![2];
      if (k.range && offset >= k.range[0] && offset < end) {
        const seg = [...path, String((item.key as { value: unknown }).value)];
        return v?.range && offset >= v.range[0] ? pathAtOffset(v, offset, seg) : seg;
      }
    }
  } else if (isSeq(node)) {
    for (let i = 0; i < node.items.length; i++) {
      const it = node.items[i] as Node | null;
      if (it?.range && offset >= it.range[0] && offset < it.range[2]) return pathAtOffset(it, offset, [...path, i]);
    }
  }
  return path;
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

/**
 * The library's message without the document text some of its messages quote (a block scalar
 * header, a tag, an escape sequence): at a mis-typed secret that text is the secret. The line and
 * column say where.
 */
function withoutQuotedText(message: string): string {
  const m = firstLine(message);
  if (/^Invalid escape sequence/.test(m)) return 'Invalid escape sequence in a double-quoted string';
  if (/^Unresolved plain scalar/.test(m)) return 'Unresolved plain scalar';
  if (/^Verbatim tags aren't resolved/.test(m)) return 'Verbatim tags are not supported';
  if (/^The .* tag has no suffix/.test(m)) return 'A tag has no suffix';
  const flow = /^Unexpected .* in (flow map|flow sequence|flow collection|collection)$/.exec(m);
  if (flow) return `Unexpected text in ${flow[1]}`;
  // "Block scalar header includes extra characters: <text>", "Unresolved tag: <tag>", ...
  const colon = m.indexOf(': ');
  return colon > 0 ? m.slice(0, colon) : m;
}

// ---------------------------------------------------------------------------------------------
// What the parser accepts but a document cannot mean: found on the node tree (aliases not
// expanded), each at its own position, before anything is built from it.

const isMergeKey = (k: unknown): boolean => isScalar(k) && (typeof k.value === 'symbol' || k.source === '<<');

function structureIssues(root: Node, pos: (o: number) => Position): SourceIssue[] {
  const issues: SourceIssue[] = [];
  const anchors = new Map<string, Node>();
  const at = (node: Node | null | undefined, path: Path, code: string, message: string) => {
    const p = node?.range ? pos(node.range[0]) : { line: 1, column: 1 };
    issues.push({ path, ...p, code, message, severity: 'error' });
  };
  const target = (n: Node): Node | undefined => (isAlias(n) ? anchors.get(n.source) : n);
  const walk = (node: Node | null | undefined, path: Path, depth: number): void => {
    if (!node || depth > 200) return;
    if (node.anchor) anchors.set(node.anchor, node);
    if (isAlias(node)) {
      if (!anchors.has(node.source))
        at(
          node,
          path,
          'TPG_UD_ALIAS_UNDEFINED',
          `the alias *${node.source} names no anchor defined before it; write &${node.source} on the value it should repeat, above this line`,
        );
      return;
    }
    if (isMap(node)) {
      for (const item of node.items) {
        if (!isPair(item)) continue;
        const k = item.key as Node | null;
        if (k && !isScalar(k) && !(isAlias(k) && isScalar(anchors.get(k.source)))) {
          // Never name it: the text of such a key is whatever the line held, a password included.
          at(k, path, 'TPG_UD_COMPLEX_KEY', 'a key must be a single name; a list or mapping used as a key (? [...] or {...}:) is not allowed here');
          continue;
        }
        const seg = isScalar(k) ? String(k.value) : '';
        if (isMergeKey(k)) {
          const v = item.value as Node | null;
          walk(v, path, depth + 1);
          const sources = v && isSeq(v) ? (v.items as Node[]) : [v];
          for (const s of sources) {
            const t = s ? target(s) : undefined;
            if (s && isAlias(s) && !t) continue; // reported as an undefined alias
            if (!t || !isMap(t))
              at(
                s ?? k,
                path,
                'TPG_UD_MERGE_NOT_MAPPING',
                '<< merges mappings only: its value must be a mapping, an alias of a mapping (*name), or a list of those',
              );
          }
          continue;
        }
        walk(item.value as Node | null, [...path, seg], depth + 1);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        walk(item as Node | null, [...path, i], depth + 1);
      });
    }
  };
  walk(root, [], 0);
  return issues;
}

/** The same value with every mapping rebuilt without a prototype; shared (aliased) parts stay shared. */
function withoutPrototypes(value: unknown, seen = new Map<object, unknown>()): unknown {
  if (value === null || typeof value !== 'object' || value instanceof Date || value instanceof Uint8Array) return value;
  const done = seen.get(value);
  if (done !== undefined) return done;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    seen.set(value, out);
    for (const v of value) out.push(withoutPrototypes(v, seen));
    return out;
  }
  const out: Record<string, unknown> = Object.create(null);
  seen.set(value, out);
  for (const [k, v] of Object.entries(value)) out[k] = withoutPrototypes(v, seen);
  return out;
}

/**
 * Whatever can be read of a document that does not validate, even with syntax errors elsewhere:
 * each top-level key whose value builds on its own, unchecked, without prototypes. For the steps
 * that must run anyway (the CloudFormation signal needs notify_cfn). Never throws.
 */
export function parseLenient(text: string, options: ParseOptions = {}): Record<string, unknown> | undefined {
  try {
    const doc = parseDocument(text, { version: '1.1', merge: true, uniqueKeys: false, prettyErrors: false, customTags: pyyamlTags, logLevel: 'silent' });
    if (!isMap(doc.contents)) return undefined;
    const out: Record<string, unknown> = Object.create(null);
    for (const item of doc.contents.items) {
      if (!isPair(item) || !isScalar(item.key) || typeof item.key.value !== 'string') continue;
      try {
        const v = item.value as Node | null;
        out[item.key.value] = v ? withoutPrototypes(v.toJS(doc, { maxAliasCount: options.maxAliasCount ?? 100 })) : null;
      } catch {
        // this key does not build (an undefined alias, say); the others may
      }
    }
    return out;
  } catch {
    return undefined;
  }
}
