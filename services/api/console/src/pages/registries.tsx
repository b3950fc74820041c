import { useState } from 'preact/hooks';
import { call, paths } from '../api.ts';
import { ErrorBox, Json, Section, useLoad } from '../components.tsx';
import { bytes, when } from '../format.ts';

type ModelRecord = {
  modelId: string;
  task: string;
  architecture: string;
  classNames: string[];
  input: { width: number; height: number };
  weightsBytes: number;
  createdAt: string;
};

export function ModelsPage({ modelId }: { modelId: string | null }) {
  const list = useLoad(() => call<{ models: string[] }>('GET', paths.md()), []);
  const model = useLoad(
    async () =>
      modelId
        ? (
            await call<{ model: ModelRecord }>(
              'GET',
              `${paths.md()}/${modelId.split('/').map(encodeURIComponent).join('/')}`,
            )
          ).model
        : null,
    [modelId],
  );
  const [result, setResult] = useState<unknown>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const upload = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const f = new FormData(form);
    const id = String(f.get('modelId')).trim();
    const body = new FormData();
    const config = f.get('config') as File | null;
    if (config && config.size > 0) body.append('config', config, config.name);
    body.append('weights', f.get('weights') as File);
    setBusy(true);
    setError(null);
    try {
      setResult(
        await call('PUT', `${paths.md()}/${id.split('/').map(encodeURIComponent).join('/')}`, { form: body }),
      );
      form.reset();
      list.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div>
      <Section title="Models">
        <ErrorBox error={list.error} />
        <ul class="ids">
          {(list.data?.models ?? []).map((m) => (
            <li key={m}>
              <a href={`#/models/${m}`}>{m}</a>
            </li>
          ))}
        </ul>
        {list.data && list.data.models.length === 0 && <p class="empty">No models yet.</p>}
      </Section>
      {model.data && (
        <Section title={`Model ${model.data.modelId}`}>
          <dl class="facts">
            <dt>Task</dt>
            <dd>{model.data.task}</dd>
            <dt>Architecture</dt>
            <dd>{model.data.architecture}</dd>
            <dt>Input</dt>
            <dd>
              {model.data.input.width} × {model.data.input.height}
            </dd>
            <dt>Classes</dt>
            <dd>{model.data.classNames.join(', ')}</dd>
            <dt>Weights</dt>
            <dd>{bytes(model.data.weightsBytes)}</dd>
            <dt>Uploaded</dt>
            <dd>{when(model.data.createdAt)}</dd>
          </dl>
          <details>
            <summary>Record</summary>
            <Json value={model.data} />
          </details>
        </Section>
      )}
      <ErrorBox error={model.error} />
      <Section title="Upload a model">
        <form class="upload-model" onSubmit={upload}>
          <label>
            Model id{' '}
            <input
              name="modelId"
              required
              placeholder="project/1"
              pattern="[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)?"
            />
          </label>
          <label>
            ONNX weights <input name="weights" type="file" accept=".onnx" required />
          </label>
          <label>
            Config (optional JSON) <input name="config" type="file" accept=".json,application/json" />
          </label>
          <button type="submit" disabled={busy}>
            {busy ? 'Uploading and checking…' : 'Upload'}
          </button>
        </form>
        <ErrorBox error={error} />
        {result !== null && <Json value={result} />}
      </Section>
    </div>
  );
}

export function WorkflowsPage({ workflowId }: { workflowId: string | null }) {
  const list = useLoad(() => call<{ workflows: string[] }>('GET', paths.wf()), []);
  const wf = useLoad(
    async () =>
      workflowId
        ? (
            await call<{ workflow: { definition: unknown; updatedAt: string } }>(
              'GET',
              `${paths.wf()}/${encodeURIComponent(workflowId)}`,
            )
          ).workflow
        : null,
    [workflowId],
  );
  const [saved, setSaved] = useState<{
    status: string;
    warnings: { step: string; message: string }[];
  } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const save = async (e: Event) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    const id = String(f.get('workflowId')).trim();
    setError(null);
    setSaved(null);
    let definition: unknown;
    try {
      definition = JSON.parse(String(f.get('definition')));
    } catch {
      return setError(new Error('The definition is not valid JSON.'));
    }
    try {
      setSaved(await call('PUT', `${paths.wf()}/${encodeURIComponent(id)}`, { json: definition }));
      list.reload();
      if (id !== workflowId) location.hash = `#/workflows/${encodeURIComponent(id)}`;
      else wf.reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <div>
      <Section title="Workflows">
        <ErrorBox error={list.error} />
        <ul class="ids">
          {(list.data?.workflows ?? []).map((w) => (
            <li key={w}>
              <a href={`#/workflows/${encodeURIComponent(w)}`}>{w}</a>
            </li>
          ))}
        </ul>
        {list.data && list.data.workflows.length === 0 && <p class="empty">No workflows yet.</p>}
      </Section>
      <Section title={workflowId ? `Workflow ${workflowId}` : 'New workflow'}>
        <ErrorBox error={wf.error} />
        <form class="workflow" onSubmit={save} key={`${workflowId}-${wf.data?.updatedAt ?? ''}`}>
          <label>
            Workflow id{' '}
            <input name="workflowId" required pattern="[A-Za-z0-9_\-]{1,128}" value={workflowId ?? ''} />
          </label>
          <label>
            Definition (JSON)
            <textarea
              name="definition"
              rows={20}
              spellcheck={false}
              value={wf.data ? JSON.stringify(wf.data.definition, null, 2) : ''}
            />
          </label>
          <button type="submit">Save</button>
          {wf.data && <span class="status">last saved {when(wf.data.updatedAt)}</span>}
        </form>
        <ErrorBox error={error} />
        {saved && (
          <div class="notice">
            Workflow {saved.status}.
            {saved.warnings.map((w) => (
              <p key={w.step + w.message}>
                Warning: step "{w.step}": {w.message}
              </p>
            ))}
          </div>
        )}
      </Section>
    </div>
  );
}
