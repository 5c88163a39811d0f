/*! A small typed-schema language: one declaration gives the TypeScript type (Infer<>), runtime
 * checking with actionable messages, JSON Schema (draft 2020-12) and the documentation table.
 *
 * Why not zod/TypeBox: user-data errors must carry our codes, YAML line/column and a message that
 * says what to do, unknown keys need did-you-mean warnings, and "unsupported" keys need their own
 * verdict. Those are the core of the contract, so the checker is ours (~300 lines). */
import { suggest } from './suggest.js';

export type Path = (string | number)[];
export type Severity = 'error' | 'warning';

export interface CheckIssue {
  path: Path;
  code: string;
  message: string;
  severity: Severity;
  /** Point at the key (unknown key) or at the value (wrong value). */
  at: 'key' | 'value';
}

export interface CheckContext {
  report(issue: CheckIssue): void;
  /** The scalar's text as written in the source (keeps `1.10` as "1.10"), when known. */
  sourceOf?(path: Path): string | undefined;
}

export const INVALID: unique symbol = Symbol('invalid');
export type Checked<T> = T | typeof INVALID;

export type JsonSchema = Record<string, unknown>;
export type Presence = 'optional' | 'required' | 'defaulted';

export interface Meta {
  description?: string;
  default?: unknown;
  examples?: unknown[];
  /** Accepted but not implemented by this image: a warning names it. */
  unsupported?: string;
  deprecated?: string;
  /** Never print the value (plan, docs examples). */
  secret?: boolean;
  /** What the error says when a required key is absent (default: the description's first sentence). */
  whenMissing?: string;
}

export function error(path: Path, code: string, message: string, at: 'key' | 'value' = 'value'): CheckIssue {
  return { path, code, message, severity: 'error', at };
}

export function warning(path: Path, code: string, message: string, at: 'key' | 'value' = 'value'): CheckIssue {
  return { path, code, message, severity: 'warning', at };
}

export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing (null)';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'boolean') return `the boolean ${v}`;
  if (typeof v === 'number') return Number.isInteger(v) ? `the integer ${v}` : `the number ${v}`;
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Date) return 'a timestamp';
  return 'a mapping';
}

export abstract class Schema<T = unknown, P extends Presence = 'optional'> {
  declare readonly _type: T;
  declare readonly _presence: P;
  meta: Meta = {};
  presence: Presence = 'optional';

  /** Check `value` at `path`; report problems to ctx; return the normalized value or INVALID. */
  abstract check(value: unknown, path: Path, ctx: CheckContext): Checked<T>;
  protected abstract baseJsonSchema(): JsonSchema;
  /** Short type name for the documentation table. */
  abstract typeName(): string;

  toJsonSchema(): JsonSchema {
    const s: JsonSchema = { ...this.baseJsonSchema() };
    if (this.meta.description) s.description = this.meta.description;
    if (this.meta.default !== undefined) s.default = this.meta.default;
    if (this.meta.examples) s.examples = this.meta.examples;
    if (this.meta.deprecated || this.meta.unsupported) s.deprecated = true;
    return s;
  }

  protected clone(): this {
    const c = Object.create(Object.getPrototypeOf(this)) as this;
    Object.assign(c, this);
    c.meta = { ...this.meta };
    return c;
  }

