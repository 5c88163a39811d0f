/*! User-data keys for host settings: kernel parameters, sysfs, outbound routing. */
import { t, INVALID, error } from '../../lib/schema/types.js';

/** The original's allow-list: nothing else under /sys may be written from user data. */
export const SYSFS_ALLOWED = ['/sys/kernel/mm/transparent_hugepage/enabled'];

const ipv4 = /^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$/;
const cidr = /^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\/(?:3[0-2]|[12]?\d)$/;

export const hostKeys = {
  sysctl: t
    .map(
      t.string({ pattern: /^[a-z0-9_]+(?:[./][a-zA-Z0-9_-]+)+$/, patternMessage: 'must be a kernel parameter name such as fs.file-max or net.core.somaxconn' }),
      t.union<number | string>(
        [t.integer(), t.string({ singleLine: true, minLength: 1, maxLength: 256 })],
        'a sysctl value must be a number or a single-line string',
      ),
    )
    .describe(
      'Kernel parameters written to /etc/sysctl.d/99-custom.conf and applied at boot; a parameter the kernel does not have or refuses fails the boot, naming it.',
    )
    .examples({ 'fs.file-max': 8192 }),
  sysfs: t
    .map(
      t.string().refine<string>((p, path, ctx) => {
        if (!SYSFS_ALLOWED.includes(p)) {
          ctx.report(error(path, 'TPG_UD_SYSFS', `only these sysfs paths may be set: ${SYSFS_ALLOWED.join(', ')}`));
          return INVALID;
        }
        return p;
      }),
      t.enum(['always', 'madvise', 'never']),
    )
    .describe('sysfs settings, path → value, written at boot. Only /sys/kernel/mm/transparent_hugepage/enabled may be set (the original allow-list).')
    .examples({ '/sys/kernel/mm/transparent_hugepage/enabled': 'never' }),
  nat_gateways: t
    .map(
      t.string({ pattern: cidr, patternMessage: 'must be a subnet in CIDR form, e.g. 172.31.0.0/24' }),
      t.string({ pattern: ipv4, patternMessage: 'must be the IPv4 address of the NAT gateway' }),
    )
    .describe(
      'Per subnet CIDR, the NAT address the original routed outbound HTTPS (port 443) through. This image does not set up that routing: a boot in one of the listed subnets fails (TPG_NOT_APPLIED); in any other subnet the key has no effect, as in the original.',
    ),
};
