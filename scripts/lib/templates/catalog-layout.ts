// Where the Tekton catalog layout puts each resource: tekton/<kind>/<name>/<version>/ holding
// <name>.yaml, README.md, samples/ and tests/, the tektoncd/catalog structure that Artifact Hub
// indexes (a repository added there as .../tekton/task or .../tekton/pipeline).
import { packageVersion } from './common.js';

export type CatalogKind = 'task' | 'pipeline';

/** The catalog version: the package's major.minor, the folder name and the version label alike. */
export function catalogVersion(): string {
  const [major, minor] = packageVersion().split('.');
  return `${major}.${minor}`;
}

export function catalogFolder(kind: CatalogKind, name: string): string {
  return `tekton/${kind}/${name}/${catalogVersion()}`;
}

/** The resource's own file: named after the resource, as the catalog requires. */
export function catalogFile(kind: CatalogKind, name: string): string {
  return `${catalogFolder(kind, name)}/${name}.yaml`;
}
