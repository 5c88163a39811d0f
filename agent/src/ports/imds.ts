/*! Instance metadata, as the boot needs it (IMDSv2). Implemented over undici in adapters/aws/imds.ts. */

export interface IdentityDocument {
  instanceId: string;
  region: string;
  availabilityZone: string;
  accountId: string;
  privateIp?: string;
  imageId?: string;
  instanceType?: string;
}

export interface Imds {
  /** The user data as EC2 stores it (bytes: a gzipped document stays gzipped), or undefined when the instance has none (404). */
  userData(signal?: AbortSignal): Promise<Buffer | undefined>;
  /** The identity document, parsed, plus its raw JSON text (read once, then cached). */
  identity(signal?: AbortSignal): Promise<{ document: IdentityDocument; raw: string }>;
  /** PKCS7 signature of the identity document (Pier One login password; read once, then cached). */
  identitySignature(signal?: AbortSignal): Promise<string>;
  /** Any meta-data path, e.g. `local-ipv4`; undefined on 404. */
  metadata(path: string, signal?: AbortSignal): Promise<string | undefined>;
}
