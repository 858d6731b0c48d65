// Kubernetes targets: `-c pod/NAME[/CONTAINER] -n NS` and `-l key=value --kube`, asked of the
// Kubernetes API, become placements: which node runs which container (by its runtime id),
// and which SSH host reaches that node (a --node-map line, else the node's InternalIP). The
// run then goes to each node's helper with the container ids as its targets, so the node's
// own runtime (containerd, CRI-O, docker, podman) resolves them to PIDs and namespaces.

import type { KubeApi } from './kubectl.js';

export interface PodRef {
  readonly name: string;
  readonly container?: string;
}

export interface KubeRequest {
  /** -c pod/NAME[/CONTAINER]. */
  readonly pods: readonly PodRef[];
  /** -l key=value with --kube: every running pod with all of them. */
  readonly labels: readonly string[];
  /** -n NS (default: the kubeconfig context's namespace). */
  readonly namespace?: string;
  readonly kubeconfig?: string;
  readonly context?: string;
  /** --node-map FILE, read: node name -> host spec. Null: each node's InternalIP. */
  readonly nodeMap: ReadonlyMap<string, string> | null;
  /** Where the node map came from, for messages. */
  readonly nodeMapFile?: string;
}

/** One container to trace, where it runs. */
export interface Placement {
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  readonly node: string;
  /** The runtime named by the container id's scheme: containerd, cri-o, docker. */
  readonly runtime: string;
  /** The runtime's full container id (64 hex digits). */
  readonly id: string;
}

/** The containers of one node, and the SSH host (spec or ssh config alias) that reaches it. */
export interface NodeTargets {
  readonly node: string;
  readonly host: string;
  readonly placements: readonly Placement[];
}

export type KubeResult = { ok: true; nodes: NodeTargets[] } | { ok: false; message: string };

// The API's own name rules: DNS-1123 subdomains for pods and nodes, labels for namespaces and containers.
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const isSubdomain = (s: string) => s.length <= 253 && SUBDOMAIN.test(s);
const isLabel = (s: string) => s.length <= 63 && LABEL.test(s);
// Label selector terms: [prefix/]name[=value], as the API allows them.
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

export const POD_PREFIX = 'pod/';

export function isPodRef(s: string): boolean {
  return s.startsWith(POD_PREFIX);
}

/** `pod/NAME[/CONTAINER]` -> a PodRef, or the sentence saying what is wrong. */
export function parsePodRef(s: string): PodRef | string {
  const parts = s.slice(POD_PREFIX.length).split('/');
  const shown = JSON.stringify(s);
  if (parts.length > 2) return `${shown} is not a pod selector: use pod/NAME or pod/NAME/CONTAINER`;
  const [name = '', container] = parts;
  if (!isSubdomain(name)) return `${shown} does not name a pod: pod names are lower-case letters, digits, '-' and '.'`;
  if (container !== undefined && !isLabel(container)) return `${shown} does not name a container: container names are lower-case letters, digits and '-'`;
  return container !== undefined ? { name, container } : { name };
}

export function namespaceProblem(ns: string): string | null {
  return isLabel(ns) ? null : `${JSON.stringify(ns)} is not a namespace name: lower-case letters, digits and '-', at most 63`;
}

/** A label selector term the API would accept (`key=value` or `key`), or the sentence why not. */
export function kubeLabelProblem(term: string): string | null {
  const eq = term.indexOf('=');
  const key = eq < 0 ? term : term.slice(0, eq);
  const value = eq < 0 ? '' : term.slice(eq + 1);
  const slash = key.lastIndexOf('/');
  const prefixOk = slash < 0 || isSubdomain(key.slice(0, slash));
  if (!prefixOk || !LABEL_NAME.test(key.slice(slash + 1)) || !LABEL_VALUE.test(value)) {
    return `${JSON.stringify(term)} is not a valid Kubernetes label selector (expected key=value)`;
  }
  return null;
}

