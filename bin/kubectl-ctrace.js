#!/usr/bin/env node
// kubectl's plugin entry point: `kubectl ctrace ARGS` runs this with ARGS. The same CLI as
// bin/trace.js, in which -l selects pods (as --kube does) and -c takes pod/NAME[/CONTAINER].
import { main } from '../dist/cli.js';

for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

main(process.argv, undefined, { kubectlPlugin: true }).then((code) => {
  process.exitCode = code;
});
