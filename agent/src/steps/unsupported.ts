/*! Keys the original Taupage accepted that this image does not implement. They are accepted
 * (a deployed stack must not break) with a warning that names them; `--strict` makes them errors. */
import { t } from '../lib/schema/types.js';

const APPD = 'AppDynamics agents are not part of this image';
const NEWRELIC = 'New Relic agents are not part of this image';
const OPA = 'the OPA sidecar is not part of this image';
const PLANB = 'planb-tokeninfo is not part of this image; set tokeninfo_url instead';
const ETCD = 'the etcd proxy and the etcd registration are not part of this image';

export const unsupportedKeys = {
  appdynamics_application: t.unsupported(APPD),
  appdynamics_account_name: t.unsupported(APPD),
  appdynamics_account_access_key: t.unsupported(APPD),
  appdynamics_account_globalname: t.unsupported(APPD),
  appdynamics_enable_logging: t.unsupported(APPD),
  appdynamics_machineagent_tiername: t.unsupported(APPD),
  appdynamics_include_scala_classes: t.unsupported(APPD),
  nodejs_disable_snapshots: t.unsupported(APPD),
  newrelic_account_key: t.unsupported(NEWRELIC),
  xray_enabled: t.unsupported('the AWS X-Ray daemon is not part of this image'),
  opa_enabled: t.unsupported(OPA),
  opa_host_url: t.unsupported(OPA),
  opa_service_url: t.unsupported(OPA),
  opa_iam_role: t.unsupported(OPA),
  opa_service_name: t.unsupported(OPA),
  etcd_discovery_domain: t.unsupported(ETCD),
  local_planb_tokeninfo: t.unsupported(PLANB),
  local_planb_tokeninfo_introspection: t.unsupported(PLANB),
  local_planb_tokeninfo_lightstep_token: t.unsupported(PLANB),
  upstream_tokeninfo_url: t.unsupported(PLANB),
  access_token_url: t.unsupported(PLANB),
  openid_provider_configuration_url: t.unsupported(PLANB),
  revocation_provider_url: t.unsupported(PLANB),
  tokeninfo_business_partners: t.unsupported(PLANB),
  deployment_id: t.unsupported(PLANB),
  oauth_access_token_url: t.unsupported('baked into the original image but never used'),
  token_service_url: t.unsupported('baked into the original image but never used'),
  instance_logs_url: t.unsupported('pushing user data and audit logs to an instance-logs service is not implemented'),
  logsink_username: t.unsupported('pushing user data and audit logs to an instance-logs service is not implemented'),
  logsink_password: t.unsupported('pushing user data and audit logs to an instance-logs service is not implemented'),
  cloudwatch_logs: t.unsupported('the CloudWatch Logs agent is not part of this image'),
  enhanced_cloudwatch_metrics: t.unsupported('the CloudWatch memory/disk metrics cron is not part of this image'),
  healthcheck: t.unsupported('waiting for classic ELB InService is not implemented; use health_check_path'),
  hystrix: t.unsupported(`Turbine read it from etcd, where the original published the user data; ${ETCD}`),
};

/** The original published every key (but environment) to etcd when etcd_discovery_domain was set,
 * for other services to read: with it, a key Taupage does not know is data that was published,
 * not a typo, and this image publishes nothing. */
export function publishedToEtcd(_key: string, document: Record<string, unknown>): { code: string; message: string } | undefined {
  if (document.etcd_discovery_domain === undefined || document.etcd_discovery_domain === null) return undefined;
  return {
    code: 'TPG_UD_UNSUPPORTED_KEY',
    message: `is not a Taupage key and is ignored: the original published it to etcd with the rest of the user data (etcd_discovery_domain), and ${ETCD}`,
  };
}