/** A --node-map file: `NODE HOST` per line, # comments. A sentence when it is malformed. */
export function parseNodeMap(text: string, file: string): Map<string, string> | string {
  const map = new Map<string, string>();
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const words = line.split(/\s+/);
    if (words.length !== 2 || !isSubdomain(words[0]!)) return `${file}:${i + 1}: expected a node name and a host, as in 'node-1 root@10.0.0.7'`;
    map.set(words[0]!, words[1]!);
  }
  return map.size ? map : `${file} maps no node to a host`;
}

// --- the API's answers -------------------------------------------------------------------

interface ContainerStatus {
  name?: string;
  containerID?: string;
  state?: { running?: object; waiting?: { reason?: string }; terminated?: { reason?: string } };
}

interface Pod {
  metadata?: { name?: string; namespace?: string; annotations?: Record<string, string> };
  spec?: { nodeName?: string; containers?: { name?: string }[] };
  status?: { phase?: string; containerStatuses?: ContainerStatus[] };
}

interface Node {
  status?: { addresses?: { type?: string; address?: string }[] };
}

const CONTAINER_ID = /^(containerd|cri-o|docker):\/\/([0-9a-f]{64})$/;
const DEFAULT_CONTAINER = 'kubectl.kubernetes.io/default-container';

type Step<T> = { ok: true; value: T } | { ok: false; message: string };

function stateWord(s: ContainerStatus): string {
  if (s.state?.waiting) return `waiting: ${s.state.waiting.reason ?? 'unknown reason'}`;
  if (s.state?.terminated) return `terminated: ${s.state.terminated.reason ?? 'unknown reason'}`;
  return 'no state reported';
}

/** The container to trace in one pod: the one named, the only one, or the pod's default container. */
export function placePod(pod: Pod, wanted: string | undefined): Step<Placement> {
  const namespace = pod.metadata?.namespace ?? '';
  const name = pod.metadata?.name ?? '';
  const where = `pod ${namespace}/${name}`;
  const names = (pod.spec?.containers ?? []).map((c) => c.name ?? '');
  let container = wanted;
  if (container === undefined) {
    const dflt = pod.metadata?.annotations?.[DEFAULT_CONTAINER];
    if (names.length === 1) container = names[0]!;
    else if (dflt !== undefined && names.includes(dflt)) container = dflt;
    else return { ok: false, message: `${where} has ${names.length} containers (${names.join(', ')}): name one, as pod/${name}/${names[0] ?? 'CONTAINER'}` };
  } else if (!names.includes(container)) {
    return { ok: false, message: `${where} has no container '${container}' (its containers: ${names.join(', ')})` };
  }
  const node = pod.spec?.nodeName ?? '';
  if (node === '') return { ok: false, message: `${where} is not scheduled on a node yet (phase: ${pod.status?.phase ?? 'unknown'})` };
  const status = (pod.status?.containerStatuses ?? []).find((s) => s.name === container);
  if (!status || !status.state?.running) return { ok: false, message: `container '${container}' of ${where} is not running (${status ? stateWord(status) : 'no status yet'})` };
  const m = CONTAINER_ID.exec(status.containerID ?? '');
  if (!m) return { ok: false, message: `container '${container}' of ${where} has a container id trace cannot use: ${JSON.stringify(status.containerID ?? '')}` };
  return { ok: true, value: { namespace, pod: name, container, node, runtime: m[1]!, id: m[2]! } };
}

/** The address to reach a node at: its InternalIP (IPv4 first), else null. */
export function nodeAddress(node: Node): string | null {
  const internal = (node.status?.addresses ?? []).filter((a) => a.type === 'InternalIP' && a.address).map((a) => a.address!);
  return internal.find((a) => !a.includes(':')) ?? internal[0] ?? null;
}

function asPod(body: unknown, ns: string, name: string): Step<Pod> {
  const p = body as Pod;
  if (typeof body !== 'object' || body === null || p.metadata?.name !== name) return { ok: false, message: `the Kubernetes API's answer for pod ${ns}/${name} is not a Pod` };
  return { ok: true, value: p };
}

