/** Programmatic API of the visionbatch CLI (the commands' building blocks), used by scripts/demo.ts. */
export { ApiClient, ApiError, ConnectionError } from './api-client.ts';
export { getBatch, getCount, listBatchContent, listBatches, showBatchDetails } from './batch-listing.ts';
export { CliError } from './cli-error.ts';
export { estimateJob, renderEstimate } from './estimate.ts';
export { exportBatch } from './export-batch.ts';
export { clientFor, defaultApiKey, defaultApiUrl } from './global-options.ts';
export { buildImageJobBody, buildRestartBody, buildVideoJobBody, generateJobId } from './job-body.ts';
export { followJobEvents, type JobEvent, readJobEvents } from './job-events.ts';
export { waitForJob } from './job-wait.ts';
export { getJob, getStages, jobStageReports, showJobDetails, triggerJob } from './jobs.ts';
export { runCli } from './program.ts';
export { putWorkflow, putWorkflowFile, uploadModel } from './registries.ts';
export { localStack, stackDown, stackStatus, stackUp } from './stack.ts';
export { createBatchOfImages } from './upload-images.ts';
export { createBatchOfVideos } from './upload-videos.ts';