  describe(description: string): this {
    const c = this.clone();
    c.meta.description = description;
    return c;
  }
  examples(...examples: unknown[]): this {
    const c = this.clone();
    c.meta.examples = examples;
    return c;
  }
  secret(): this {
    const c = this.clone();
    c.meta.secret = true;
    return c;
  }
  required(): Schema<T, 'required'> {
    const c = this.clone();
    c.presence = 'required';
    return c as unknown as Schema<T, 'required'>;
  }
  /** The same key, but it may be left out (no default). */
  optional(): Schema<T, 'optional'> {
    const c = this.clone();
    c.presence = 'optional';
    delete c.meta.default;
    delete c.meta.whenMissing;
    return c as unknown as Schema<T, 'optional'>;
  }
  /** Say this, not the description, when the required key is absent. */
  whenMissing(message: string): this {
    const c = this.clone();
    c.meta.whenMissing = message;
    return c;
  }
  /** The value used when the key is absent (documented, and filled in by checking). */
  default(value: T): Schema<T, 'defaulted'> {
    const c = this.clone();
    c.presence = 'defaulted';
    c.meta.default = value;
    return c as unknown as Schema<T, 'defaulted'>;
  }
  /** Extra rules after the type check; return the (possibly normalized) value or INVALID. */
  refine<U = T>(fn: (value: T, path: Path, ctx: CheckContext) => Checked<U>): Schema<U, P> {
    return new Refined<T, U, P>(this as unknown as Schema<T, P>, fn);
  }
}

// biome-ignore lint/suspicious/noExplicitAny: schemas of any value type, as object shapes hold them.
export type AnySchema = Schema<any, any>;
// biome-ignore lint/suspicious/noExplicitAny: the input type plays no part in what a schema yields.
export type Infer<S> = S extends Schema<infer T, any> ? T : never;

class Refined<T, U, P extends Presence> extends Schema<U, P> {
  constructor(
    readonly inner: Schema<T, P>,
    private readonly fn: (value: T, path: Path, ctx: CheckContext) => Checked<U>,
  ) {
    super();
    this.meta = { ...inner.meta };
    this.presence = inner.presence;
  }
  check(value: unknown, path: Path, ctx: CheckContext): Checked<U> {
    const v = this.inner.check(value, path, ctx);
    return v === INVALID ? INVALID : this.fn(v, path, ctx);
  }
  protected baseJsonSchema(): JsonSchema {
    const s = this.inner.toJsonSchema();
    delete s.description;
    delete s.default;
    return s;
  }
  typeName(): string {
    return this.inner.typeName();
  }
  /** Extra JSON Schema keywords for rules the refinement adds. */
  jsonExtra(extra: JsonSchema): this {
    const c = this.clone();
    const base = c.baseJsonSchema.bind(c);
    c.baseJsonSchema = () => ({ ...base(), ...extra });
    return c;
  }
}

// ---------------------------------------------------------------------------------------------
// Scalars

export interface StringOptions {
  pattern?: RegExp;
  /** Said when the pattern does not match; should say what a good value looks like. */
  patternMessage?: string;
  minLength?: number;
  maxLength?: number;
  /** Reject line breaks and NUL (values rendered into config files). */
  singleLine?: boolean;
  /** Accept numbers and render them as written (`1.10` stays "1.10"). Default true. */
  acceptNumbers?: boolean;
}

