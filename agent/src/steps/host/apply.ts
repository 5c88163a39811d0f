/*! Host settings applied at boot: the sysctl file under /etc/sysctl.d and each of its kernel
 * parameters written to /proc/sys at once, the allowed sysfs settings, and the check that this
 * instance needs no NAT routing (which this image does not set up).
 *
 * Parameters are written to their existing files only (never created), so a parameter the kernel
 * does not have fails, as does a value it refuses; every failure is named in one error. */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { AgentError } from '../../lib/errors.js';
import { writeFileAtomic } from '../../lib/atomic-write.js';
import type { BootContext } from '../context.js';
import type { StepReport } from '../step.js';
import type { HostPlan } from './plan.js';

export async function applyHost(plan: HostPlan, ctx: BootContext): Promise<StepReport> {
  const notes: string[] = [];
  if (plan.natGateways.length) notes.push(await checkNat(plan, ctx));
  const failures: string[] = [];
  if (plan.sysctl) {
    try {
      await writeFileAtomic(plan.sysctl.file, plan.sysctl.content, { mode: 0o644, mkdirParents: true });
    } catch (e) {
      throw new AgentError('TPG_HOST_FAILED', `cannot write ${plan.sysctl.file}: ${(e as Error).message}`, { cause: e });
    }
    for (const e of plan.sysctl.entries) {
      const problem = await writeKernelFile(e.file, e.value);
      if (problem) failures.push(`sysctl ${e.key} = ${e.value}: ${problem}`);
      else ctx.log.info({ key: e.key, value: e.value }, `sysctl ${e.key} = ${e.value}`);
    }
    notes.push(`${plan.sysctl.entries.length - failures.length} sysctl parameter(s) set`);
  }
  for (const s of plan.sysfs) {
    const problem = await writeKernelFile(s.file, s.value);
    if (problem) failures.push(`sysfs ${s.path} = ${s.value}: ${problem}`);
    else {
      ctx.log.info({ path: s.path, value: s.value }, `sysfs ${s.path} = ${s.value}`);
      notes.push(`${s.path} = ${s.value}`);
    }
  }
  if (failures.length)
    throw new AgentError('TPG_HOST_FAILED', failures.join('; '), {
      hint: 'remove or correct the named keys in the user data (sysctl -a lists the kernel parameters this kernel has)',
      details: { failed: failures.length },
    });
  return { note: notes.join('; ') };
}

/** Write a /proc/sys or /sys file that must exist; the problem in words, or undefined. */
async function writeKernelFile(file: string, value: string): Promise<string | undefined> {
  try {
    // Never O_CREAT: a parameter the kernel lacks must fail. O_TRUNC is ignored by procfs and sysfs.
    const fh = await open(file, constants.O_WRONLY | constants.O_TRUNC | constants.O_NOFOLLOW);
    try {
      await fh.write(`${value}\n`);
    } finally {
      await fh.close();
    }
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'this kernel has no such parameter';
    if (code === 'EINVAL' || code === 'ERANGE') return 'the kernel refused the value';
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS')
      return 'the kernel does not let it be set here (read-only, or not settable in this namespace)';
    return (e as Error).message;
  }
}

/**
 * The original routed outbound HTTPS through the NAT address listed for the instance's own
 * subnet. This image does not: in such a subnet the boot fails rather than run with other routes
 * than the user data asks for; in any other subnet the key had no effect then and has none now.
 */
async function checkNat(plan: HostPlan, ctx: BootContext): Promise<string> {
  const mac = await ctx.ports.imds.metadata('mac', ctx.signal);
  const subnet = mac ? await ctx.ports.imds.metadata(`network/interfaces/macs/${mac}/subnet-ipv4-cidr-block`, ctx.signal) : undefined;
  if (!subnet)
    throw new AgentError('TPG_NOT_APPLIED', "nat_gateways is set, but the metadata service does not say this instance's subnet", {
      hint: 'nat_gateways routing is not implemented in this image: remove nat_gateways',
    });
  const nat = plan.natGateways.find((n) => n.subnet === subnet);
  if (nat)
    throw new AgentError(
      'TPG_NOT_APPLIED',
      `nat_gateways routes this subnet's (${subnet}) outbound HTTPS through ${nat.gateway}; this image does not set up that routing`,
      { hint: 'route the subnet through its NAT in the VPC route table and remove nat_gateways, or use an image that applies it', retriable: false },
    );
  return `nat_gateways: this instance's subnet ${subnet} is not listed; nothing to route`;
}
