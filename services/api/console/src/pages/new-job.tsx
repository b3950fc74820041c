import { useState } from 'preact/hooks';
import { ApiError, call, paths } from '../api.ts';
import { ErrorBox, Section, useLoad } from '../components.tsx';
import { duration } from '../format.ts';
import type { Batch, Estimate, EstimatePending } from '../wire.ts';

type Kind = 'images' | 'videos';

/** Pause between asks for an estimate whose sample job still runs. */
const ESTIMATE_RETRY_MS = 2000;

/** What the job would cost, and how sure the estimate is. */
function EstimateFacts({ estimate: e }: { estimate: Estimate }) {
  const spread =
    e.perUnitSeconds.mean > 0
      ? (e.perUnitSeconds.max - e.perUnitSeconds.min) / (2 * e.perUnitSeconds.mean)
      : 0;
  return (
    <dl class="facts estimate">
      <dt>Estimated credits</dt>
      <dd>{e.predicted.credits.toFixed(4)}</dd>
      <dt>Machine time</dt>
      <dd>
        {duration(e.predicted.machineSeconds.cpu + e.predicted.machineSeconds.gpu)} ({e.pool})
      </dd>
      <dt>Wall time</dt>
      <dd>
        {duration(e.predicted.wallSeconds)} on {e.machinesUsed} of {e.machines} machine(s)
      </dd>
      <dt>Sample</dt>
      <dd>
        {e.sample.units} of {e.batch.units} {e.unit}s ({e.sample.files} of {e.batch.files} files), per{' '}
        {e.unit} {e.perUnitSeconds.mean.toFixed(3)} s ±{Math.round(spread * 100)} %; the estimate itself cost{' '}
        {e.estimateCost.credits.toFixed(4)} credits ({e.estimateJobId})
      </dd>
    </dl>
  );
}

/** The job body from the form (the same body the CLI sends). */
function jobBody(f: FormData, kind: Kind, workspace: string): Record<string, unknown> {
  const num = (k: string) => (f.get(k) ? Number(f.get(k)) : undefined);
  const notificationsURL = String(f.get('notificationsURL') ?? '').trim();
  return {
    type: kind === 'images' ? 'simple-image-processing-v1' : 'simple-video-processing-v1',
    jobInput: { type: 'staging-batch-input-v1', batchId: f.get('batchId') },
    computeConfiguration: {
      type: 'compute-configuration-v2',
      machineType: f.get('machineType'),
      workersPerMachine: num('workersPerMachine') ?? 1,
    },
    ...(num('maxParallelTasks') ? { maxParallelTasks: num('maxParallelTasks') } : {}),
    ...(num('processingTimeoutSeconds') ? { processingTimeoutSeconds: num('processingTimeoutSeconds') } : {}),
    ...(notificationsURL ? { notificationsURL } : {}),
    processingSpecification: {
      type: 'workflows-processing-specification-v1',
      workspace,
      workflowId: f.get('workflowId'),
      persistImagesOutputs: f.get('persistImagesOutputs') === 'on',
      aggregationFormat: f.get('aggregationFormat'),
      ...(kind === 'videos' && num('maxVideoFPS') ? { maxVideoFPS: num('maxVideoFPS') } : {}),
    },
  };
}

/**
 * New job: the form, then a review step that shows the cost estimate (when the api has the
 * estimate route) before the user confirms.
 */
