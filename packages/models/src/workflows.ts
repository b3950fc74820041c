/**
 * The single-step detection workflow over a generated detector (the demo's, the end-to-end
 * tests' and the benchmarks'): image → object detection → `predictions`.
 */
export function detectionWorkflow(modelId: string): Record<string, unknown> {
  return {
    version: '1.0',
    inputs: [{ type: 'WorkflowImage', name: 'image' }],
    steps: [
      {
        type: 'roboflow_core/roboflow_object_detection_model@v2',
        name: 'det',
        images: '$inputs.image',
        model_id: modelId,
      },
    ],
    outputs: [{ type: 'JsonField', name: 'predictions', selector: '$steps.det.predictions' }],
  };
}
