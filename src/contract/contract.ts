// Loads the step contracts in steps/: the single source for flags, env vars, defaults, --help,
// README tables and templates.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import YAML from 'yaml';

export type ParamType = 'string' | 'boolean' | 'integer' | 'enum';

export interface ParamSpec {
  name: string;
  env: string;
  flag: string;
  type: ParamType;
  enum?: string[];
  /** Bounds of an integer (inclusive). */
  minimum?: number;
  maximum?: number;
  default?: string | number | boolean;
  secret: boolean;
  required: boolean;
  requiredWhen?: Record<string, string[]>;
  fallback?: string;
  upstream: boolean;
  description: string;
}

export interface ResultSpec {
  name: string;
  description: string;
}

export interface StepContract {
  name: string;
  summary: string;
  description: string;
  parameters: ParamSpec[];
  /**
   * Parameters the step uses only when another one is set (push's source settings, with --part):
   * their required-when rules apply then only. Parameter name -> the one that must be set.
   */
  usedWith?: Record<string, string>;
  results: ResultSpec[];
}

export const STEP_NAMES = ['fetch', 'package', 'push', 'register', 'preflight', 'mark-failed', 'all', 'plan', 'assemble'] as const;
export type StepName = (typeof STEP_NAMES)[number];

/** steps/ ships beside dist/ in the package; from dist/src/contract it is three levels up. */
export function stepsDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const up of ['../..', '../../..']) {
    const candidate = path.resolve(here, up, 'steps');
    try {
      readFileSync(path.join(candidate, 'parameters.yaml'));
      return candidate;
    } catch {
      // try the next level
    }
  }
  throw new Error(`steps/ folder not found from ${here}`);
}

/** A file of schemas/, which ships beside steps/ (generated or written schemas the code validates with). */
export function schemaFile(name: string): string {
  return path.join(stepsDir(), '..', 'schemas', name);
}

export function envNameOf(paramName: string): string {
  return 'MODEL_SYNC_' + paramName.toUpperCase().replace(/-/g, '_');
}

interface RawParam {
  type?: ParamType;
  enum?: string[];
  minimum?: number;
  maximum?: number;
  default?: string | number | boolean;
  secret?: boolean;
  required?: boolean;
  required_when?: Record<string, string | string[]>;
  fallback?: string;
  upstream?: boolean;
  description?: string;
}

let catalogCache: Map<string, ParamSpec> | undefined;

export function parameterCatalog(): Map<string, ParamSpec> {
  if (catalogCache) return catalogCache;
  const raw = YAML.parse(readFileSync(path.join(stepsDir(), 'parameters.yaml'), 'utf8')) as {
    parameters: Record<string, RawParam>;
  };
  const catalog = new Map<string, ParamSpec>();
  for (const [name, p] of Object.entries(raw.parameters)) {
    if (!p.description) throw new Error(`steps/parameters.yaml: ${name} has no description`);
    const requiredWhen = p.required_when
      ? Object.fromEntries(
          Object.entries(p.required_when).map(([k, v]) => [k, Array.isArray(v) ? v : [v]]),
        )
      : undefined;
    catalog.set(name, {
      name,
      env: envNameOf(name),
      flag: `--${name}`,
      type: p.type ?? 'string',
      ...(p.enum ? { enum: p.enum } : {}),
      ...(p.minimum !== undefined ? { minimum: p.minimum } : {}),
      ...(p.maximum !== undefined ? { maximum: p.maximum } : {}),
      ...(p.default !== undefined ? { default: p.default } : {}),
      secret: p.secret ?? false,
      required: p.required ?? false,
      ...(requiredWhen ? { requiredWhen } : {}),
      ...(p.fallback ? { fallback: p.fallback } : {}),
      upstream: p.upstream ?? true,
      description: p.description.trim(),
    });
  }
  catalogCache = catalog;
  return catalog;
}

const contractCache = new Map<string, StepContract>();

export function loadStep(name: StepName): StepContract {
  const cached = contractCache.get(name);
  if (cached) return cached;
  const raw = YAML.parse(readFileSync(path.join(stepsDir(), `${name}.yaml`), 'utf8')) as {
    name: string;
    summary: string;
    description: string;
    parameters: string[] | '*';
    /** With `*`: parameters the step does not take all the same (the scale-out ones, for `all`). */
    except?: string[];
    used_with?: Record<string, string[]>;
    results?: ResultSpec[];
  };
  if (raw.name !== name) throw new Error(`steps/${name}.yaml: name is ${raw.name}`);
  const catalog = parameterCatalog();
  for (const n of raw.except ?? []) if (!catalog.has(n)) throw new Error(`steps/${name}.yaml: except names ${n}, which is not in steps/parameters.yaml`);
  const names = raw.parameters === '*' ? [...catalog.keys()].filter((n) => !raw.except?.includes(n)) : raw.parameters;
  const parameters = names.map((n) => {
    const spec = catalog.get(n);
    if (!spec) throw new Error(`steps/${name}.yaml: parameter ${n} is not in steps/parameters.yaml`);
    return spec;
  });
  const usedWith: Record<string, string> = {};
  for (const [gate, list] of Object.entries(raw.used_with ?? {})) {
    for (const n of [gate, ...list]) if (!names.includes(n)) throw new Error(`steps/${name}.yaml: used_with names ${n}, which the step does not take`);
    for (const n of list) usedWith[n] = gate;
  }
  const contract: StepContract = {
    name,
    summary: raw.summary.trim(),
    description: raw.description.trim(),
    parameters,
    usedWith,
    results: raw.results ?? [],
  };
  contractCache.set(name, contract);
  return contract;
}

export function allSteps(): StepContract[] {
  return STEP_NAMES.map(loadStep);
}
