// Worker-thread entry of a slot. Node 20 does not apply the tsx loader of the parent (inherited
// `--import tsx` execArgv) to a worker whose entry is a .ts file ("Unknown file extension .ts"),
// so this plain-JS entry registers tsx in the thread first, then loads the TypeScript entry.
import { register } from 'tsx/esm/api';

register();
await import('./slot-thread.ts');
