// Every key of the original Taupage (reference §1.4 and the logging keys of §5) has a place in the
// schema: implemented, or accepted with a warning that names it as unsupported. None is "unknown".
import { describe, it, expect } from 'vitest';
import { userDataSchema } from '../../agent/src/steps/schema.js';

const TOP_LEVEL = `application_id application_version runtime source root ports health_check_path health_check_port
health_check_timeout_seconds healthcheck notify_cfn environment tokeninfo_url local_planb_tokeninfo
local_planb_tokeninfo_introspection local_planb_tokeninfo_lightstep_token upstream_tokeninfo_url access_token_url
openid_provider_configuration_url revocation_provider_url tokeninfo_business_partners oauth_access_token_url
token_service_url instance_logs_url logsink_username logsink_password mint_bucket dockercfg capabilities_add
capabilities_drop hostname networking privileged read_only shm_size docker_daemon_access mount_var_log
mount_custom_log mount_certs mounts volumes keep_instance_users enhanced_cloudwatch_metrics cloudwatch_logs ssh_ports
ssh_gateway_ports etcd_discovery_domain sysctl sysfs nat_gateways shutdown logging scalyr_account_key scalyr_region
scalyr_application_log_parser scalyr_custom_log_parser rsyslog_max_message_size rsyslog_aws_metadata
rsyslog_application_log_format application_logrotate_size application_logrotate_interval application_logrotate_rotate
application_logrotate_disable_copytruncate application_logrotate_disable_delaycompress application_logrotate_disable_compress
customlog_logrotate_size customlog_logrotate_interval customlog_logrotate_rotate newrelic_account_key
appdynamics_application appdynamics_account_name appdynamics_account_access_key appdynamics_account_globalname
appdynamics_enable_logging appdynamics_machineagent_tiername appdynamics_include_scala_classes nodejs_disable_snapshots
xray_enabled opa_enabled opa_host_url opa_service_url opa_iam_role opa_service_name deployment_id logentries_account_key`.split(/\s+/);

const LOGGING = `log_destination scalyr_account_key scalyr_region scalyr_agent_enabled scalyr_application_log_parser
scalyr_custom_log_parser use_scalyr_agent_all use_scalyr_agent_applog use_scalyr_agent_customlog use_scalyr_agent_authlog
use_scalyr_agent_syslog fluentd_enabled fluentd_loglevel s3_bucket s3_region s3_timekey s3_acl s3_raw_log_format
syslog_destination applog_destination authlog_destination customlog_destination applog_filter_exclude
customlog_filter_exclude rsyslog_host rsyslog_port rsyslog_protocol rsyslog_severity rsyslog_program rsyslog_hostname
scalyr_agent_applog_sampling scalyr_agent_customlog_sampling scalyr_agent_authlog_sampling scalyr_agent_syslog_sampling`.split(/\s+/);

describe("the original's keys", () => {
  const shape = userDataSchema.shape as Record<string, unknown>;
  it.each(TOP_LEVEL)('%s has a place in the schema', (k) => expect(shape[k], k).toBeDefined());
  it('hystrix, which the original published to etcd for Turbine, is unsupported, not unknown', () => {
    expect((shape.hystrix as { meta: { unsupported?: string } }).meta.unsupported).toMatch(/etcd/);
  });
  it('logging.* keys all have a place', () => {
    const logging = shape.logging as { inner?: { shape: Record<string, unknown> }; shape?: Record<string, unknown> };
    const inner = logging.shape ?? logging.inner!.shape;
    for (const k of LOGGING) expect(inner[k], `logging.${k}`).toBeDefined();
  });
});
