// ConfigMap JSON values -> Model Registry MetadataValue (the `metadataType` discriminated union).
// Rules (documented in docs/registry.md):
//   an object with a `metadataType` key is already the typed form (the Model Registry UI writes
//     it so): kept as given (metadata.ts has checked it against the OpenAPI MetadataValue)
//   boolean -> MetadataBoolValue
//   integer within int32 -> MetadataIntValue (int_value is a decimal string; the server rejects more)
//   integer outside int32 but exactly representable as a double (|n| <= 2^53-1) -> MetadataDoubleValue
//   integer beyond 2^53-1 -> MetadataStringValue with the exact digits (a double would round it)
//   a number written with a fraction or exponent (1.0, 0.95, 1e3) -> MetadataDoubleValue
//   strings -> MetadataStringValue
//   other objects -> MetadataStructValue (base64 of the JSON object)
//   lists -> MetadataStructValue of {"<key>": [...]} (a protobuf Struct must be an object)
import type { CustomProperties, MetadataValue } from './types.js';
import { JsonDouble, stringifyExact, type ExactJson } from './json-exact.js';

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** A property value in Model Registry's own typed form, e.g. {"metadataType":"MetadataStringValue","string_value":"x"}. */
export function isTypedForm(value: unknown): value is { metadataType: unknown } {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof JsonDouble) && 'metadataType' in value;
}

export function encodeValue(key: string, value: ExactJson): MetadataValue {
  if (typeof value === 'boolean') return { metadataType: 'MetadataBoolValue', bool_value: value };
  if (typeof value === 'string') return { metadataType: 'MetadataStringValue', string_value: value };
  if (typeof value === 'bigint') return { metadataType: 'MetadataStringValue', string_value: value.toString() };
  if (value instanceof JsonDouble) return { metadataType: 'MetadataDoubleValue', double_value: value.value };
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX) {
      return { metadataType: 'MetadataIntValue', int_value: String(value) };
    }
    return { metadataType: 'MetadataDoubleValue', double_value: value };
  }
  if (Array.isArray(value)) return structValue({ [key]: value });
  if (isTypedForm(value)) return value as unknown as MetadataValue;
  if (value !== null && typeof value === 'object') return structValue(value);
  // null is refused by the metadata schema before this point
  throw new TypeError(`custom property ${key}: null has no Model Registry type`);
}

function structValue(obj: { [key: string]: ExactJson }): MetadataValue {
  return { metadataType: 'MetadataStructValue', struct_value: Buffer.from(stringifyExact(obj)).toString('base64') };
}

export function encodeCustomProperties(values: Record<string, ExactJson> | undefined): CustomProperties | undefined {
  if (!values) return undefined;
  const out: CustomProperties = {};
  for (const [key, value] of Object.entries(values)) out[key] = encodeValue(key, value);
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * Makes properties read from the server writable again: the server returns struct values as plain
 * JSON text but accepts only base64 on write, so a read-modify-write would otherwise lose them.
 */
export function writableCustomProperties(read: CustomProperties | undefined): CustomProperties {
  const out: CustomProperties = {};
  for (const [key, value] of Object.entries(read ?? {})) {
    if (value.metadataType === 'MetadataStructValue' && looksLikeJsonObject(value.struct_value)) {
      out[key] = { metadataType: 'MetadataStructValue', struct_value: Buffer.from(value.struct_value).toString('base64') };
    } else {
      out[key] = value;
    }
  }
  return out;
}

function looksLikeJsonObject(text: string): boolean {
  if (!text.trimStart().startsWith('{')) return false;
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v);
  } catch {
    return false;
  }
}

/** A property's value as plain JSON, for logs and tests (struct values decoded). */
export function decodeValue(value: MetadataValue): unknown {
  switch (value.metadataType) {
    case 'MetadataStringValue':
      return value.string_value;
    case 'MetadataIntValue':
      return Number(value.int_value);
    case 'MetadataDoubleValue':
      return value.double_value;
    case 'MetadataBoolValue':
      return value.bool_value;
    case 'MetadataStructValue': {
      const text = looksLikeJsonObject(value.struct_value) ? value.struct_value : Buffer.from(value.struct_value, 'base64').toString('utf8');
      return JSON.parse(text) as unknown;
    }
    default:
      return value;
  }
}
