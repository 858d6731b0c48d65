// The demo microservices (frontend -> voting, emoji) in podman containers, and their load
// generator: what `trace demo`, the e2e tests and the benchmarks run against.
export * from './build.js';
export * from './rootfs.js';
export * from './podman.js';
export * from './stack.js';