export class StringSchema extends Schema<string> {
  constructor(private readonly opts: StringOptions = {}) {
    super();
  }
  check(value: unknown, path: Path, ctx: CheckContext): Checked<string> {
    let s: string;
    if (typeof value === 'string') s = value;
    else if (typeof value === 'number' && this.opts.acceptNumbers !== false) s = ctx.sourceOf?.(path) ?? String(value);
    else {
      ctx.report(
        error(
          path,
          'TPG_UD_TYPE',
          `expected a string, got ${describeValue(value)}${
            typeof value === 'boolean'
              ? `; YAML reads yes/no/on/off/true/false as booleans, so quote it ("${String(ctx.sourceOf?.(path) ?? value)}")`
              : typeof value === 'number'
                ? `; put it in quotes ("${String(ctx.sourceOf?.(path) ?? value)}")`
                : ''
          }`,
        ),
      );
      return INVALID;
    }
    const o = this.opts;
    if (o.minLength !== undefined && s.length < o.minLength) {
      ctx.report(error(path, 'TPG_UD_LENGTH', o.minLength === 1 ? 'must not be empty' : `must be at least ${o.minLength} characters long`));
      return INVALID;
    }
    if (o.maxLength !== undefined && s.length > o.maxLength) {
      ctx.report(error(path, 'TPG_UD_LENGTH', `must be at most ${o.maxLength} characters long (got ${s.length})`));
      return INVALID;
    }
    // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is what this check refuses.
    if (o.singleLine && /[\r\n\u0000\u0085\u2028\u2029]/.test(s)) {
      ctx.report(error(path, 'TPG_UD_MULTILINE', 'must be a single line: line breaks and NUL are not allowed here'));
      return INVALID;
    }
    if (o.pattern && !o.pattern.test(s)) {
      ctx.report(error(path, 'TPG_UD_PATTERN', o.patternMessage ?? `must match ${o.pattern.source}`));
      return INVALID;
    }
    return s;
  }
  protected baseJsonSchema(): JsonSchema {
    // Numbers are accepted and read as written (application_version: 1.10).
    const s: JsonSchema = { type: this.opts.acceptNumbers === false ? 'string' : ['string', 'number'] };
    if (this.opts.pattern) s.pattern = this.opts.pattern.source;
    if (this.opts.minLength !== undefined) s.minLength = this.opts.minLength;
    if (this.opts.maxLength !== undefined) s.maxLength = this.opts.maxLength;
    return s;
  }
  typeName(): string {
    return 'string';
  }
}

export class BooleanSchema extends Schema<boolean> {
  check(value: unknown, path: Path, ctx: CheckContext): Checked<boolean> {
    if (typeof value === 'boolean') return value;
    const hint =
      typeof value === 'string' && /^(true|false|yes|no|on|off)$/i.test(value)
        ? `; write ${value} without quotes: a quoted "${value}" is a string, and a string here once wiped a team's data`
        : '; write true or false';
    ctx.report(error(path, 'TPG_UD_TYPE', `expected a boolean, got ${describeValue(value)}${hint}`));
    return INVALID;
  }
  protected baseJsonSchema(): JsonSchema {
    return { type: 'boolean' };
  }
  typeName(): string {
    return 'boolean';
  }
}

export interface IntegerOptions {
  min?: number;
  max?: number;
}

export class IntegerSchema extends Schema<number> {
  constructor(private readonly opts: IntegerOptions = {}) {
    super();
  }
  check(value: unknown, path: Path, ctx: CheckContext): Checked<number> {
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      const quoted = typeof value === 'string' && /^-?\d+$/.test(value) ? `; write ${value} without quotes` : '';
      ctx.report(error(path, 'TPG_UD_TYPE', `expected an integer, got ${describeValue(value)}${quoted}`));
      return INVALID;
    }
    const { min, max } = this.opts;
    if ((min !== undefined && value < min) || (max !== undefined && value > max)) {
      const range =
        min !== undefined && max !== undefined
          ? `between ${min} and ${max}`
          : min !== undefined
            ? min === 1
              ? 'a positive integer'
              : `at least ${min}`
            : `at most ${max}`;
      ctx.report(error(path, 'TPG_UD_RANGE', `must be ${range}, got ${value}`));
      return INVALID;
    }
    return value;
  }
  protected baseJsonSchema(): JsonSchema {
    const s: JsonSchema = { type: 'integer' };
    if (this.opts.min !== undefined) s.minimum = this.opts.min;
    if (this.opts.max !== undefined) s.maximum = this.opts.max;
    return s;
  }
  typeName(): string {
    return this.opts.min === 1 && this.opts.max === undefined ? 'positive integer' : 'integer';
  }
}

