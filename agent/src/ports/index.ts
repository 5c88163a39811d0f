/*! Every port of the agent in one record, and what makes them.
 *
 * `BootPorts` is what a boot's steps receive (ctx.ports): a step that needs the outside world
 * names the port it uses, never an adapter. `PortFactory` makes ports from the agent config:
 * adapters/index.ts makes the real ones (each loaded on first use), tests pass their own. A new
 * kind of effect (EC2, say) is a port file here, a line in both records, and its adapter beside
 * the others. */
import type { Imds } from './imds.js';
import type { Kms } from './kms.js';
import type { StackSignal } from './stack-signal.js';
import type { ObjectStore } from './object-store.js';
import type { ContainerRuntime } from './container-runtime.js';
import type { RegistryTrust } from './registry-trust.js';
import type { HttpProbe } from './http-probe.js';
import type { Accounts } from './accounts.js';
import type { AccessService } from './access-service.js';

/** What the boot's steps use. The region-bound ones speak to the instance's region. */
export interface BootPorts {
  imds: Imds;
  kms: Kms;
  stackSignal: StackSignal;
  objectStore: ObjectStore;
  containerRuntime: ContainerRuntime;
  registryTrust: RegistryTrust;
  httpProbe: HttpProbe;
}

/** Holds sockets or clients until closed; the one who made a port closes it. */
export interface Closable {
  close?(): unknown;
}

/** Can be readied ahead of its first use (load the client, resolve its credentials). */
export interface Warmable {
  warm?(): Promise<void>;
}

export interface PortFactory {
  /** The instance metadata service; no call goes past `notAfter` (clock ms), e.g. the boot deadline. */
  imds(options?: { notAfter?: number }): Imds & Closable;
  kms(region: string): Kms & Closable;
  stackSignal(region: string): StackSignal & Closable & Warmable;
  objectStore(region: string): ObjectStore;
  containerRuntime(): ContainerRuntime & Closable;
  registryTrust(): RegistryTrust & Closable;
  httpProbe(): HttpProbe & Closable;
  /** Local accounts (the SSH access service). */
  accounts(): Accounts & Closable;
  /** Even (the SSH access service); warm() loads its client. */
  accessService(): AccessService & Closable & Warmable;
}
