/*! Ports as the user data writes them: `8080`, `"53/udp"`; and a published port mapping. */
import { t, INVALID, error, describeValue } from '../lib/schema/types.js';

export type Protocol = 'tcp' | 'udp';

export interface PortSpec {
  port: number;
  protocol?: Protocol;
}

const PORT_TEXT = /^([0-9]{1,5})(?:\/(tcp|udp))?$/;
/** The text form of a port for JSON Schema (values and mapping keys). */
export const PORT_PATTERN = PORT_TEXT.source;

/** A port as a number or as text with an optional protocol; a string says what is wrong, naming it `what`. */
export function parsePort(value: unknown, what = 'port'): PortSpec | string {
  let text: string;
  if (typeof value === 'number' && Number.isInteger(value)) text = String(value);
  else if (typeof value === 'string') text = value;
  else return `expected a port number (1-65535, optionally /tcp or /udp), got ${describeValue(value)}`;
  const m = PORT_TEXT.exec(text);
  if (!m) return `"${text}" is not a ${what}: write a number from 1 to 65535, optionally followed by /tcp or /udp`;
  const port = Number(m[1]);
  if (port < 1 || port > 65535) return `${what} ${port} is out of range 1-65535`;
  return m[2] ? { port, protocol: m[2] as Protocol } : { port };
}

/** A port, optionally with /tcp or /udp: `8080`, `"53/udp"`. */
export const portSpec = t
  .any(
    {
      anyOf: [
        { type: 'integer', minimum: 1, maximum: 65535 },
        { type: 'string', pattern: PORT_PATTERN },
      ],
    },
    'port',
  )
  .refine<PortSpec>((v, path, ctx) => {
    const p = parsePort(v);
    if (typeof p === 'string') {
      ctx.report(error(path, 'TPG_UD_PORT', p));
      return INVALID;
    }
    return p;
  });

/** A published port, host → container, as the container plan and the runtime carry it. */
export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: Protocol;
}
