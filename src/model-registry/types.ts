// Request and response shapes of the Model Registry REST API (v1alpha3) for the operations
// model-sync uses. Field names as in specs/model-registry-openapi.yaml; ids and times are strings.

export type ArtifactState = 'UNKNOWN' | 'PENDING' | 'LIVE' | 'MARKED_FOR_DELETION' | 'DELETED' | 'ABANDONED' | 'REFERENCE';
export type ModelState = 'LIVE' | 'ARCHIVED';

export type MetadataValue =
  | { metadataType: 'MetadataStringValue'; string_value: string }
  | { metadataType: 'MetadataIntValue'; int_value: string }
  | { metadataType: 'MetadataDoubleValue'; double_value: number }
  | { metadataType: 'MetadataBoolValue'; bool_value: boolean }
  | { metadataType: 'MetadataStructValue'; struct_value: string }
  | { metadataType: 'MetadataProtoValue'; type: string; proto_value: string };

export type CustomProperties = Record<string, MetadataValue>;

interface Entity {
  id: string;
  name: string;
  description?: string;
  externalId?: string;
  customProperties?: CustomProperties;
  createTimeSinceEpoch?: string;
  lastUpdateTimeSinceEpoch?: string;
}

export interface RegisteredModel extends Entity {
  owner?: string;
  state?: ModelState;
}

export interface RegisteredModelCreate {
  name: string;
  description?: string;
  owner?: string;
  customProperties?: CustomProperties;
  state: ModelState;
}

export interface RegisteredModelUpdate {
  description?: string;
  owner?: string;
  customProperties?: CustomProperties;
  /** Always sent: the server resets an omitted state to LIVE. */
  state: ModelState;
}

export interface ModelVersion extends Entity {
  registeredModelId: string;
  author?: string;
  state?: ModelState;
}

export interface ModelVersionCreate {
  name: string;
  registeredModelId: string;
  description?: string;
  author?: string;
  customProperties?: CustomProperties;
  state: ModelState;
}

export interface ModelVersionUpdate {
  description?: string;
  author?: string;
  customProperties?: CustomProperties;
  state: ModelState;
}

/** The ModelArtifact fields a client may write (ModelArtifactUpdate has no name and no id). */
export interface ModelArtifactFields {
  description?: string;
  uri?: string;
  modelFormatName?: string;
  modelFormatVersion?: string;
  storageKey?: string;
  storagePath?: string;
  serviceAccountName?: string;
  modelSourceKind?: string;
  modelSourceClass?: string;
  modelSourceGroup?: string;
  modelSourceId?: string;
  modelSourceName?: string;
  customProperties?: CustomProperties;
}

export interface ModelArtifact extends Entity, ModelArtifactFields {
  artifactType: string;
  state?: ArtifactState;
  experimentId?: string;
  experimentRunId?: string;
}

export interface ModelArtifactCreate extends ModelArtifactFields {
  artifactType: 'model-artifact';
  name?: string;
  state: ArtifactState;
}

export interface ModelArtifactUpdate extends ModelArtifactFields {
  /** Always sent: the server resets an omitted state to UNKNOWN. */
  state: ArtifactState;
}

export interface ListResponse<T> {
  items: T[];
  nextPageToken: string;
  pageSize: number;
  size: number;
}

/** Error body of every non-2xx answer. */
export interface ApiErrorBody {
  code: string;
  message: string;
}

/** Writable ModelArtifact field names, to keep unknown keys out of PATCH bodies. */
export const MODEL_ARTIFACT_UPDATE_FIELDS = [
  'description',
  'uri',
  'modelFormatName',
  'modelFormatVersion',
  'storageKey',
  'storagePath',
  'serviceAccountName',
  'modelSourceKind',
  'modelSourceClass',
  'modelSourceGroup',
  'modelSourceId',
  'modelSourceName',
  'customProperties',
] as const satisfies ReadonlyArray<keyof ModelArtifactFields>;
