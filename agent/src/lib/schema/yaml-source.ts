/*! YAML text → plain value plus an index from key paths to 1-based line/column, parsed the way
 * the original's PyYAML did (YAML 1.1: yes/no/on/off are booleans, `80: 8080` has integer keys,
 * `<<` merges, a key given twice keeps its last value, here with a warning), with alias
 * expansion bounded. */
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
  });
  const pos = (offset: number): Position => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, column: p.col };
  };
  for (const e of doc.errors) {
    issues.push({
      path: doc.contents ? pathAtOffset(doc.contents as Node, e.pos[0]) : [],
      ...pos(e.pos[0]),
      code: 'TPG_UD_YAML_SYNTAX',
      message: `YAML syntax error: ${firstLine(e.message)}`,
      severity: 'error',
    });
  }
  if (issues.length) return { value: undefined, positions, issues, document: doc };

  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: options.maxAliasCount ?? 100 });
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const aliasBomb = /alias/i.test(message);
    issues.push({
      path: [],
      line: 1,
      column: 1,
      code: aliasBomb ? 'TPG_UD_ALIAS_LIMIT' : 'TPG_UD_YAML_SYNTAX',
      message: aliasBomb
        ? `too many alias expansions (*ref); user data may expand at most ${options.maxAliasCount ?? 100} aliases`
        : `YAML error: ${firstLine(message)}`,
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
