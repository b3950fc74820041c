/** Entry point of the `visionbatch` command (bin/visionbatch.js loads it through tsx). */
import { runCli } from './program.ts';

const code = await runCli(process.argv.slice(2));
// Exit explicitly: idle keep-alive sockets of fetch must not hold the command open. Writes to
// stdout/stderr are synchronous for files and pipes on Linux, so nothing is lost.
process.exit(code);
