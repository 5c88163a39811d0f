/*! The one place the real adapters are made, from the agent config: every port of ports/index.ts
 * over Docker, Pier One, AWS (metadata service, KMS, CloudFormation, S3), the log daemons (rsyslog,
 * logrotate, systemd units), local accounts and Even.
 * Commands call realPorts() and hand the ports on; steps and the engine never import an adapter.
 *
 * Each port is made at once but its adapter is loaded (imported and constructed) on its first
 * call: a boot that decrypts nothing never loads the KMS client, `taupage credentials` never
 * loads dockerode, and the refusal path of the SSH service never loads an HTTP client. */
import type { AgentConfig } from '../config/schema.js';
import type { Logger } from '../lib/log.js';
import { realClock, type Clock } from '../lib/clock.js';
import type { Closable, PortFactory, Warmable } from '../ports/index.js';
import type { Imds } from '../ports/imds.js';
import type { Kms } from '../ports/kms.js';
import type { StackSignal } from '../ports/stack-signal.js';
import type { ObjectStore } from '../ports/object-store.js';
import type { ContainerRuntime } from '../ports/container-runtime.js';
import type { RegistryTrust } from '../ports/registry-trust.js';
import type { HttpProbe } from '../ports/http-probe.js';
import type { Accounts } from '../ports/accounts.js';
import type { AccessService } from '../ports/access-service.js';
import type { Ec2Volumes } from '../ports/ec2-volumes.js';
import type { BlockDevices, Raid } from '../ports/block-devices.js';
import { paths } from '../config/paths.js';
import type { LogDaemons } from '../ports/log-daemons.js';
import type { EndpointProbe } from '../ports/endpoint-probe.js';
import type { AwsCallOptions } from './aws/sdk.js';
import type { ImdsClient, ImdsClientOptions, ImdsTokenStore } from './aws/imds.js';
import type { CredentialsProvider } from './aws/credentials.js';

export interface RealPortsOptions {
  config: AgentConfig;
  /** Adapters log their retries here, each as a child named for its service; default: nowhere. */
  log?: Logger;
  clock?: Clock;
}