export class EnumSchema<const V extends string> extends Schema<V> {
  constructor(
    readonly values: readonly V[],
    /** YAML 1.1 turns `yes`/`no` into booleans; map them back where the enum means the word. */
    private readonly fromBoolean?: { true: V; false: V },
  ) {
    super();
  }
  check(value: unknown, path: Path, ctx: CheckContext): Checked<V> {
    if (typeof value === 'boolean' && this.fromBoolean) return value ? this.fromBoolean.true : this.fromBoolean.false;
    if (typeof value === 'string' && (this.values as readonly string[]).includes(value)) return value as V;
    const near = typeof value === 'string' ? suggest(value, this.values) : undefined;
    ctx.report(error(path, 'TPG_UD_ENUM', `must be one of ${this.values.join(', ')}; got ${describeValue(value)}${near ? ` (did you mean ${near}?)` : ''}`));
    return INVALID;
  }
  protected baseJsonSchema(): JsonSchema {
    return this.fromBoolean ? { anyOf: [{ enum: [...this.values] }, { type: 'boolean' }] } : { enum: [...this.values] };
  }
  typeName(): string {
    return this.values.join(' \\| ');
  }
}

/** Anything goes (free-form keys such as `dockercfg`). */
export class AnySchemaType extends Schema<unknown> {
  constructor(
    private readonly json: JsonSchema = {},
    private readonly name = 'any',
  ) {
    super();
  }
  check(value: unknown): Checked<unknown> {
    return value;
  }
  protected baseJsonSchema(): JsonSchema {
    return { ...this.json };
  }
  typeName(): string {
    return this.name;
  }
}

/** A key the original accepted that this image does not implement: accepted, with a warning. */
export class UnsupportedSchema extends Schema<unknown> {
  constructor(private readonly reason: string) {
    super();
    this.meta.unsupported = reason;
  }
  check(value: unknown, path: Path, ctx: CheckContext): Checked<unknown> {
    ctx.report({
      path,
      code: 'TPG_UD_UNSUPPORTED_KEY',
      message: `is not supported by this image and is ignored (${this.reason})`,
      severity: 'warning',
      at: 'key',
    });
    return value;
  }
  protected baseJsonSchema(): JsonSchema {
    return {};
  }
  typeName(): string {
    return 'unsupported';
  }
}

// ---------------------------------------------------------------------------------------------
// Collections

export class ListSchema<T> extends Schema<T[]> {
  constructor(
    readonly item: Schema<T>,
    private readonly opts: { minItems?: number; maxItems?: number; unique?: boolean } = {},
  ) {
    super();
  }
  check(value: unknown, path: Path, ctx: CheckContext): Checked<T[]> {
    if (!Array.isArray(value)) {
      ctx.report(error(path, 'TPG_UD_TYPE', `expected a list, got ${describeValue(value)}`));
      return INVALID;
    }
    if (this.opts.minItems !== undefined && value.length < this.opts.minItems) {
      ctx.report(error(path, 'TPG_UD_LENGTH', `needs at least ${this.opts.minItems} item${this.opts.minItems === 1 ? '' : 's'}`));
      return INVALID;
    }
    if (this.opts.maxItems !== undefined && value.length > this.opts.maxItems) {
      ctx.report(error(path, 'TPG_UD_LENGTH', `takes at most ${this.opts.maxItems} items`));
      return INVALID;
    }
    let ok = true;
    const out: T[] = [];
    const seen = new Set<string>();
    value.forEach((v, i) => {
      const r = this.item.check(v, [...path, i], ctx);
      if (r === INVALID) ok = false;
      else {
        if (this.opts.unique) {
          const k = JSON.stringify(r);
          if (seen.has(k)) {
            ctx.report(error([...path, i], 'TPG_UD_DUPLICATE', 'appears twice in the list'));
            ok = false;
          }
          seen.add(k);
        }
        out.push(r);
      }
    });
    return ok ? out : INVALID;
  }
  protected baseJsonSchema(): JsonSchema {
    const s: JsonSchema = { type: 'array', items: this.item.toJsonSchema() };
    if (this.opts.minItems !== undefined) s.minItems = this.opts.minItems;
    if (this.opts.maxItems !== undefined) s.maxItems = this.opts.maxItems;
    if (this.opts.unique) s.uniqueItems = true;
    return s;
  }
  typeName(): string {
    return `list of ${this.item.typeName()}`;
  }
}

