import { describe, expect, it } from 'vitest';
import { buildImageJobBody, buildRestartBody, buildVideoJobBody, generateJobId } from './job-body.ts';

describe('job bodies', () => {
  it('builds the minimal image job exactly as spec §3.4 (field order included)', () => {
    const body = buildImageJobBody({ batchId: 'imgs', workflowId: 'shapes-demo' }, 'demo');
    expect(JSON.stringify(body)).toBe(
      '{"type":"simple-image-processing-v1","jobInput":{"type":"staging-batch-input-v1","batchId":"imgs"},' +
        '"computeConfiguration":{"type":"compute-configuration-v2"},' +
        '"processingSpecification":{"type":"workflows-processing-specification-v1","workspace":"demo","workflowId":"shapes-demo","persistImagesOutputs":false}}',
    );
  });

  it('builds the minimal video job of the spec byte for byte', () => {
    const body = buildVideoJobBody({ batchId: 'clips', workflowId: 'wf', maxVideoFps: 5 }, 'acme');
    expect(JSON.stringify(body)).toBe(
      '{"type":"simple-video-processing-v1","jobInput":{"type":"staging-batch-input-v1","batchId":"clips"},"computeConfiguration":{"type":"compute-configuration-v2"},"processingSpecification":{"type":"workflows-processing-specification-v1","workspace":"acme","workflowId":"wf","persistImagesOutputs":false,"maxVideoFPS":5}}',
    );
  });

  it('builds the full image example of spec §3.4', () => {
    const body = buildImageJobBody(
      {
        batchId: 'street-cams',
        workflowId: 'detect-vehicles',
        partName: 'images',
        imagesMetadataPartName: 'metadata',
        machineType: 'gpu',
        workersPerMachine: 2,
        maxRuntimeSeconds: 7200,
        maxParallelTasks: 16,
        maxImageFailureRate: 0.05,
        workflowParameters: { confidence: 0.4 },
        imageInputName: 'image',
        saveImageOutputs: true,
        imageOutputsToSave: ['annotated'],
        aggregationFormat: 'jsonl',
        metadataMapping: ['camera=camera_id'],
        notificationsUrl: 'https://hooks.example.com/bp',
        inferenceBackend: 'inference-models',
      },
      'acme',
    );
    expect(body).toStrictEqual({
      type: 'simple-image-processing-v1',
      jobInput: {
        type: 'staging-batch-input-v1',
        batchId: 'street-cams',
        partName: 'images',
        imagesMetadataPart: 'metadata',
      },
      computeConfiguration: { type: 'compute-configuration-v2', machineType: 'gpu', workersPerMachine: 2 },
      processingTimeoutSeconds: 7200,
      maxParallelTasks: 16,
      maxImageFailureRate: 0.05,
      processingSpecification: {
        type: 'workflows-processing-specification-v1',
        workspace: 'acme',
        workflowId: 'detect-vehicles',
        workflowParameters: { confidence: 0.4 },
        imageInputName: 'image',
        persistImagesOutputs: true,
        imagesOutputsToBePersisted: ['annotated'],
        aggregationFormat: 'jsonl',
        imagesMetadataInputsMapping: { camera: 'camera_id' },
      },
      notificationsURL: 'https://hooks.example.com/bp',
      inferenceBackend: 'inference-models',
    });
    expect(Object.keys(body)).toEqual([
      'type',
      'jobInput',
      'computeConfiguration',
      'processingTimeoutSeconds',
      'maxParallelTasks',
      'maxImageFailureRate',
      'processingSpecification',
      'notificationsURL',
      'inferenceBackend',
    ]);
  });

  it('maps the deprecated machine size unless workers per machine is given', () => {
    expect(
      buildImageJobBody({ batchId: 'b', workflowId: 'w', machineSize: 'xs' }, 'ws').computeConfiguration,
    ).toEqual({
      type: 'compute-configuration-v2',
      workersPerMachine: 8,
    });
    expect(
      buildImageJobBody({ batchId: 'b', workflowId: 'w', machineSize: 'xs', workersPerMachine: 3 }, 'ws')
        .computeConfiguration,
    ).toEqual({
      type: 'compute-configuration-v2',
      workersPerMachine: 3,
    });
  });

  it('keeps nulls inside workflowParameters', () => {
    const body = buildImageJobBody({ batchId: 'b', workflowId: 'w', workflowParameters: { a: null } }, 'ws');
    expect((body.processingSpecification as Record<string, unknown>).workflowParameters).toEqual({ a: null });
  });

  it('refuses a failure rate outside 0..1 and a bad metadata mapping', () => {
    expect(() =>
      buildImageJobBody({ batchId: 'b', workflowId: 'w', maxImageFailureRate: 1.5 }, 'ws'),
    ).toThrow(/between 0.0 and 1.0/);
    expect(() =>
      buildImageJobBody({ batchId: 'b', workflowId: 'w', metadataMapping: ['nokey'] }, 'ws'),
    ).toThrow(/input=metadata_key/);
  });

  it('builds restart overrides, or no body without overrides', () => {
    expect(buildRestartBody({})).toBeUndefined();
    expect(buildRestartBody({ workersPerMachine: 0 })).toBeUndefined();
    expect(
      JSON.stringify(
        buildRestartBody({
          machineType: 'gpu',
          maxParallelTasks: 4,
          maxRuntimeSeconds: 60,
          maxImageFailureRate: 0.2,
        }),
      ),
    ).toBe(
      '{"type":"parameters-override-v1","computeConfiguration":{"type":"compute-configuration-v2","machineType":"gpu"},"maxParallelTasks":4,"processingTimeoutSeconds":60,"maxImageFailureRate":0.2}',
    );
  });

  it('generates job ids of job- + 12 [a-z0-9]', () => {
    for (let i = 0; i < 50; i++) expect(generateJobId()).toMatch(/^job-[a-z0-9]{12}$/);
  });
});
