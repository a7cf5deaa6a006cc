// Media types (facts from the OCI image spec, Docker's distribution formats and CNCF ModelPack).
export const MT = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerTarGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerTarZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerTarGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerTarGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  modelpackManifestArtifact: 'application/vnd.cncf.model.manifest.v1+json',
  modelpackConfig: 'application/vnd.cncf.model.config.v1+json',
  /** Ours (scale-out): the artifact types of the plan and of a part's result (docs/scale-out.md). */
  partPlan: 'application/vnd.model-sync.part-plan.v1+json',
  partResult: 'application/vnd.model-sync.part-result.v1+json',
  partProgress: 'application/vnd.model-sync.part-progress.v1+json',
} as const;

/** Accept header for manifest requests: indexes and manifests, OCI and Docker. */
export const MANIFEST_ACCEPT = [MT.ociIndex, MT.ociManifest, MT.dockerManifestList, MT.dockerManifest].join(', ');

export function isIndexType(mediaType: string | undefined): boolean {
  return mediaType === MT.ociIndex || mediaType === MT.dockerManifestList;
}

export function isManifestType(mediaType: string | undefined): boolean {
  return mediaType === MT.ociManifest || mediaType === MT.dockerManifest;
}

/** Docker media types in a base image become their OCI equivalents (as olot does). */
export const DOCKER_TO_OCI: Record<string, string> = {
  [MT.dockerManifestList]: MT.ociIndex,
  [MT.dockerManifest]: MT.ociManifest,
  [MT.dockerConfig]: MT.ociConfig,
  [MT.dockerLayerTarGzip]: MT.ociLayerTarGzip,
  [MT.dockerForeignLayerTarGzip]: MT.ociLayerTarGzip,
};

/** Layer annotations: those the upstream packer (olot) writes, ModelPack's, and ours. */
export const ANNOTATION = {
  title: 'org.opencontainers.image.title',
  refName: 'org.opencontainers.image.ref.name',
  olotDigest: 'olot.layer.content.digest',
  olotType: 'olot.layer.content.type',
  olotInLayerPath: 'olot.layer.content.inlayerpath',
  olotName: 'olot.layer.content.name',
  /** Ours, on a layer of several model files: their relative paths, as a JSON array. */
  layerFiles: 'io.model-sync.layer.files',
  /** Ours, on a scale-out document's manifest: the tag it is pushed under (makes its digest the tag's own). */
  partTag: 'io.model-sync.part.tag',
  modelpackFilepath: 'org.cncf.model.filepath',
  modelpackFilepathLegacy: 'org.cnai.model.filepath',
  modelpackFileMetadata: 'org.cncf.model.file.metadata+json',
  modelpackMediaTypeUntested: 'org.cncf.model.file.mediatype.untested',
  /**
   * Ours, on the ModelPack manifest of a `both` image: its tar layers are the modelcar's, whose
   * entries sit under this folder (`models/`); fetch strips it, as it does for the modelcar.
   */
  modelpackEntriesUnder: 'io.model-sync.modelpack.entries-under',
  /** olot's marks on the ModelPack entry of a modelcar's index (kept for tools that look for them). */
  olotManifestType: 'io.opendatahub.modelcar.manifest.type',
} as const;