/** A mapping with free keys (checked by `key`) and uniform values. */
export class MapSchema<V> extends Schema<Record<string, V>> {
  constructor(
    readonly key: Schema<string>,
    readonly value: Schema<V>,
    private readonly opts: { keyJson?: JsonSchema } = {},
  ) {
    super();
  }
  check(value: unknown, path: Path, ctx: CheckContext): Checked<Record<string, V>> {
    if (!isPlainMapping(value)) {
      ctx.report(error(path, 'TPG_UD_TYPE', `expected a mapping (key: value), got ${describeValue(value)}`));
      return INVALID;
    }
    let ok = true;
    // No prototype: a key named `__proto__` or `constructor` is a key like any other.
    const out: Record<string, V> = Object.create(null);
    for (const [k, v] of Object.entries(value)) {
      const keyPath = [...path, k];
      const kk = this.key.check(k, keyPath, { report: (i) => ctx.report({ ...i, at: 'key' }), sourceOf: ctx.sourceOf });
      const vv = this.value.check(v, keyPath, ctx);
      if (kk === INVALID || vv === INVALID) ok = false;
      else out[kk] = vv;
    }
    return ok ? out : INVALID;
  }
  protected baseJsonSchema(): JsonSchema {
    const s: JsonSchema = { type: 'object', additionalProperties: this.value.toJsonSchema() };
    const keyJson = this.opts.keyJson ?? this.key.toJsonSchema();
    delete keyJson.description;
    if (Object.keys(keyJson).length > 1 || keyJson.type !== 'string') s.propertyNames = keyJson;
    return s;
  }
  typeName(): string {
    return `mapping of ${this.value.typeName()}`;
  }
}

