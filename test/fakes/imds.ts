/*! A fake EC2 instance metadata service, IMDSv2 only (HttpTokens=required), on loopback.
 *
 * Wire behaviour kept from the real service: `PUT /latest/api/token` with
 * `X-aws-ec2-metadata-token-ttl-seconds` (1-21600, else 400) returns a token and echoes the TTL;
 * every GET needs `X-aws-ec2-metadata-token`, and a missing, unknown or expired token is 401;
 * `/latest/user-data` is 404 when the instance has none; directories list their children, one a
 * line, sub-directories with a trailing slash; IAM role credentials come as the JSON document the
 * AWS SDKs' instance-metadata credential provider reads. A PUT carrying X-Forwarded-For is 403,
 * as on EC2. Time comes from `clock` so tests can expire tokens without waiting. */
import { createHash, randomBytes } from 'node:crypto';
import { startFakeServer, type FakeRequest, type FakeResponse, type FakeServer } from './http-fake.js';

export interface FakeIdentity {
  accountId: string;
  architecture: string;
  availabilityZone: string;
  imageId: string;
  instanceId: string;
  instanceType: string;
  pendingTime: string;
  privateIp: string;
  region: string;
  version: string;
  [k: string]: unknown;
}

export interface RoleCredentials {
  Code: 'Success';
  LastUpdated: string;
  Type: 'AWS-HMAC';
  AccessKeyId: string;
  SecretAccessKey: string;
  Token: string;
  Expiration: string;
}

export interface ImdsOptions {
  /** The instance's user data; null or absent: none (404). */
  userData?: string | Buffer | null;
  identity?: Partial<FakeIdentity>;
  /** IAM role name and its credentials; null: no instance profile (404). */
  role?: { name: string; credentials?: Partial<RoleCredentials> } | null;
  /** Extra or replaced meta-data leaves, by path under /latest/meta-data/ (e.g. "public-ipv4"). */
  metadata?: Record<string, string>;
  /** Milliseconds since the epoch; default Date.now. Tests advance it to expire tokens. */
  clock?: { now(): number };
  port?: number;
  /** Address to listen on (default 127.0.0.1), e.g. a Docker bridge's, for a booted image. */
  host?: string;
}

export interface ImdsState {
  userData: Buffer | null;
  identity: FakeIdentity;
  role: { name: string; credentials: RoleCredentials } | null;
  metadata: Map<string, string>;
  /** Tokens handed out (PUT /latest/api/token answered 200). */
  tokensIssued: number;
  /** GETs refused with 401 (missing, unknown or expired token). */
  unauthorized: number;
}

export interface FakeImds extends FakeServer {
  state: ImdsState;
  setUserData(data: string | Buffer | null): void;
  /** Invalidate every token handed out so far (the next GET with one is 401). */
  revokeTokens(): void;
}

export const DEFAULT_IDENTITY: FakeIdentity = {
  accountId: '123456789012',
  architecture: 'x86_64',
  availabilityZone: 'eu-central-1a',
  imageId: 'ami-0123456789abcdef0',
  instanceId: 'i-0123456789abcdef0',
  instanceType: 't3.small',
  pendingTime: '2026-01-01T00:00:00Z',
  privateIp: '10.0.1.23',
  region: 'eu-central-1',
  version: '2017-09-30',
};

export const DEFAULT_ROLE = 'app-local-cloud';