// --- resolution --------------------------------------------------------------------------

const q = encodeURIComponent;

async function podsByName(api: KubeApi, ns: string, refs: readonly PodRef[]): Promise<Step<Placement[]>> {
  const out: Placement[] = [];
  for (const ref of refs) {
    const a = await api.get(`/api/v1/namespaces/${q(ns)}/pods/${q(ref.name)}`);
    if (a.status === 'notfound') return { ok: false, message: `no pod named '${ref.name}' in namespace ${ns}` };
    if (a.status === 'error') return { ok: false, message: a.message };
    const pod = asPod(a.body, ns, ref.name);
    if (!pod.ok) return pod;
    const placed = placePod(pod.value, ref.container);
    if (!placed.ok) return placed;
    out.push(placed.value);
  }
  return { ok: true, value: out };
}

async function podsByLabel(api: KubeApi, ns: string, labels: readonly string[]): Promise<Step<Placement[]>> {
  if (labels.length === 0) return { ok: true, value: [] };
  const a = await api.get(`/api/v1/namespaces/${q(ns)}/pods?labelSelector=${q(labels.join(','))}`);
  if (a.status === 'notfound') return { ok: false, message: `namespace ${ns} was not found` };
  if (a.status === 'error') return { ok: false, message: a.message };
  const items = (a.body as { items?: Pod[] } | null)?.items;
  if (!Array.isArray(items)) return { ok: false, message: `the Kubernetes API's answer for the pods of namespace ${ns} is not a PodList` };
  const running = items.filter((p) => p.status?.phase === 'Running');
  if (running.length === 0) return { ok: false, message: `no running pod in namespace ${ns} has ${labels.length > 1 ? 'the labels' : 'the label'} ${labels.join(',')}` };
  const out: Placement[] = [];
  for (const pod of running) {
    const placed = placePod(pod, undefined);
    if (!placed.ok) return placed;
    out.push(placed.value);
  }
  return { ok: true, value: out };
}

async function hostOf(api: KubeApi, node: string, req: KubeRequest): Promise<Step<string>> {
  if (req.nodeMap) {
    const host = req.nodeMap.get(node);
    return host !== undefined ? { ok: true, value: host } : { ok: false, message: `node ${node} is not in the node map${req.nodeMapFile ? ` ${req.nodeMapFile}` : ''}: add a line '${node} HOST'` };
  }
  const a = await api.get(`/api/v1/nodes/${q(node)}`);
  if (a.status === 'notfound') return { ok: false, message: `node ${node} was not found in the Kubernetes API` };
  if (a.status === 'error') return { ok: false, message: a.message };
  const addr = nodeAddress(a.body as Node);
  return addr !== null ? { ok: true, value: addr } : { ok: false, message: `node ${node} has no InternalIP address: map it to a host with --node-map` };
}

/** The request's pods -> their containers, grouped by node, each node with its SSH host. */
export async function resolveKube(req: KubeRequest, api: KubeApi): Promise<KubeResult> {
  const ns = req.namespace ?? (await api.contextNamespace());
  const named = await podsByName(api, ns, req.pods);
  if (!named.ok) return named;
  const labelled = await podsByLabel(api, ns, req.labels);
  if (!labelled.ok) return labelled;
  const byNode = new Map<string, Placement[]>();
  const seen = new Set<string>();
  for (const p of [...named.value, ...labelled.value]) {
    if (seen.has(p.id)) continue;
    seen.add(p.id);
    byNode.set(p.node, [...(byNode.get(p.node) ?? []), p]);
  }
  const nodes: NodeTargets[] = [];
  for (const [node, placements] of byNode) {
    const host = await hostOf(api, node, req);
    if (!host.ok) return host;
    nodes.push({ node, host: host.value, placements });
  }
  return { ok: true, nodes };
}