export type Shape = Record<string, AnySchema>;
type OptionalKeys<S extends Shape> = { [K in keyof S]: S[K]['_presence'] extends 'optional' ? K : never }[keyof S];
type PresentKeys<S extends Shape> = Exclude<keyof S, OptionalKeys<S>>;
export type InferShape<S extends Shape> = { [K in PresentKeys<S>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Infer<S[K]> };

export interface ObjectOptions {
  /** What an unknown key gets: a did-you-mean warning (default) or an error. */
  unknownKeys?: 'warn' | 'error';
  /** A warning of its own for an unknown key that meant something elsewhere (did-you-mean is added). */
  unknownKeyWarning?: (key: string, mapping: Record<string, unknown>) => { code: string; message: string } | undefined;
  /** Rules across the mapping's keys (two that may not meet), run once every key checked without
   * errors; false when one failed (it reported why). */
  acrossKeys?: (value: Readonly<Record<string, unknown>>, path: Path, ctx: CheckContext) => boolean;
}

export class ObjectSchema<S extends Shape> extends Schema<InferShape<S>> {
  constructor(
    readonly shape: S,
    private readonly opts: ObjectOptions = {},
  ) {
    super();
  }
  /** Optional as a whole; when absent, every field takes its own default. */
  defaults(): Schema<InferShape<S>, 'defaulted'> {
    const c = this.clone();
    c.presence = 'defaulted';
    c.meta.default = {};
    return c as unknown as Schema<InferShape<S>, 'defaulted'>;
  }
  check(value: unknown, path: Path, ctx: CheckContext): Checked<InferShape<S>> {
    if (!isPlainMapping(value)) {
      ctx.report(error(path, 'TPG_UD_TYPE', `expected a mapping (key: value), got ${describeValue(value)}`));
      return INVALID;
    }
    let ok = true;
    // No prototype, and own keys only: `constructor` or `toString` in user data is an unknown key,
    // never a property inherited from Object.prototype.
    const out: Record<string, unknown> = Object.create(null);
    const known = Object.keys(this.shape);
    for (const [k, v] of Object.entries(value)) {
      const field = Object.hasOwn(this.shape, k) ? this.shape[k] : undefined;
      if (!field) {
        const near = suggest(k, known);
        const own = this.opts.unknownKeys === 'error' ? undefined : this.opts.unknownKeyWarning?.(k, value);
        if (own) {
          ctx.report({ path: [...path, k], code: own.code, message: `${own.message}${near ? `; did you mean ${near}?` : ''}`, severity: 'warning', at: 'key' });
          continue;
        }
        const where = path.length ? '' : ' at the top level';
        ctx.report({
          path: [...path, k],
          code: 'TPG_UD_UNKNOWN_KEY',
          message: `unknown key${where}${near ? `; did you mean ${near}?` : known.length > 12 ? '; it is not part of the contract (see docs/user-data.md for every key)' : `; known keys here: ${known.join(', ')}`}`,
          severity: this.opts.unknownKeys === 'error' ? 'error' : 'warning',
          at: 'key',
        });
        if (this.opts.unknownKeys === 'error') ok = false;
        continue;
      }
      if (v === null && field.presence !== 'required') {
        // `key:` with no value means "not set", as PyYAML's None did in the original's get_or().
        if (field.presence === 'defaulted') out[k] = defaultOf(field, [...path, k], ctx);
        continue;
      }
      const r = field.check(v, [...path, k], ctx);
      if (r === INVALID) ok = false;
      else out[k] = r;
    }
    for (const [k, field] of Object.entries(this.shape)) {
      if (Object.hasOwn(out, k) || (Object.hasOwn(value, k) && (value as Record<string, unknown>)[k] !== null)) continue;
      if (field.presence === 'required') {
        const why = field.meta.whenMissing ?? (field.meta.description ? firstSentence(field.meta.description) : undefined);
        ctx.report(error([...path, k], 'TPG_UD_REQUIRED', `missing required key${why ? `: ${why}` : ''}`));
        ok = false;
      } else if (field.presence === 'defaulted') out[k] = defaultOf(field, [...path, k], ctx);
    }
    if (ok && this.opts.acrossKeys && !this.opts.acrossKeys(out, path, ctx)) ok = false;
    return ok ? (out as InferShape<S>) : INVALID;
  }
  protected baseJsonSchema(): JsonSchema {
    const properties: Record<string, JsonSchema> = {};
    // `key:` with no value (null) means "not set" for every key that is not required.
    for (const [k, f] of Object.entries(this.shape)) properties[k] = f.presence === 'required' ? f.toJsonSchema() : nullable(f.toJsonSchema());
    const required = Object.entries(this.shape)
      .filter(([, f]) => f.presence === 'required')
      .map(([k]) => k);
    return {
      type: 'object',
      properties,
      ...(required.length ? { required } : {}),
      ...(this.opts.unknownKeys === 'error' ? { additionalProperties: false } : {}),
    };
  }
  typeName(): string {
    return 'mapping';
  }
}

/** One of several shapes, chosen by the first that checks without errors (scalar unions). */
export class UnionSchema<T> extends Schema<T> {
  constructor(
    private readonly options: Schema<T>[],
    private readonly message: string,
  ) {
    super();
  }
  check(value: unknown, path: Path, ctx: CheckContext): Checked<T> {
    for (const o of this.options) {
      const issues: CheckIssue[] = [];
      const r = o.check(value, path, { report: (i) => issues.push(i), sourceOf: ctx.sourceOf });
      if (r !== INVALID && !issues.some((i) => i.severity === 'error')) {
        for (const i of issues) ctx.report(i);
        return r;
      }
    }
    ctx.report(error(path, 'TPG_UD_TYPE', `${this.message}; got ${describeValue(value)}`));
    return INVALID;
  }
  protected baseJsonSchema(): JsonSchema {
    return { anyOf: this.options.map((o) => o.toJsonSchema()) };
  }
  typeName(): string {
    return this.options.map((o) => o.typeName()).join(' or ');
  }
}

function nullable(s: JsonSchema): JsonSchema {
  if (typeof s.type === 'string') return { ...s, type: [s.type, 'null'] };
  if (Array.isArray(s.type)) return s.type.includes('null') ? s : { ...s, type: [...s.type, 'null'] };
  if (Object.keys(s).every((k) => ['description', 'default', 'examples', 'deprecated'].includes(k))) return s;
  const { description, default: dflt, examples, deprecated, ...rest } = s;
  return {
    ...(description ? { description } : {}),
    ...(dflt !== undefined ? { default: dflt } : {}),
    ...(examples ? { examples } : {}),
    ...(deprecated ? { deprecated } : {}),
    anyOf: [rest, { type: 'null' }],
  };
}

/** A field's default, normalized by the field itself (so `object(...).default({})` fills nested defaults). */
function defaultOf(field: AnySchema, path: Path, ctx: CheckContext): unknown {
  const v = field.check(structuredClone(field.meta.default), path, ctx);
  return v === INVALID ? structuredClone(field.meta.default) : v;
}

export function isPlainMapping(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date) && !(v instanceof Uint8Array);
}

