// `trace top`: the busiest paths (method and path, per service) by requests per second, with
// their success rate and latency percentiles, refreshed every interval (in place on a
// terminal); the whole run's at the end. The watch loop is stat's, keyed by path.

import { watchHttp, type StatOptions } from './stat.js';
import type { Streams } from './output.js';

export function topCommand(o: StatOptions, io: Streams): Promise<number> {
  return watchHttp('top', o, io);
}
