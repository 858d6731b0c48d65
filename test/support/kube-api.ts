// A stand-in for a Kubernetes API server, for tests: no kube-apiserver can be installed here
// (Debian ships only kubectl; npm has none; no images can be pulled), so this serves the API's
// responses for a few paths over HTTPS on loopback, with a bearer token and a CA of its own,
// and writes a kubeconfig for it. The client side is real: kubectl reads that kubeconfig,
// checks the certificate against the CA, sends the token and speaks HTTP to this server.
//
//   const api = await startKubeApi({ pods: [pod(...)], nodes: [node('node-a', '127.0.0.11')] });
//   kubectl --kubeconfig api.kubeconfig get --raw /api/v1/namespaces/shop/pods/web-1
//
// Objects are built by pod() and node() below, in the shape of the v1 API's (fields as the
// API reference lists them, as a cluster with containerd reports them).

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface KubeApiFixture {
  readonly pods: readonly object[];
  readonly nodes: readonly object[];
}

export interface KubeApi {
  readonly url: string;
  readonly kubeconfig: string;
  /** Paths asked so far (with their query, less kubectl's timeout), in order. */
  readonly requests: string[];
  /** Replaces what the server answers. */
  set(f: KubeApiFixture): void;
  stop(): Promise<void>;
}

const uid = () => [8, 4, 4, 4, 12].map((n) => randomBytes(n / 2).toString('hex')).join('-');

