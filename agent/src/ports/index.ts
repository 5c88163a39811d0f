/*! Every port of the agent in one record, and what makes them.
 *
 * `BootPorts` is what a boot's steps receive (ctx.ports): a step that needs the outside world
 * names the port it uses, never an adapter. `PortFactory` makes ports from the agent config:
 * adapters/index.ts makes the real ones (each loaded on first use), tests pass their own. A new
 * kind of effect (EC2, say) is a port file here, a line in BootPorts, and its adapter made in
 * adapters/index.ts forRegion(); the engine and the test harness pass every port on as it is. */
import type { Imds } from './imds.js';
import type { Kms } from './kms.js';
import type { StackSignal } from './stack-signal.js';
import type { ObjectStore } from './object-store.js';
import type { ContainerRuntime } from './container-runtime.js';
import type { RegistryTrust } from './registry-trust.js';
import type { HttpProbe } from './http-probe.js';
import type { Accounts } from './accounts.js';
import type { AccessService } from './access-service.js';
import type { Ec2Volumes } from './ec2-volumes.js';
import type { BlockDevices, Raid } from './block-devices.js';
import type { LogDaemons } from './log-daemons.js';
import type { EndpointProbe } from './endpoint-probe.js';

/** What the boot's steps use. The region-bound ones speak to the instance's region. */
export interface BootPorts {
  imds: Imds;
  kms: Kms;
  stackSignal: StackSignal;
  objectStore: ObjectStore;
  containerRuntime: ContainerRuntime;
  registryTrust: RegistryTrust;
  httpProbe: HttpProbe;
  ec2Volumes: Ec2Volumes;
  blockDevices: BlockDevices;
  raid: Raid;
  logDaemons: LogDaemons;
  endpointProbe: EndpointProbe;
}

/** Holds sockets or clients until closed; the one who made a port closes it. */
export interface Closable {
  close?(): unknown;
}

/** Can be readied ahead of its first use (load the client, resolve its credentials). */
export interface Warmable {
  warm?(): Promise<void>;
}

/** The boot's ports besides the metadata service, each closable by whoever made it. */
export type RegionPorts = { [K in Exclude<keyof BootPorts, 'imds'>]: BootPorts[K] & Closable } & { stackSignal: Warmable };

export interface PortFactory {
  /** The instance metadata service; no call goes past `notAfter` (clock ms), e.g. the boot deadline. */
  imds(options?: { notAfter?: number }): Imds & Closable;
  /** Every other port a boot's steps use, speaking to `region` where they speak to AWS. */
  forRegion(region: string): RegionPorts;
  /** Local accounts (the SSH access service). */
  accounts(): Accounts & Closable;
  /** Even (the SSH access service); warm() loads its client. */
  accessService(): AccessService & Closable & Warmable;
}
