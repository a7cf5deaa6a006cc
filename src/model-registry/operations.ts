// The Model Registry operations the client calls, named as in the OpenAPI spec (method and path
// template below the base path). scripts/generate-registry-schemas.ts extracts their answer schemas
// into schemas/model-registry-answers.schema.json; answer-schemas.ts checks answers with them.
export const CLIENT_OPERATIONS = [
  'GET /registered_model',
  'POST /registered_models',
  'GET /registered_models/{registeredmodelId}',
  'PATCH /registered_models/{registeredmodelId}',
  'GET /registered_models/{registeredmodelId}/versions',
  'GET /model_version',
  'POST /model_versions',
  'GET /model_versions/{modelversionId}',
  'PATCH /model_versions/{modelversionId}',
  'GET /model_versions/{modelversionId}/artifacts',
  'POST /model_versions/{modelversionId}/artifacts',
  'GET /model_artifacts/{modelartifactId}',
  'PATCH /model_artifacts/{modelartifactId}',
] as const;

export type ClientOperation = (typeof CLIENT_OPERATIONS)[number];

/** The path the spec puts in front of every operation; the client's base URL ends with it. */
export const API_BASE_PATH = '/api/model_registry/v1alpha3';

export const ANSWER_SCHEMA_FILE = 'model-registry-answers.schema.json';