function firstSentence(s: string): string {
  const m = /^[^.]*/.exec(s);
  return (m ? m[0] : s).trim();
}

// ---------------------------------------------------------------------------------------------
// Constructors

export const t = {
  string: (opts?: StringOptions) => new StringSchema(opts),
  boolean: () => new BooleanSchema(),
  integer: (opts?: IntegerOptions) => new IntegerSchema(opts),
  enum: <const V extends string>(values: readonly V[], fromBoolean?: { true: V; false: V }) => new EnumSchema<V>(values, fromBoolean),
  list: <T>(item: Schema<T>, opts?: { minItems?: number; maxItems?: number; unique?: boolean }) => new ListSchema<T>(item, opts),
  map: <V>(key: Schema<string>, value: Schema<V>, opts?: { keyJson?: JsonSchema }) => new MapSchema<V>(key, value, opts),
  object: <S extends Shape>(shape: S, opts?: ObjectOptions) => new ObjectSchema<S>(shape, opts),
  union: <T>(options: Schema<T>[], message: string) => new UnionSchema<T>(options, message),
  any: (json?: JsonSchema, name?: string) => new AnySchemaType(json, name),
  unsupported: (reason: string) => new UnsupportedSchema(reason),
};

// ---------------------------------------------------------------------------------------------
// Naming a place without quoting the document

/**
 * The longest start of `path` made of keys the schema itself names (an object's fields, list
 * indexes), stopping before the first free key of a map: for a syntax error, whose "keys" are the
 * parser's guess and may be a mis-indented value (a password, say).
 */
export function namedKeyPrefix(schema: AnySchema, path: Path): Path {
  const out: Path = [];
  let s: AnySchema = schema;
  for (const seg of path) {
    while (s instanceof Refined) s = s.inner as AnySchema;
    if (s instanceof ObjectSchema && typeof seg === 'string' && Object.hasOwn(s.shape, seg)) s = s.shape[seg] as AnySchema;
    else if (s instanceof ListSchema && typeof seg === 'number') s = s.item as AnySchema;
    else break;
    out.push(seg);
  }
  return out;
}

/** Names of the fields marked `.secret()`, at any depth: their values never appear in a message. */
export function secretFieldNames(schema: AnySchema, out = new Set<string>(), depth = 0): string[] {
  let s: AnySchema = schema;
  while (s instanceof Refined) s = s.inner as AnySchema;
  if (depth < 10) {
    if (s instanceof ObjectSchema) {
      for (const [k, f] of Object.entries(s.shape as Shape)) {
        if (f.meta.secret) out.add(k);
        secretFieldNames(f, out, depth + 1);
      }
    } else if (s instanceof MapSchema) secretFieldNames(s.value as AnySchema, out, depth + 1);
    else if (s instanceof ListSchema) secretFieldNames(s.item as AnySchema, out, depth + 1);
  }
  return [...out];
}
