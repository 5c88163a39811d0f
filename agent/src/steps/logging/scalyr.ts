/*! The Scalyr agent's agent.json (paths.scalyrConfig), built from the plan by pure code in the
 * agent's documented format (scalyr-agent-2 configuration: api_key, scalyr_server,
 * server_attributes with string values, logs[{path, copy_from_start, attributes.parser,
 * redaction_rules, sampling_rules}], implicit monitors). Only this file is ours: the agent, when
 * the image has it, reads the files itself. */
import type { ScalyrPlan } from './plan.js';

export interface ScalyrFacts {
  apiKey: string;
  region: string;
  account: string;
  instanceId: string;
  hostname?: string;
}

/** Bearer tokens and JWTs never leave the host in a log line. */
export const REDACTION_RULES = [
  { match_expression: 'eyJ[A-Za-z0-9_-]+\\.eyJ[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]*', replacement: '+++JWT_REDACTED+++' },
  { match_expression: '([Bb]earer\\s+)[A-Za-z0-9._~+/=-]+', replacement: '\\1+++REDACTED+++' },
];

interface ScalyrLog {
  path: string;
  copy_from_start: boolean;
  attributes: { parser: string };
  redaction_rules?: typeof REDACTION_RULES;
  sampling_rules?: Array<{ match_expression: string; sampling_rate: number }>;
}

interface ScalyrAgentConfig {
  api_key: string;
  scalyr_server: string;
  implicit_metric_monitor: boolean;
  implicit_agent_process_metrics_monitor: boolean;
  max_line_size: number;
  read_page_size: number;
  max_log_offset_size: number;
  server_attributes: Record<string, string>;
  logs: ScalyrLog[];
  monitors: never[];
}

export function scalyrConfig(plan: ScalyrPlan, facts: ScalyrFacts): ScalyrAgentConfig {
  const attributes: Record<string, string> = {
    ...plan.attributes,
    aws_region: facts.region,
    aws_account: facts.account,
    aws_ec2_instance_id: facts.instanceId,
    ...(facts.hostname ? { aws_ec2_hostname: facts.hostname } : {}),
  };
  return {
    api_key: facts.apiKey,
    scalyr_server: plan.server,
    // Only the logs: no host or agent metrics (the original turned both off).
    implicit_metric_monitor: false,
    implicit_agent_process_metrics_monitor: false,
    // Long Java stack traces stay one event; the page must hold a whole line.
    max_line_size: 49_900,
    read_page_size: 131_072,
    max_log_offset_size: 30_000_000,
    server_attributes: attributes,
    logs: plan.logs.map((l) => ({
      path: l.path,
      copy_from_start: true,
      attributes: { parser: l.parser },
      ...(l.redact ? { redaction_rules: REDACTION_RULES } : {}),
      ...(l.sampling ? { sampling_rules: l.sampling } : {}),
    })),
    monitors: [],
  };
}
