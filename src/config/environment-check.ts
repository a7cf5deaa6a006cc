// MODEL_SYNC_* variables that are no setting: a typo, or a setting of a newer upstream job, would
// otherwise be ignored without a word. Each gets one warning naming the closest known setting.
// Known means any parameter of the whole catalog, not only of this step: a Job running one step
// may carry the settings of the others. Service links (service-links.ts) are reported once per
// Service instead, and known settings that this run does not read but that carry a service link
// are reported with them (the step that reads one refuses it).
import { parameterCatalog, type ParamSpec, type StepContract } from '../contract/contract.js';
import { flagValue } from './config.js';
import { EARLY_ENV } from './process-env.js';
import { closestName } from '../util/closest-name.js';
import { SERVICE_LINK_FIX, isServiceLinkValue, serviceLinkOf } from './service-links.js';

const PREFIX = 'MODEL_SYNC_';

export interface EnvironmentCheckInput {
  step: StepContract;
  /** Raw option values from the command line: a flag makes its variable unread. */
  flags: Record<string, unknown>;
  /** Default: the process environment. */
  env?: NodeJS.ProcessEnv | undefined;
}

/** One line per unknown variable or per Service whose links reach MODEL_SYNC_*; never a value. */
export function environmentWarnings({ step, flags, env = process.env }: EnvironmentCheckInput): string[] {
  const catalog = [...parameterCatalog().values()];
  const known = new Map<string, ParamSpec | undefined>(catalog.map((p) => [p.env, p]));
  for (const name of EARLY_ENV) if (!known.has(name)) known.set(name, undefined);
  const readByStep = new Set(step.parameters.filter((p) => flagValue(flags, p.name) === undefined).map((p) => p.env));

  const warnings: string[] = [];
  const links = new Map<string, { service?: string; names: string[] }>(); // by Service, else by variable
  const addLink = (name: string, service: string | undefined) => {
    const group = links.get(service ?? name) ?? { ...(service ? { service } : {}), names: [] };
    group.names.push(name);
    links.set(service ?? name, group);
  };
  for (const name of Object.keys(env).filter((n) => n.startsWith(PREFIX)).sort()) {
    const value = env[name] ?? '';
    if (known.has(name)) {
      // Refused by resolveConfig when this step reads it; otherwise unread, but worth a word.
      if (!readByStep.has(name) && isServiceLinkValue(value)) addLink(name, serviceLinkOf(name, value)?.service);
      continue;
    }
    const link = serviceLinkOf(name, value);
    if (link) {
      addLink(name, link.service);
      continue;
    }
    const near = closest(name, [...known.keys()]);
    const spec = near ? known.get(near) : undefined;
    warnings.push(
      `${name} is not a model-sync setting and is ignored; ` +
        (near ? `did you mean ${near}${spec ? ` (${spec.flag})` : ''}?` : 'no close match among the known settings (model-sync <step> --help lists them)'),
    );
  }
  for (const { service, names } of links.values()) {
    const many = names.length > 1;
    warnings.push(
      `${names.join(', ')} ${many ? 'are Kubernetes service-link variables' : 'is a Kubernetes service-link variable'}` +
        `${service ? ` of a Service named ${service}` : ''}, not ${many ? 'settings' : 'a setting'}, and ${many ? 'are' : 'is'} ignored (${SERVICE_LINK_FIX})`,
    );
  }
  return warnings;
}

/**
 * The known name nearest to `name`, when near enough to be a likely typo or a left-out word: at
 * most a quarter of the longer name's own part (after MODEL_SYNC_) in edits, and at least 2.
 */
export function closest(name: string, known: string[]): string | undefined {
  return closestName(name, known, {
    normalise: (n) => n.slice(PREFIX.length),
    limit: (own, theirs) => Math.max(2, Math.floor(Math.max(own.length, theirs.length) / 4)),
  });
}
