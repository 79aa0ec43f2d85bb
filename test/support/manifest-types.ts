/** Media types of manifests the registries and clients exchange. */
export const MEDIA_TYPES = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  layerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  layerTar: 'application/vnd.oci.image.layer.v1.tar',
} as const;

/** Every manifest media type a ground-truth read accepts (sent as one Accept header each). */
export const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.dockerManifest,
  MEDIA_TYPES.dockerManifestList,
  'application/vnd.oci.artifact.manifest.v1+json',
];

export const INDEX_MEDIA_TYPES: ReadonlySet<string> = new Set([
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.dockerManifestList,
]);

/** Config media types that make a manifest a runnable image rather than an artifact. */
export const IMAGE_CONFIG_MEDIA_TYPES: ReadonlySet<string> = new Set([
  MEDIA_TYPES.ociConfig,
  MEDIA_TYPES.dockerConfig,
]);

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
  artifactType?: string;
}

/** The fields of an image manifest or index the tests read (both shapes in one type). */
export interface ManifestBody {
  schemaVersion?: number;
  mediaType?: string;
  artifactType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}