export async function startImds(options: ImdsOptions = {}): Promise<FakeImds> {
  const clock = options.clock ?? { now: () => Date.now() };
  const identity: FakeIdentity = { ...DEFAULT_IDENTITY, ...options.identity };
  const toBuf = (d: string | Buffer | null | undefined) => (d === null || d === undefined ? null : Buffer.isBuffer(d) ? d : Buffer.from(d, 'utf8'));
  const state: ImdsState = {
    userData: toBuf(options.userData),
    identity,
    role: null,
    metadata: new Map(),
    tokensIssued: 0,
    unauthorized: 0,
  };
  if (options.role !== null) {
    const name = options.role?.name ?? DEFAULT_ROLE;
    state.role = {
      name,
      credentials: {
        Code: 'Success',
        LastUpdated: new Date(clock.now()).toISOString().replace(/\.\d+Z$/, 'Z'),
        Type: 'AWS-HMAC',
        AccessKeyId: 'ASIALOCALCLOUD000001',
        SecretAccessKey: 'local-cloud-role-secret-access-key',
        Token: 'local-cloud-role-session-token',
        Expiration: new Date(clock.now() + 6 * 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z'),
        ...options.role?.credentials,
      },
    };
  }
  const mac = '0a:1b:2c:3d:4e:5f';
  const defaults: Record<string, string> = {
    'ami-id': identity.imageId,
    'instance-id': identity.instanceId,
    'instance-type': identity.instanceType,
    'local-ipv4': identity.privateIp,
    'local-hostname': `ip-${identity.privateIp.replace(/\./g, '-')}.${identity.region}.compute.internal`,
    hostname: `ip-${identity.privateIp.replace(/\./g, '-')}.${identity.region}.compute.internal`,
    mac,
    'placement/availability-zone': identity.availabilityZone,
    'placement/region': identity.region,
    'security-groups': 'app-local-cloud',
    [`network/interfaces/macs/${mac}/subnet-ipv4-cidr-block`]: '10.0.1.0/24',
    [`network/interfaces/macs/${mac}/vpc-id`]: 'vpc-0123456789abcdef0',
    [`network/interfaces/macs/${mac}/subnet-id`]: 'subnet-0123456789abcdef0',
  };
  for (const [k, v] of Object.entries({ ...defaults, ...options.metadata })) state.metadata.set(k, v);

  const tokens = new Map<string, number>(); // token → expiry (clock ms)
  const text = (status: number, body = '', headers: Record<string, string> = {}): FakeResponse => ({
    status,
    body,
    headers: { 'content-type': 'text/plain', ...headers },
  });

  const metadataTree = (): Map<string, string> => {
    const all = new Map(state.metadata);
    if (state.role) {
      all.set(`iam/security-credentials/${state.role.name}`, JSON.stringify(state.role.credentials, null, 2));
      all.set(
        'iam/info',
        JSON.stringify(
          {
            Code: 'Success',
            LastUpdated: state.role.credentials.LastUpdated,
            InstanceProfileArn: `arn:aws:iam::${identity.accountId}:instance-profile/${state.role.name}`,
            InstanceProfileId: 'AIPALOCALCLOUD000001',
          },
          null,
          2,
        ),
      );
    }
    return all;
  };

  /** A leaf's value, or a directory's listing (children one a line, directories with a slash). */
  const lookup = (tree: Map<string, string>, rel: string): string | undefined => {
    const key = rel.replace(/\/+$/, '');
    if (tree.has(key) && !rel.endsWith('/')) return tree.get(key);
    const prefix = key === '' ? '' : `${key}/`;
    const children = new Set<string>();
    for (const k of tree.keys()) {
      if (!k.startsWith(prefix)) continue;
      const rest = k.slice(prefix.length);
      const slash = rest.indexOf('/');
      children.add(slash < 0 ? rest : rest.slice(0, slash + 1));
    }
    return children.size ? [...children].sort().join('\n') : undefined;
  };

  const handle = (req: FakeRequest): FakeResponse => {
    if (req.path === '/latest/api/token') {
      if (req.method !== 'PUT') return text(405);
      if (req.headers['x-forwarded-for'] !== undefined) return text(403);
      const ttlText = req.headers['x-aws-ec2-metadata-token-ttl-seconds'];
      const ttl = Number(ttlText);
      if (typeof ttlText !== 'string' || !/^\d+$/.test(ttlText) || ttl < 1 || ttl > 21_600) return text(400);
      const token = randomBytes(32).toString('base64url');
      tokens.set(token, clock.now() + ttl * 1000);
      state.tokensIssued++;
      return text(200, token, { 'x-aws-ec2-metadata-token-ttl-seconds': String(ttl) });
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(405);
    const token = req.headers['x-aws-ec2-metadata-token'];
    const expiry = typeof token === 'string' ? tokens.get(token) : undefined;
    if (expiry === undefined || expiry <= clock.now()) {
      state.unauthorized++;
      return text(401);
    }
    if (req.path === '/latest/user-data' || req.path === '/latest/user-data/') {
      return state.userData ? { status: 200, body: state.userData, headers: { 'content-type': 'application/octet-stream' } } : text(404, notFound());
    }
    if (req.path === '/latest/dynamic/instance-identity/document')
      return { status: 200, body: JSON.stringify(identity, null, 2), headers: { 'content-type': 'text/plain' } };
    if (req.path === '/latest/dynamic/instance-identity/pkcs7' || req.path === '/latest/dynamic/instance-identity/signature') return text(200, pkcs7(identity));
    if (req.path === '/latest/dynamic/instance-identity/' || req.path === '/latest/dynamic/instance-identity') return text(200, 'document\npkcs7\nsignature');
    if (req.path.startsWith('/latest/meta-data')) {
      const rel = req.path.slice('/latest/meta-data'.length).replace(/^\//, '');
      const value = lookup(metadataTree(), rel);
      return value === undefined ? text(404, notFound()) : text(200, value);
    }
    if (req.path === '/latest' || req.path === '/latest/') return text(200, 'dynamic\nmeta-data\nuser-data');
    return text(404, notFound());
  };

  const server = await startFakeServer(
    { name: 'imds', handle, throttled: () => text(429), error: (status) => text(status) },
    { ...(options.port !== undefined ? { port: options.port } : {}), ...(options.host ? { host: options.host } : {}) },
  );
  return Object.assign(server, {
    state,
    setUserData: (d: string | Buffer | null) => {
      state.userData = toBuf(d);
    },
    revokeTokens: () => tokens.clear(),
  });
}

function notFound(): string {
  return '<?xml version="1.0" encoding="iso-8859-1"?>\n<html><head><title>404 - Not Found</title></head><body><h1>404 - Not Found</h1></body></html>\n';
}

/** Stands in for the PKCS7 signature: base64 in 64-character lines, no PEM armour, as EC2 serves it. */
function pkcs7(identity: FakeIdentity): string {
  const digest = createHash('sha256').update(JSON.stringify(identity)).digest();
  const blob = Buffer.concat([Buffer.from('LOCAL-CLOUD-PKCS7:'), digest]).toString('base64');
  return blob.match(/.{1,64}/g)!.join('\n');
}