/** A running pod of one or more containers, as GET /api/v1/namespaces/NS/pods/NAME returns it. */
export function pod(o: {
  name: string;
  namespace: string;
  node: string;
  labels?: Record<string, string>;
  /** Container name -> its container id (`containerd://<64 hex>`), or null for one not started. */
  containers: Record<string, string | null>;
  annotations?: Record<string, string>;
}): object {
  const names = Object.keys(o.containers);
  const started = '2026-12-06T20:11:02Z';
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: {
      name: o.name,
      generateName: `${o.name.replace(/-[a-z0-9]+$/, '')}-`,
      namespace: o.namespace,
      uid: uid(),
      resourceVersion: '48213',
      creationTimestamp: started,
      labels: { ...(o.labels ?? {}), 'pod-template-hash': '7c9d8b5f6d' },
      ...(o.annotations ? { annotations: o.annotations } : {}),
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${o.name.replace(/-[a-z0-9]+$/, '')}-7c9d8b5f6d`, uid: uid(), controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      containers: names.map((n) => ({ name: n, image: `registry.example/shop/${n}:1.4.2`, ports: [{ containerPort: 8080, protocol: 'TCP' }], resources: {}, terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', imagePullPolicy: 'IfNotPresent' })),
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'default',
      serviceAccount: 'default',
      nodeName: o.node,
      securityContext: {},
      schedulerName: 'default-scheduler',
      enableServiceLinks: true,
      preemptionPolicy: 'PreemptLowerPriority',
    },
    status: {
      phase: 'Running',
      conditions: ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: started })),
      hostIP: '10.0.0.7',
      hostIPs: [{ ip: '10.0.0.7' }],
      podIP: '10.244.1.17',
      podIPs: [{ ip: '10.244.1.17' }],
      startTime: started,
      containerStatuses: names.map((n) => {
        const id = o.containers[n];
        return {
          name: n,
          state: id ? { running: { startedAt: started } } : { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container' } },
          lastState: {},
          ready: !!id,
          restartCount: id ? 0 : 3,
          image: `registry.example/shop/${n}:1.4.2`,
          imageID: `registry.example/shop/${n}@sha256:${'5b0e'.repeat(16)}`,
          ...(id ? { containerID: id } : {}),
          started: !!id,
        };
      }),
      qosClass: 'BestEffort',
    },
  };
}

/** A node, as GET /api/v1/nodes/NAME returns it (addresses: InternalIP, Hostname). */
export function node(name: string, internalIP: string | null): object {
  return {
    kind: 'Node',
    apiVersion: 'v1',
    metadata: { name, uid: uid(), resourceVersion: '48190', creationTimestamp: '2026-12-01T08:00:00Z', labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' } },
    spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'] },
    status: {
      addresses: [...(internalIP ? [{ type: 'InternalIP', address: internalIP }] : []), { type: 'Hostname', address: name }],
      nodeInfo: { kernelVersion: '6.18.0', osImage: 'Debian GNU/Linux 12 (bookworm)', containerRuntimeVersion: 'containerd://1.6.20', kubeletVersion: 'v1.32.3', kubeProxyVersion: 'v1.32.3', operatingSystem: 'linux', architecture: 'amd64' },
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' }],
    },
  };
}

function status404(kind: string, name: string): object {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `${kind} "${name}" not found`, reason: 'NotFound', details: { name, kind }, code: 404 };
}

type Meta = { metadata: { name: string; namespace?: string; labels?: Record<string, string> } };

/** `app=web,tier` against a pod's labels (equality and existence terms: what trace sends). */
function matches(labels: Record<string, string>, selector: string): boolean {
  return selector.split(',').every((term) => {
    const eq = term.indexOf('=');
    return eq < 0 ? term in labels : labels[term.slice(0, eq)] === term.slice(eq + 1);
  });
}

const resource = (name: string, kind: string, namespaced: boolean, shortNames?: string[]) => ({
  name,
  singularName: kind.toLowerCase(),
  namespaced,
  kind,
  verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
  ...(shortNames ? { shortNames } : {}),
});

/** Legacy discovery (what kubectl falls back to when aggregated discovery is not offered): enough to map the kinds used here. */
const DISCOVERY: Record<string, object> = {
  '/api': { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1:6443' }] },
  '/apis': { kind: 'APIGroupList', apiVersion: 'v1', groups: [{ name: 'apps', versions: [{ groupVersion: 'apps/v1', version: 'v1' }], preferredVersion: { groupVersion: 'apps/v1', version: 'v1' } }] },
  '/api/v1': { kind: 'APIResourceList', groupVersion: 'v1', resources: [resource('namespaces', 'Namespace', false, ['ns']), resource('nodes', 'Node', false, ['no']), resource('pods', 'Pod', true, ['po'])] },
  '/apis/apps/v1': { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: 'apps/v1', resources: [resource('daemonsets', 'DaemonSet', true, ['ds'])] },
};

function answer(f: KubeApiFixture, path: string, query: URLSearchParams): { code: number; body: object } {
  // kubectl builds that pick a client version per server ask /version first.
  if (path === '/version') return { code: 200, body: { major: '1', minor: '32', gitVersion: 'v1.32.3', gitCommit: '32cc146f75aad04beaaa245a7157eb35063a9f99', gitTreeState: 'clean', buildDate: '2025-03-11T19:52:21Z', goVersion: 'go1.23.6', compiler: 'gc', platform: 'linux/amd64' } };
  const discovered = DISCOVERY[path];
  if (discovered) return { code: 200, body: discovered };
  let m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(path);
  if (m) {
    const p = (f.pods as Meta[]).find((x) => x.metadata.namespace === m![1] && x.metadata.name === m![2]);
    return p ? { code: 200, body: p } : { code: 404, body: status404('pods', m[2]!) };
  }
  m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(path);
  if (m) {
    const sel = query.get('labelSelector') ?? '';
    const items = (f.pods as Meta[]).filter((x) => x.metadata.namespace === m![1] && (sel === '' || matches(x.metadata.labels ?? {}, sel)));
    return { code: 200, body: { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '48220' }, items } };
  }
  m = /^\/api\/v1\/nodes\/([^/]+)$/.exec(path);
  if (m) {
    const n = (f.nodes as Meta[]).find((x) => x.metadata.name === m![1]);
    return n ? { code: 200, body: n } : { code: 404, body: status404('nodes', m[1]!) };
  }
  return { code: 404, body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'the server could not find the requested resource', reason: 'NotFound', details: {}, code: 404 } };
}

export async function startKubeApi(fixture: KubeApiFixture, opts: { namespace?: string } = {}): Promise<KubeApi> {
  const dir = mkdtempSync(join(tmpdir(), 'ctrace-kubeapi-'));
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=kube-apiserver', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const token = randomBytes(16).toString('hex');
  let f = fixture;
  const requests: string[] = [];
  const server: Server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    url.searchParams.delete('timeout'); // kubectl's --request-timeout, on every request
    requests.push(url.pathname + url.search);
    const send = (code: number, body: object) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${token}`) return send(401, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
    if (req.method !== 'GET') return send(405, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'only GET is served here', reason: 'MethodNotAllowed', code: 405 });
    const a = answer(f, url.pathname, url.searchParams);
    send(a.code, a.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kubeconfig = join(dir, 'kubeconfig');
  const ca = readFileSync(cert).toString('base64');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: test',
      '  cluster:',
      `    server: ${url}`,
      `    certificate-authority-data: ${ca}`,
      'users:',
      '- name: tester',
      '  user:',
      `    token: ${token}`,
      'contexts:',
      '- name: test',
      '  context:',
      '    cluster: test',
      '    user: tester',
      ...(opts.namespace ? [`    namespace: ${opts.namespace}`] : []),
      'current-context: test',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return {
    url,
    kubeconfig,
    requests,
    set: (x) => void (f = x),
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
