// Every generated template and sample as {path: content}; `npm run generate` writes them and the
// drift test compares them with the files in the repository.
import { argoWorkflowTemplate } from './argo.js';
import { BFF_HEADER, bffSample } from './bff.js';
import { toYaml } from './common.js';
import { deployFiles } from './kustomize.js';
import { tektonCatalogFiles } from './catalog.js';
import { argoWorkflowFromTemplate, argoWorkflowOnePod, argoWorkflowScaleOut, argoWorkflowTemplateRef, jobSample, secrets } from './samples.js';

export function generateTemplates(): Record<string, string> {
  const files: Record<string, string> = {
    'workflows/model-sync-workflowtemplate.yaml': toYaml([argoWorkflowTemplate('WorkflowTemplate')]),
    'workflows/model-sync-clusterworkflowtemplate.yaml': toYaml([argoWorkflowTemplate('ClusterWorkflowTemplate')]),
    'samples/secrets.yaml': toYaml(secrets()),
    'samples/job/update-artifact.yaml': toYaml(jobSample('update_artifact')),
    'samples/job/create-model.yaml': toYaml(jobSample('create_model')),
    'samples/job/create-version.yaml': toYaml(jobSample('create_version')),
    'samples/bff/create-model.yaml': toYaml(bffSample('create_model'), BFF_HEADER),
    'samples/bff/create-version.yaml': toYaml(bffSample('create_version'), BFF_HEADER),
    'samples/bff/update-artifact.yaml': toYaml(bffSample('update_artifact'), BFF_HEADER),
    'samples/argo/workflow.yaml': toYaml([argoWorkflowFromTemplate()]),
    'samples/argo/workflow-templateref.yaml': toYaml([argoWorkflowTemplateRef()]),
    'samples/argo/workflow-one-pod.yaml': toYaml([argoWorkflowOnePod()]),
    'samples/argo/workflow-scale-out.yaml': toYaml([argoWorkflowScaleOut()]),
  };
  Object.assign(files, deployFiles(), tektonCatalogFiles());
  return Object.fromEntries(Object.entries(files).sort(([a], [b]) => a.localeCompare(b)));
}
