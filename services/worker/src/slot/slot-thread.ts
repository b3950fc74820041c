import { parentPort } from 'node:worker_threads';
import type { StoreConfig } from '@visionbatch/shared/config';
import { createObjectStore } from '@visionbatch/shared/object-store/index';
import sharp from 'sharp';
import type { FromSlot, ToSlot } from './protocol.ts';
import { SlotRunner } from './slot-runner.ts';

/**
 * Entry of a slot's worker thread (spawned by the machine's SlotPool). All decoding and
 * inference of the slot happen here, so the main thread's event loop stays free.
 */

if (!parentPort) throw new Error('slot-thread.ts must run in a worker thread');
const port = parentPort;

// libvips' operation cache only costs memory here: every image is decoded once.
sharp.cache(false);

const runner = new SlotRunner({
  post: (m: FromSlot) => port.postMessage(m),
  openStore: (config: StoreConfig) => createObjectStore(config),
});

port.on('message', (m: ToSlot) => runner.handle(m));
