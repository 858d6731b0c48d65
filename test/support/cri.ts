// A minimal CRI client for tests: the few RuntimeService calls kubelet makes to start a pod
// (RunPodSandbox, CreateContainer, StartContainer) and to remove it, over containerd's CRI
// socket with gRPC on node:http2. No crictl on Debian bookworm and no gRPC package in the
// project: the messages are written field by field from the CRI's runtime/v1 api.proto.
//
//   const pod = await runPod(socket, { name, namespace, uid, labels, logDirectory });
//   const id = await startContainer(socket, pod, { name, image, command, args, labels });
//   await removePod(socket, pod.id);

import { connect as connectHttp2 } from 'node:http2';
import { connect as connectNet } from 'node:net';

// --- protobuf, the wire format's four shapes used here ------------------------------------

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}
const bytes = (field: number, b: Buffer) => Buffer.concat([varint((field << 3) | 2), varint(b.length), b]);
const str = (field: number, s: string) => bytes(field, Buffer.from(s, 'utf8'));
const num = (field: number, v: number) => Buffer.concat([varint(field << 3), varint(v)]);
const msg = (field: number, ...parts: Buffer[]) => bytes(field, Buffer.concat(parts));
const strMap = (field: number, m: Record<string, string>) => Buffer.concat(Object.entries(m).map(([k, v]) => msg(field, str(1, k), str(2, v))));
const strs = (field: number, xs: string[]) => Buffer.concat(xs.map((x) => str(field, x)));

/** Field 1 of a response message, a string (every response used here starts with its id). */
function firstString(b: Buffer): string {
  if (b[0] !== 0x0a) throw new Error('CRI: unexpected response');
  let len = 0;
  let shift = 0;
  let i = 1;
  for (; b[i]! & 128; i++, shift += 7) len += (b[i]! & 127) * 2 ** shift;
  len += b[i]! * 2 ** shift;
  return b.subarray(i + 1, i + 1 + len).toString('utf8');
}

// --- gRPC over HTTP/2 on a unix socket ----------------------------------------------------

async function call(socket: string, method: string, body: Buffer): Promise<Buffer> {
  const session = connectHttp2('http://localhost', { createConnection: () => connectNet(socket) });
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const frame = Buffer.alloc(5 + body.length);
      frame.writeUInt32BE(body.length, 1);
      body.copy(frame, 5);
      const req = session.request({ ':method': 'POST', ':path': `/runtime.v1.RuntimeService/${method}`, 'content-type': 'application/grpc', te: 'trailers' });
      const chunks: Buffer[] = [];
      let status: string | undefined;
      let message = '';
      const meta = (h: Record<string, unknown>) => {
        if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
        if (h['grpc-message'] !== undefined) message = decodeURIComponent(String(h['grpc-message']));
      };
      req.on('response', meta);
      req.on('trailers', meta);
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('error', reject);
      req.on('end', () => {
        if (status !== '0') reject(new Error(`CRI ${method}: ${message || `grpc-status ${status}`}`));
        else resolve(Buffer.concat(chunks).subarray(5));
      });
      req.setTimeout(30_000, () => req.destroy(new Error(`CRI ${method}: no answer in 30 s`)));
      req.end(frame);
    });
  } finally {
    session.close();
  }
}

// --- the calls ----------------------------------------------------------------------------

export interface PodSpec {
  name: string;
  namespace: string;
  uid: string;
  labels?: Record<string, string>;
  /** Where the CRI plugin writes container logs (log_path is relative to it). */
  logDirectory: string;
  /** cgroup parent of the pod's containers. */
  cgroupParent: string;
}

export interface Pod {
  id: string;
  /** PodSandboxConfig as sent, for CreateContainer. */
  config: Buffer;
}

export interface ContainerSpec {
  name: string;
  image: string;
  command: string[];
  args: string[];
  labels?: Record<string, string>;
  logPath: string;
}

/** RunPodSandbox on the host network (NamespaceMode NODE: no CNI here), no hostname of its own. */
export async function runPod(socket: string, p: PodSpec): Promise<Pod> {
  const NODE = 2;
  const CONTAINER = 1;
  const config = Buffer.concat([
    msg(1, str(1, p.name), str(2, p.uid), str(3, p.namespace), num(4, 0)), // metadata
    str(3, p.logDirectory),
    strMap(6, p.labels ?? {}),
    // linux: cgroup_parent; security_context.namespace_options: network NODE, pid CONTAINER, ipc NODE
    msg(8, str(1, p.cgroupParent), msg(2, msg(1, num(1, NODE), num(2, CONTAINER), num(3, NODE)))),
  ]);
  const id = firstString(await call(socket, 'RunPodSandbox', msg(1, config)));
  return { id, config };
}

/** CreateContainer then StartContainer in the pod; returns the container id. */
export async function startContainer(socket: string, pod: Pod, c: ContainerSpec): Promise<string> {
  const config = Buffer.concat([
    msg(1, str(1, c.name), num(2, 0)), // metadata: name, attempt
    msg(2, str(1, c.image)),
    strs(3, c.command),
    strs(4, c.args),
    strMap(9, c.labels ?? {}),
    str(11, c.logPath),
  ]);
  const id = firstString(await call(socket, 'CreateContainer', Buffer.concat([str(1, pod.id), msg(2, config), msg(3, pod.config)])));
  await call(socket, 'StartContainer', str(1, id));
  return id;
}

/** StopPodSandbox and RemovePodSandbox: its containers go with it. */
export async function removePod(socket: string, podId: string): Promise<void> {
  await call(socket, 'StopPodSandbox', str(1, podId));
  await call(socket, 'RemovePodSandbox', str(1, podId));
}
