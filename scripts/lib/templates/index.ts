// Every generated template and sample as {path: content}; `npm run generate` writes them and the
// drift test compares them with the files in the repository.
import { argoWorkflowTemplate } from './argo.js';
import { BFF_HEADER, bffSample } from './bff.js';
import { toYaml } from './common.js';
import { deployFiles } from './kustomize.js';
import { argoWorkflowFromTemplate, argoWorkflowOnePod, argoWorkflowScaleOut, argoWorkflowTemplateRef, jobSample, pipelineRun, pipelineRunOnePod, pipelineRunScaleOut, secrets, taskRunAll } from './samples.js';
import {
  onePodPipelineReadme,
  pipelineReadme,
  scaleOutPipelineReadme,
  TEKTON_STEPS,
  taskName,
  taskReadme,
  tektonOnePodPipeline,
  tektonPipeline,
  tektonScaleOutPipeline,
  tektonTask,
} from './tekton.js';

export function generateTemplates(): Record<string, string> {
  const files: Record<string, string> = {
    'workflows/model-sync-workflowtemplate.yaml': toYaml([argoWorkflowTemplate('WorkflowTemplate')]),
    'workflows/model-sync-clusterworkflowtemplate.yaml': toYaml([argoWorkflowTemplate('ClusterWorkflowTemplate')]),
    'tekton/model-sync-pipeline.yaml': toYaml([tektonPipeline()]),
    'tekton/README-model-sync-pipeline.md': pipelineReadme(),
    'tekton/model-sync-pipeline-one-pod.yaml': toYaml([tektonOnePodPipeline()]),
    'tekton/README-model-sync-pipeline-one-pod.md': onePodPipelineReadme(),
    'tekton/model-sync-pipeline-scale-out.yaml': toYaml([tektonScaleOutPipeline()]),
    'tekton/README-model-sync-pipeline-scale-out.md': scaleOutPipelineReadme(),
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
    'samples/tekton/pipelinerun.yaml': toYaml([pipelineRun()]),
    'samples/tekton/pipelinerun-one-pod.yaml': toYaml([pipelineRunOnePod()]),
    'samples/tekton/pipelinerun-scale-out.yaml': toYaml([pipelineRunScaleOut()]),
    'samples/tekton/taskrun-all.yaml': toYaml([taskRunAll()]),
  };
  Object.assign(files, deployFiles());
  for (const s of TEKTON_STEPS) {
    files[`tekton/${taskName(s)}.yaml`] = toYaml([tektonTask(s)]);
    files[`tekton/README-${taskName(s)}.md`] = taskReadme(s);
  }
  return Object.fromEntries(Object.entries(files).sort(([a], [b]) => a.localeCompare(b)));
}
