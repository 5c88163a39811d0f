/*! Render a schema as a Markdown reference table (docs/user-data.md is generated from this). */
import { ObjectSchema, type AnySchema, MapSchema, ListSchema } from './types.js';

export interface Row {
  key: string;
  type: string;
  default: string;
  description: string;
}

export function rows(schema: AnySchema, prefix = ''): Row[] {
  const out: Row[] = [];
  if (!(schema instanceof ObjectSchema)) return out;
  for (const [k, field] of Object.entries(schema.shape as Record<string, AnySchema>)) {
    const key = prefix ? `${prefix}.${k}` : k;
    const m = field.meta;
    out.push({
      key: field.presence === 'required' ? `**${key}**` : key,
      type: m.unsupported ? 'unsupported' : field.typeName(),
      default: m.default === undefined ? (field.presence === 'required' ? 'required' : '') : `\`${JSON.stringify(m.default)}\``,
      description: m.unsupported ? `Accepted with a warning: ${m.unsupported}.` : (m.description ?? ''),
    });
    const inner = innerObject(field);
    const container = innerContainer(field);
    if (inner) out.push(...rows(inner, container === 'key' ? `${key}.<key>` : container === 'n' ? `${key}[]` : key));
  }
  return out;
}

function innerObject(s: AnySchema): AnySchema | undefined {
  const base = unwrap(s);
  if (base instanceof ObjectSchema) return base;
  if (base instanceof MapSchema && unwrap(base.value) instanceof ObjectSchema) return unwrap(base.value);
  if (base instanceof ListSchema && unwrap(base.item) instanceof ObjectSchema) return unwrap(base.item);
  return undefined;
}

function innerContainer(s: AnySchema): string | undefined {
  const base = unwrap(s);
  if (base instanceof MapSchema) return 'key';
  if (base instanceof ListSchema) return 'n';
  return undefined;
}

/** Look through refinements to the declared structure. */
function unwrap(s: AnySchema): AnySchema {
  let cur: AnySchema = s;
  while ((cur as unknown as { inner?: AnySchema }).inner) cur = (cur as unknown as { inner: AnySchema }).inner;
  return cur;
}

export function markdownTable(list: Row[]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  return [
    '| Key | Type | Default | Description |',
    '|---|---|---|---|',
    ...list.map((r) => `| ${esc(r.key)} | ${r.type} | ${esc(r.default)} | ${esc(r.description)} |`),
  ].join('\n');
}
