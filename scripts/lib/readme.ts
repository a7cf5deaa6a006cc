// Renders the README's generated sections from steps/ and replaces them between markers.
import { allSteps, parameterCatalog, type ParamSpec } from '../../src/contract/contract.js';

const BEGIN = (name: string) => `<!-- BEGIN GENERATED: ${name} (npm run generate) -->`;
const END = (name: string) => `<!-- END GENERATED: ${name} -->`;

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

function defaultOf(p: ParamSpec): string {
  return p.default === undefined ? '' : `\`${String(p.default)}\``;
}

function requiredOf(p: ParamSpec): string {
  if (p.required) return 'yes';
  if (!p.requiredWhen) return '';
  return Object.entries(p.requiredWhen)
    .map(([k, v]) => `${k}=${v.join('\\|')}`)
    .join(' and ');
}

export function configurationTable(): string {
  const steps = allSteps().filter((s) => s.name !== 'all' && s.name !== 'preflight');
  const rows = [...parameterCatalog().values()].map((p) => {
    // A setting none of the separate steps takes is one only `all` acts on (such as --stream).
    const usedBy = steps.filter((s) => s.parameters.some((q) => q.name === p.name)).map((s) => s.name);
    const name = `\`${p.flag}\`<br>\`${p.env}\``;
    const notes = [p.enum ? `one of ${p.enum.map((e) => `\`${e}\``).join(', ')}` : '', p.fallback ? `else ${p.fallback}` : '', p.upstream ? '' : '*model-sync only*']
      .filter(Boolean)
      .join('; ');
    return `| ${name} | ${defaultOf(p)} | ${requiredOf(p)} | ${p.secret ? 'yes' : ''} | ${usedBy.length ? usedBy.join(', ') : 'all'} | ${cell(p.description)}${notes ? ` (${cell(notes)})` : ''} |`;
  });
  return [
    '| Flag / environment variable | Default | Required when | Secret | Steps | Description |',
    '|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

export function resultsTable(): string {
  const rows = allSteps().flatMap((s) => s.results.map((r) => `| \`${s.name}\` | \`${r.name}\` | ${cell(r.description)} |`));
  return ['| Step | Result | Meaning |', '|---|---|---|', ...rows].join('\n');
}

export const GENERATED_SECTIONS: Record<string, () => string> = {
  configuration: configurationTable,
  results: resultsTable,
};

export function extractSection(readme: string, name: string): string | undefined {
  const start = readme.indexOf(BEGIN(name));
  const end = readme.indexOf(END(name));
  if (start < 0 || end < 0) return undefined;
  return readme.slice(start + BEGIN(name).length, end).trim();
}

export function replaceSections(readme: string): string {
  let out = readme;
  for (const [name, render] of Object.entries(GENERATED_SECTIONS)) {
    const start = out.indexOf(BEGIN(name));
    const end = out.indexOf(END(name));
    if (start < 0 || end < 0) throw new Error(`README.md lacks the markers of section ${name}`);
    out = out.slice(0, start) + `${BEGIN(name)}\n${render()}\n` + out.slice(end);
  }
  return out;
}
