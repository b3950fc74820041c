import { useEffect, useState } from 'preact/hooks';
import { ApiError, call, paths, sameOrigin } from '../api.ts';
import { ErrorBox, Pager, Section, StateBadge, useLoad, usePager } from '../components.tsx';
import { when } from '../format.ts';
import { splitMedia, uploadImages, uploadVideos } from '../upload.ts';
import type { Batch, FileMeta, Shard } from '../wire.ts';

const THUMBNAIL = /\.(jpe?g|png|webp|bmp)$/i;

export function BatchesPage() {
  const pager = usePager();
  const list = useLoad(
    () =>
      call<{ batches: Batch[]; nextPageToken: string | null }>('GET', `${paths.ds()}/batches`, {
        query: { pageSize: 50, nextPageToken: pager.token },
      }),
    [pager.token],
  );
  return (
    <div>
      <Section title="Upload">
        <UploadForm onDone={(id) => (location.hash = `#/batches/${encodeURIComponent(id)}`)} />
      </Section>
      <Section
        title="Batches"
        actions={
          <button type="button" onClick={list.reload}>
            Refresh
          </button>
        }
      >
        <ErrorBox error={list.error} />
        <table>
          <thead>
            <tr>
              <th>Batch</th>
              <th>Name</th>
              <th>Type</th>
              <th>Content</th>
              <th>Created</th>
              <th>Expires</th>
            </tr>
          </thead>
          <tbody>
            {(list.data?.batches ?? []).map((b) => (
              <tr key={b.batchId}>
                <td>
                  <a href={`#/batches/${encodeURIComponent(b.batchId)}`}>{b.batchId}</a>
                </td>
                <td>{b.displayName}</td>
                <td>{b.batchType}</td>
                <td>{b.batchContentType}</td>
                <td>{when(b.createdDate)}</td>
                <td>{when(b.expiryDate)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {list.data && list.data.batches.length === 0 && <p class="empty">No batches yet.</p>}
        <Pager pager={pager} nextToken={list.data?.nextPageToken} />
      </Section>
    </div>
  );
}

/**
 * Stages images or videos from the browser through the CLI's signed-URL flow (tar shards for
 * images, one signed PUT per video).
 */
export function UploadForm({ batchId, onDone }: { batchId?: string; onDone: (batchId: string) => void }) {
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const id = batchId ?? (form.elements.namedItem('batchId') as HTMLInputElement).value.trim();
    const files = [...((form.elements.namedItem('files') as HTMLInputElement).files ?? [])];
    const { images, videos, other } = splitMedia(files);
    setError(null);
    if (images.length > 0 && videos.length > 0)
      return setError(new Error('A batch holds images or videos, not both: choose one kind.'));
    if (images.length + videos.length === 0) return setError(new Error('Choose image or video files.'));
    setBusy(true);
    const total = images.length + videos.length;
    const skipped = other.length ? ` (${other.length} other file(s) skipped)` : '';
    try {
      const progress = (n: number) => setStatus(`uploaded ${n} of ${total}${skipped}`);
      if (images.length) await uploadImages(id, images, progress);
      else await uploadVideos(id, videos, progress);
      setStatus(`uploaded ${total} file(s)${skipped}`);
      form.reset();
      onDone(id);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="upload" onSubmit={submit}>
      {!batchId && (
        <label>
          Batch id <input name="batchId" required pattern="[a-z0-9_\-]{1,64}" placeholder="my-batch" />
        </label>
      )}
      <label>
        Images or videos <input name="files" type="file" multiple required accept="image/*,video/*" />
      </label>
      <button type="submit" disabled={busy}>
        {busy ? 'Uploading…' : 'Upload'}
      </button>
      {status && <span class="status">{status}</span>}
      <ErrorBox error={error} />
    </form>
  );
}

export function BatchPage({ batchId }: { batchId: string }) {
  const ds = `${paths.ds()}/batches/${encodeURIComponent(batchId)}`;
  const info = useLoad(async () => {
    const { batch } = await call<{ batch: Batch }>('GET', ds);
    const { count } = await call<{ count: number }>('GET', `${ds}/count`);
    const shards =
      batch.batchType === 'sharded-batch'
        ? (await call<{ shards: Shard[] }>('GET', `${ds}/shards`, { query: { pageSize: 1000 } })).shards
        : [];
    return { batch, count, shards };
  }, [batchId]);
  const [filesKey, setFilesKey] = useState(0);
  // While shards are being ingested the page looks again every 2 s (one timer for the page).
  const ingesting = (info.data?.shards ?? []).some(
    (s) => s.statusName === 'shard-registered' || s.statusName === 'shard-uploaded',
  );
  useEffect(() => {
    if (!ingesting) return;
    const t = setTimeout(() => {
      info.reload();
      setFilesKey((k) => k + 1);
    }, 2000);
    return () => clearTimeout(t);
  }, [info.data]);
  if (!info.data) return <ErrorBox error={info.error} />;
  const { batch, count, shards } = info.data;
  const failed = shards.filter((s) => s.statusType === 'error');
  const pending = shards.filter(
    (s) => s.statusName === 'shard-registered' || s.statusName === 'shard-uploaded',
  );
  return (
    <div>
      <Section
        title={`Batch ${batch.batchId}`}
        actions={
          <button
            type="button"
            onClick={() => {
              info.reload();
              setFilesKey(filesKey + 1);
            }}
          >
            Refresh
          </button>
        }
      >
        <dl class="facts">
          <dt>Name</dt>
          <dd>{batch.displayName}</dd>
          <dt>Type</dt>
          <dd>
            {batch.batchType}, {batch.batchContentType}
          </dd>
          <dt>Files</dt>
          <dd class="file-count">{count}</dd>
          <dt>Created</dt>
          <dd>{when(batch.createdDate)}</dd>
          <dt>Expires</dt>
          <dd>{when(batch.expiryDate)}</dd>
        </dl>
        {pending.length > 0 && <p class="notice">{pending.length} shard(s) still being ingested…</p>}
      </Section>
      {shards.length > 0 && (
        <Section title="Shards">
          <table>
            <thead>
              <tr>
                <th>Shard</th>
                <th>Status</th>
                <th>Files</th>
                <th>Updated</th>
              </tr>
            </thead>
            <tbody>
              {shards.map((s) => (
                <tr key={s.shardId}>
                  <td>{s.shardId}</td>
                  <td>
                    <StateBadge state={s.statusType} /> {s.statusName}
                  </td>
                  <td>{s.shardObjectsCount}</td>
                  <td>{when(s.eventTimestamp)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Section>
      )}
      {failed.length > 0 && (
        <Section title="Ingest failures">
          <ul class="failures">
            {failed.map((s) => (
              <li key={s.shardId}>
                {s.shardId}: {String(s.statusMetadata?.errorType ?? s.statusName)} —{' '}
                {String(s.statusMetadata?.error ?? '')}
              </li>
            ))}
          </ul>
        </Section>
      )}
      {(batch.batchContentType === 'images' || batch.batchContentType === 'videos') &&
        batch.batchType !== 'multipart-batch' && (
          <Section title="Add files">
            <UploadForm batchId={batch.batchId} onDone={() => info.reload()} />
          </Section>
        )}
      <Section title="Files">
        <BatchFiles key={filesKey} batchId={batch.batchId} />
      </Section>
    </div>
  );
}

/** The files of a batch (every part of a multipart batch), with download links and image thumbnails. */
export function BatchFiles({ batchId }: { batchId: string }) {
  const ds = `${paths.ds()}/batches/${encodeURIComponent(batchId)}`;
  const parts = useLoad(async () => {
    const { batch } = await call<{ batch: Batch }>('GET', ds);
    if (batch.batchType !== 'multipart-batch')
      return [{ part: '', images: batch.batchContentType === 'images' }];
    const r = await call<{ batchParts: { partName: string; contentType: string }[] }>('GET', `${ds}/parts`);
    // persisted visualisation outputs are the `images` part of a job's processing batch
    return r.batchParts.map((p) => ({
      part: p.partName,
      images: p.partName === 'images' || p.contentType === 'images',
    }));
  }, [batchId]);
  if (parts.error instanceof ApiError && parts.error.status === 404)
    return <p class="empty">Not created yet.</p>;
  if (!parts.data) return <ErrorBox error={parts.error} />;
  return (
    <div>
      {parts.data.map((p) => (
        <PartFiles key={p.part} batchId={batchId} part={p.part} images={p.images} />
      ))}
    </div>
  );
}

function PartFiles({ batchId, part, images }: { batchId: string; part: string; images: boolean }) {
  const pager = usePager();
  const files = useLoad(
    () =>
      call<{ filesMetadata: FileMeta[]; nextPageToken: string | null }>(
        'GET',
        `${paths.ds()}/batches/${encodeURIComponent(batchId)}/list`,
        {
          query: { partName: part || undefined, pageSize: 50, nextPageToken: pager.token },
        },
      ),
    [batchId, part, pager.token],
  );
  const [thumbs, setThumbs] = useState(images);
  const list = files.data?.filesMetadata ?? [];
  return (
    <div class="part">
      {part && <h3>Part {part}</h3>}
      <ErrorBox error={files.error} />
      {list.some((f) => THUMBNAIL.test(f.fileName)) && (
        <label class="thumb-toggle">
          <input type="checkbox" checked={thumbs} onChange={() => setThumbs(!thumbs)} /> thumbnails
        </label>
      )}
      <ul class={thumbs ? 'files thumbs' : 'files'}>
        {list.map((f) => (
          <li key={f.fileName}>
            {thumbs && THUMBNAIL.test(f.fileName) && (
              <img src={sameOrigin(f.downloadURL)} alt={f.fileName} loading="lazy" />
            )}
            <a class="download" href={sameOrigin(f.downloadURL)} download={f.fileName.split('/').pop()}>
              {f.fileName}
            </a>
          </li>
        ))}
      </ul>
      {files.data && list.length === 0 && <p class="empty">No files.</p>}
      <Pager pager={pager} nextToken={files.data?.nextPageToken} />
    </div>
  );
}
