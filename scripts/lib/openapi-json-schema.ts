// OpenAPI 3.0 schema objects -> JSON Schema (draft-07) that ajv compiles in strict mode. Shared by
// the generator of schemas/model-registry-answers.schema.json and the OpenAPI traffic test.
//   - `$ref: #/components/schemas/X` becomes `#/definitions/X`;
//   - `oneOf` + `discriminator.mapping` becomes one if/then per mapped value (ajv's own
//     discriminator support needs the property in every branch, which the spec does not have);
//   - `nullable: true` adds "null" to the type;
//   - documentation keywords (description, example) are dropped: they do not change what is valid.

type Schema = Record<string, unknown>;

const DOCUMENTATION = new Set(['description', 'example', 'externalDocs', 'xml']);
const SCHEMA_MAPS = new Set(['properties', 'definitions']);
const SCHEMA_LISTS = new Set(['allOf', 'anyOf', 'oneOf']);
const SCHEMA_VALUES = new Set(['items', 'additionalProperties', 'not', 'if', 'then', 'else']);

export function toJsonSchema(node: unknown): unknown {
  if (!node || typeof node !== 'object' || Array.isArray(node)) return node;
  const source = node as Schema;
  if (typeof source.$ref === 'string') return { $ref: source.$ref.replace('#/components/schemas/', '#/definitions/') };
  const out: Schema = {};
  for (const [key, value] of Object.entries(source)) {
    if (DOCUMENTATION.has(key) || key === 'discriminator' || key === 'nullable') continue;
    if (SCHEMA_MAPS.has(key)) out[key] = mapValues(value as Record<string, unknown>, toJsonSchema);
    else if (SCHEMA_LISTS.has(key)) out[key] = (value as unknown[]).map(toJsonSchema);
    else if (SCHEMA_VALUES.has(key) && typeof value === 'object') out[key] = toJsonSchema(value);
    else out[key] = value;
  }
  if (source.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  const disc = source.discriminator as { propertyName: string; mapping?: Record<string, string> } | undefined;
  if (disc?.mapping && out.oneOf) {
    const { propertyName, mapping } = disc;
    delete out.oneOf;
    out.type ??= 'object';
    out.required = [...((out.required as string[]) ?? []), propertyName];
    out.properties = { ...((out.properties as Schema) ?? {}), [propertyName]: { enum: Object.keys(mapping) } };
    out.allOf = [
      ...((out.allOf as unknown[]) ?? []),
      ...Object.entries(mapping).map(([value, ref]) => ({ if: { properties: { [propertyName]: { const: value } } }, then: toJsonSchema({ $ref: ref }) })),
    ];
  }
  return out;
}

export function mapValues<T, U>(record: Record<string, T>, fn: (value: T) => U): Record<string, U> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, fn(v)]));
}

/** Names of the component schemas `roots` reach through $ref, roots included, sorted. */
export function referencedDefinitions(definitions: Record<string, unknown>, roots: Iterable<string>): string[] {
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    if (!(name in definitions)) throw new Error(`schema ${name} is referenced but not defined`);
    seen.add(name);
    JSON.stringify(definitions[name], (key, value: unknown) => {
      if (key === '$ref' && typeof value === 'string') visit(value.replace('#/definitions/', ''));
      return value;
    });
  };
  for (const root of roots) visit(root);
  return [...seen].sort();
}
