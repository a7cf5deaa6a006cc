// schemas/model-registry-answers.schema.json is generated from ../shared/specs/model-registry-openapi.yaml
// (which is not shipped): a fresh run of the generator must give the committed file, and the file
// must cover every operation the client calls.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { DEFAULT_SPEC, generateRegistryAnswerSchemas, OUTPUT } from '../scripts/generate-registry-schemas.js';
import { CLIENT_OPERATIONS } from '../src/model-registry/operations.js';

const skip = existsSync(DEFAULT_SPEC) ? false : `OpenAPI spec not found at ${DEFAULT_SPEC}; skipped`;

describe('Model Registry answer schemas', () => {
  it('the committed file is what the generator makes from the spec (npm run generate:registry-schemas)', { skip }, () => {
    assert.equal(readFileSync(OUTPUT, 'utf8'), generateRegistryAnswerSchemas(readFileSync(DEFAULT_SPEC, 'utf8')));
  });

  it('names a success schema for every operation the client calls', () => {
    const file = JSON.parse(readFileSync(OUTPUT, 'utf8')) as { operations: Record<string, string>; definitions: Record<string, unknown> };
    assert.deepEqual(Object.keys(file.operations), [...CLIENT_OPERATIONS]);
    for (const schema of Object.values(file.operations)) assert.ok(file.definitions[schema], schema);
  });
});