export function NewJobPage() {
  const [kind, setKind] = useState<Kind>('images');
  const options = useLoad(async () => {
    const [{ batches }, { workflows }, { workspace }] = await Promise.all([
      call<{ batches: Batch[] }>('GET', `${paths.ds()}/batches`, { query: { pageSize: 200 } }),
      call<{ workflows: string[] }>('GET', paths.wf()),
      call<{ workspace: string }>('GET', '/'),
    ]);
    return { batches, workflows, workspace };
  }, []);
  const [review, setReview] = useState<{
    jobId: string;
    name: string;
    body: Record<string, unknown>;
    estimate: Estimate | 'unavailable' | null;
    estimateError: unknown;
  } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const toReview = async (e: Event) => {
    e.preventDefault();
    if (!options.data) return;
    const f = new FormData(e.currentTarget as HTMLFormElement);
    const body = jobBody(f, kind, options.data.workspace);
    const jobId = String(f.get('jobId'));
    const name = String(f.get('name') ?? '').trim() || jobId;
    setError(null);
    setReview({ jobId, name, body, estimate: null, estimateError: null });
    try {
      let r = await call<Estimate | EstimatePending>('POST', `${paths.bp()}/jobs/estimate`, { json: body });
      // 202: the sample job still runs; its answer is one GET away once it has ended
      while (r.status === 'running') {
        await new Promise((ok) => setTimeout(ok, ESTIMATE_RETRY_MS));
        r = await call<Estimate | EstimatePending>(
          'GET',
          `${paths.bp()}/jobs/${encodeURIComponent(r.estimateJobId)}/estimate`,
        );
      }
      setReview({ jobId, name, body, estimate: r, estimateError: null });
    } catch (err) {
      // An api without the estimate route: no estimate, the job can still be created.
      const missing = err instanceof ApiError && err.code === 'VB_ERR_ROUTE_NOT_FOUND';
      setReview({
        jobId,
        name,
        body,
        estimate: missing ? 'unavailable' : null,
        estimateError: missing ? null : err,
      });
    }
  };
  const create = async () => {
    if (!review) return;
    setBusy(true);
    setError(null);
    try {
      await call('POST', `${paths.bp()}/jobs/${encodeURIComponent(review.jobId)}`, {
        json: review.body,
        query: { name: review.name },
      });
      location.hash = `#/jobs/${encodeURIComponent(review.jobId)}`;
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  if (!options.data) return <ErrorBox error={options.error} />;
  const batches = options.data.batches.filter((b) => b.batchContentType === kind);
  return (
    <Section title="New job">
      <form class="new-job" onSubmit={toReview} onInput={() => review && setReview(null)}>
        <fieldset>
          <legend>Input</legend>
          <label>
            <input
              type="radio"
              name="kind"
              value="images"
              checked={kind === 'images'}
              onChange={() => setKind('images')}
            />{' '}
            Images
          </label>
          <label>
            <input
              type="radio"
              name="kind"
              value="videos"
              checked={kind === 'videos'}
              onChange={() => setKind('videos')}
            />{' '}
            Videos
          </label>
          <label>
            Batch
            <select name="batchId" required>
              {batches.map((b) => (
                <option key={b.batchId} value={b.batchId}>
                  {b.batchId}
                  {b.displayName !== b.batchId ? ` (${b.displayName})` : ''}
                </option>
              ))}
            </select>
          </label>
          {batches.length === 0 && <p class="notice">No {kind} batch yet: upload one on the Batches page.</p>}
          <label>
            Workflow
            <select name="workflowId" required>
              {options.data.workflows.map((w) => (
                <option key={w} value={w}>
                  {w}
                </option>
              ))}
            </select>
          </label>
        </fieldset>
        <fieldset>
          <legend>Job</legend>
          <label>
            Job id <input name="jobId" required pattern="[a-z0-9_\-]{1,20}" placeholder="my-job" />
          </label>
          <label>
            Name <input name="name" placeholder="(the job id)" />
          </label>
        </fieldset>
        <fieldset>
          <legend>Machines</legend>
          <label>
            Machine type
            <select name="machineType">
              <option value="cpu">cpu</option>
              <option value="gpu">gpu</option>
            </select>
          </label>
          <label>
            Workers per machine <input name="workersPerMachine" type="number" min={1} max={64} value={1} />
          </label>
          <label>
            Max parallel tasks <input name="maxParallelTasks" type="number" min={1} placeholder="no limit" />
          </label>
          <label>
            Max runtime (s){' '}
            <input name="processingTimeoutSeconds" type="number" min={1} placeholder="no limit" />
          </label>
        </fieldset>
        <fieldset>
          <legend>Outputs</legend>
          <label>
            <input name="persistImagesOutputs" type="checkbox" /> Keep visualisation outputs (images)
          </label>
          {kind === 'videos' && (
            <label>
              Max video FPS{' '}
              <input name="maxVideoFPS" type="number" min={0.1} step="any" placeholder="every frame" />
            </label>
          )}
          <label>
            Aggregation format
            <select name="aggregationFormat">
              <option value="jsonl">jsonl</option>
              <option value="csv">csv</option>
            </select>
          </label>
          <label>
            Notifications URL <input name="notificationsURL" type="url" placeholder="https://… (webhook)" />
          </label>
        </fieldset>
        <button type="submit">Review</button>
      </form>
      {review && (
        <div class="review">
          <h3>Review {review.jobId}</h3>
          {review.estimate === null && !review.estimateError && <p>Estimating the cost…</p>}
          {review.estimate && review.estimate !== 'unavailable' && (
            <EstimateFacts estimate={review.estimate} />
          )}
          {review.estimate === 'unavailable' && <p class="hint">This api gives no cost estimates.</p>}
          <ErrorBox error={review.estimateError} />
          <button type="button" class="primary" disabled={busy} onClick={create}>
            Create job
          </button>
        </div>
      )}
      <ErrorBox error={error} />
    </Section>
  );
}