export function realPorts({ config, log, clock = realClock }: RealPortsOptions): PortFactory {
  // One metadata session token for every read: the boot's client and the credentials' share it.
  const tokens: ImdsTokenStore = {};
  const imdsOptions = (notAfter?: number): ImdsClientOptions => ({
    endpoint: config.metadata.endpoint,
    tokens,
    timeoutMs: config.metadata.timeout_ms,
    deadlineMs: config.metadata.deadline_seconds * 1000,
    retryBaseMs: config.metadata.retry_base_ms,
    ...(notAfter !== undefined ? { notAfter } : {}),
    clock,
    ...(log ? { log: log.child({ service: 'imds' }) } : {}),
  });
  // Every AWS client's credentials: one provider over a metadata client of its own (its retries
  // are the agent's; no boot phase's deadline cuts it, so the signal at the end can still renew
  // them; the session token is the boot's), made on the first lookup.
  let credentialsImds: Promise<ImdsClient> | undefined;
  let credentials: CredentialsProvider | undefined;
  const awsCredentials: CredentialsProvider = async () => {
    if (!credentials) {
      const { instanceCredentials } = await import('./aws/credentials.js');
      credentialsImds ??= import('./aws/imds.js').then((m) => new m.ImdsClient(imdsOptions()));
      const client = await credentialsImds;
      credentials ??= instanceCredentials(() => client, { clock });
    }
    return credentials();
  };
  const aws = (service: 'kms' | 'cloudformation' | 'ec2', region: string): AwsCallOptions => {
    const endpoint = config.aws.endpoints[service];
    return {
      region,
      ...(endpoint ? { endpoint } : {}),
      timeoutMs: config.aws.request_timeout_ms,
      attempts: config.aws.max_attempts,
      retryBaseMs: config.aws.retry_base_ms,
      clock,
      ...(log ? { log: log.child({ service }) } : {}),
      credentials: awsCredentials,
    };
  };
  return {
    imds: ({ notAfter } = {}) =>
      deferred<Imds>(async () => new (await import('./aws/imds.js')).ImdsClient(imdsOptions(notAfter)), {
        userData: true,
        identity: true,
        identitySignature: true,
        metadata: true,
      }),
    forRegion: (region) => ({
      kms: deferred<Kms>(async () => new (await import('./aws/kms.js')).KmsAdapter(aws('kms', region)), { decrypt: true }),
      stackSignal: deferred<StackSignal>(async () => new (await import('./aws/cfn.js')).CfnAdapter(aws('cloudformation', region)), { signal: true }),
      objectStore: deferred<ObjectStore>(
        async () => (await import('./aws/s3.js')).createS3ObjectStore({ region, aws: config.aws, credentials: awsCredentials }),
        { get: true, close: true },
      ),
      containerRuntime: deferred<ContainerRuntime>(
        async () =>
          new (await import('./dockerode-runtime.js')).DockerodeRuntime({
            host: config.docker.host,
            requestTimeoutMs: config.docker.request_timeout_ms,
            ...(log ? { log: log.child({ service: 'docker' }) } : {}),
          }),
        { inspectApp: true, pullImage: true, createApp: true, startApp: true, restartApp: true, removeApp: true, waitForExit: true },
      ),
      registryTrust: deferred<RegistryTrust>(
        async () =>
          new (await import('./pierone.js')).PierOneTrust({
            registries: config.pierone.registries,
            timeoutMs: config.pierone.request_timeout_ms,
            attemptsWithoutDeadline: config.pierone.attempts,
            ...(log ? { log: log.child({ service: 'pierone' }) } : {}),
          }),
        { approve: true },
      ),
      httpProbe: deferred<HttpProbe>(async () => (await import('./http-probe.js')).httpProbe, { status: true }),
      ec2Volumes: deferred<Ec2Volumes>(async () => new (await import('./aws/ec2.js')).Ec2Adapter(aws('ec2', region)), {
        findByName: true,
        attachedAt: true,
        attach: true,
        tag: true,
        deleteTag: true,
      }),
      blockDevices: deferred<BlockDevices>(
        async () => {
          const p = paths(config.root);
          return (await import('./block-devices.js')).blockDevices({ dev: p.dev, sys: p.sys });
        },
        {
          resolve: true,
          holders: true,
          byEbsVolumeId: true,
          content: true,
          format: true,
          check: true,
          growUnmounted: true,
          growMounted: true,
          mount: true,
          mountedAt: true,
          mountOf: true,
        },
      ),
      raid: deferred<Raid>(async () => (await import('./block-devices.js')).mdadm(), { mdadm: true }),
      logDaemons: deferred<LogDaemons>(
        async () =>
          (await import('./log-daemons.js')).logDaemons({
            rsyslogd: config.logging.rsyslogd,
            logrotate: config.logging.logrotate,
            restartRsyslog: config.logging.restart_rsyslog,
            restartCustomLogReader: config.logging.restart_custom_log_reader,
          }),
        { checkRsyslog: true, checkLogrotate: true, restartRsyslog: true, restartCustomLogReader: true, unitInstalled: true, restartUnit: true },
      ),
      endpointProbe: deferred<EndpointProbe>(async () => (await import('./endpoint-probe.js')).endpointProbe, { reach: true }),
    }),
    accounts: () =>
      deferred<Accounts>(async () => (await import('./linux-accounts.js')).linuxAccounts(), {
        lookup: true,
        list: true,
        existingGroups: true,
        create: true,
        remove: true,
        ensureGroup: true,
        inGroup: true,
        addToGroup: true,
        endProcesses: true,
      }),
    accessService: () =>
      deferred<AccessService>(
        async () =>
          (await import('./even.js')).evenClient({
            url: config.ssh.even_url ?? '',
            timeoutMs: config.ssh.request_timeout_ms,
            attemptsWithoutDeadline: config.ssh.attempts,
            ...(log ? { log: log.child({ service: 'even' }) } : {}),
          }),
        { publicKey: true },
      ),
  };
}

/** Every method of a port, by name: the compiler holds the list to the port's interface. */
type Methods<T> = { [K in keyof T]-?: T[K] extends (...args: never[]) => unknown ? true : never };

/**
 * A port whose adapter is made by `make` on the first call of any of its methods (and once: a
 * failure to make it is every call's failure). `close()` closes the adapter if it was made;
 * `warm()` makes it now and lets it warm itself up.
 */
function deferred<T extends object>(make: () => Promise<T & Closable & Warmable>, methods: Methods<T>): T & Closable & Warmable {
  let made: Promise<T & Closable & Warmable> | undefined;
  const adapter = () => {
    made ??= make();
    return made;
  };
  const port: Record<string, unknown> = Object.create(null);
  for (const name of Object.keys(methods)) {
    port[name] = async (...args: unknown[]) => {
      const a = (await adapter()) as unknown as Record<string, (...args: unknown[]) => unknown>;
      return a[name]!(...args);
    };
  }
  port.close = async () => {
    const a = await made?.catch(() => undefined);
    await a?.close?.();
  };
  port.warm = async () => {
    const a = await adapter();
    await a.warm?.();
  };
  return port as T & Closable & Warmable;
}
