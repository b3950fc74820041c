import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';

/** Content of the optional `notification_config.json` shard member (spec §2.10). */
export interface ShardNotificationConfig {
  ingestId: string;
  notificationsURL: string;
}

/** Name of the configuration member of a tar shard; never an image. */
export const NOTIFICATION_CONFIG_MEMBER = 'notification_config.json';

/**
 * Writes an uncompressed tar to `outPath` holding `names` (files of `dir`) at the archive root
 * under their base names, plus `notification_config.json` when `notification` is given — the
 * shard layout the bulk upload endpoint expects (spec §2.10). Files are streamed, not buffered.
 */
export async function writeTarShard(
  dir: string,
  names: readonly string[],
  outPath: string,
  notification?: ShardNotificationConfig,
): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack, createWriteStream(outPath));
  try {
    for (const name of names) {
      const file = path.join(dir, name);
      const st = await stat(file);
      await new Promise<void>((resolve, reject) => {
        const entry = pack.entry(
          { name: path.basename(name), size: st.size, mode: 0o644, mtime: st.mtime, type: 'file' },
          (err) => (err ? reject(err) : resolve()),
        );
        const src = createReadStream(file);
        src.on('error', reject);
        src.pipe(entry);
      });
    }
    if (notification) {
      const body = Buffer.from(
        JSON.stringify({ ingestId: notification.ingestId, notificationsURL: notification.notificationsURL }),
      );
      await new Promise<void>((resolve, reject) => {
        pack.entry(
          { name: NOTIFICATION_CONFIG_MEMBER, size: body.length, mode: 0o644, mtime: new Date() },
          body,
          (err) => (err ? reject(err) : resolve()),
        );
      });
    }
    pack.finalize();
  } catch (e) {
    pack.destroy(e as Error);
  }
  await done;
}
