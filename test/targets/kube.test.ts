// Kubernetes targets: selector parsing and the pod -> container -> node -> host rules (pure),
// then the whole resolution through the real kubectl against a served API (test/support/kube-api.ts:
// HTTPS with its own CA and a bearer token; no kube-apiserver can run here), and the CLI's
// one-sentence errors and exit codes.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { kubeLabelProblem, nodeAddress, parseNodeMap, parsePodRef, placePod, resolveKube, type KubeRequest } from '../../src/runner/targets/kube.js';
import { kubectlApi } from '../../src/runner/targets/kubectl.js';
import { node, pod, startKubeApi, type KubeApi } from '../support/kube-api.js';
import { captureStreams } from '../support/streams.js';

const id = (c: string) => c.repeat(64);
const ID = { a: id('a'), b: id('b'), c: id('c'), d: id('d') };

const web1 = pod({ name: 'web-7c9d8-x2k4q', namespace: 'shop', node: 'node-a', labels: { app: 'web' }, containers: { app: `containerd://${ID.a}` } });
const web2 = pod({ name: 'web-7c9d8-p9zt7', namespace: 'shop', node: 'node-b', labels: { app: 'web' }, containers: { app: `containerd://${ID.b}` } });
const sidecar = pod({ name: 'api-5f6d-qq7wd', namespace: 'shop', node: 'node-a', labels: { app: 'api' }, containers: { api: `containerd://${ID.c}`, 'istio-proxy': `containerd://${ID.d}` } });
const crashing = pod({ name: 'cart-6b7c-zz1aa', namespace: 'shop', node: 'node-b', labels: { app: 'cart' }, containers: { cart: null } });
const nodes = [node('node-a', '192.0.2.11'), node('node-b', '192.0.2.12')];

describe('selectors', () => {
  it('parses pod/NAME and pod/NAME/CONTAINER, and says what is wrong with the rest', () => {
    expect(parsePodRef('pod/web-1')).toEqual({ name: 'web-1' });
    expect(parsePodRef('pod/web-1/app')).toEqual({ name: 'web-1', container: 'app' });
    expect(parsePodRef('pod/')).toMatch(/does not name a pod/);
    expect(parsePodRef('pod/Web')).toMatch(/does not name a pod/);
    expect(parsePodRef('pod/web/a/b')).toMatch(/use pod\/NAME or pod\/NAME\/CONTAINER/);
    expect(parsePodRef('pod/web/$(id)')).toMatch(/does not name a container/);
  });

  it('accepts the label selectors the API does', () => {
    expect(kubeLabelProblem('app=web')).toBeNull();
    expect(kubeLabelProblem('app.kubernetes.io/name=web')).toBeNull();
    expect(kubeLabelProblem('tier')).toBeNull();
    expect(kubeLabelProblem('app=web,tier=x')).toMatch(/not a valid Kubernetes label selector/);
    expect(kubeLabelProblem('app=we b')).toMatch(/not a valid/);
  });

  it('reads a node map', () => {
    expect(parseNodeMap('# nodes\nnode-a root@10.0.0.7\nnode-b  web2 # alias\n', 'm')).toEqual(new Map([['node-a', 'root@10.0.0.7'], ['node-b', 'web2']]));
    expect(parseNodeMap('node-a\n', 'm')).toBe("m:1: expected a node name and a host, as in 'node-1 root@10.0.0.7'");
    expect(parseNodeMap('# none\n', 'm')).toBe('m maps no node to a host');
  });
});

describe('which container of a pod', () => {
  it('the only one, the one named, or the default-container annotation', () => {
    expect(placePod(web1, undefined)).toEqual({ ok: true, value: { namespace: 'shop', pod: 'web-7c9d8-x2k4q', container: 'app', node: 'node-a', runtime: 'containerd', id: ID.a } });
    expect(placePod(sidecar, 'istio-proxy')).toMatchObject({ ok: true, value: { container: 'istio-proxy', id: ID.d } });
    const annotated = pod({ name: 'api-1', namespace: 'shop', node: 'node-a', containers: { api: `cri-o://${ID.c}`, log: `cri-o://${ID.d}` }, annotations: { 'kubectl.kubernetes.io/default-container': 'api' } });
    expect(placePod(annotated, undefined)).toMatchObject({ ok: true, value: { container: 'api', runtime: 'cri-o', id: ID.c } });
  });

  it('refuses with one sentence: ambiguous, missing, not running, unscheduled, unusable id', () => {
    expect(placePod(sidecar, undefined)).toEqual({ ok: false, message: 'pod shop/api-5f6d-qq7wd has 2 containers (api, istio-proxy): name one, as pod/api-5f6d-qq7wd/api' });
    expect(placePod(sidecar, 'db')).toEqual({ ok: false, message: "pod shop/api-5f6d-qq7wd has no container 'db' (its containers: api, istio-proxy)" });
    expect(placePod(crashing, undefined)).toEqual({ ok: false, message: "container 'cart' of pod shop/cart-6b7c-zz1aa is not running (waiting: CrashLoopBackOff)" });
    const pending = { ...web1, spec: { ...(web1 as { spec: object }).spec, nodeName: undefined }, status: { phase: 'Pending' } };
    expect(placePod(pending, undefined)).toEqual({ ok: false, message: 'pod shop/web-7c9d8-x2k4q is not scheduled on a node yet (phase: Pending)' });
    const odd = pod({ name: 'w-1', namespace: 'shop', node: 'n', containers: { app: 'rkt://1234' } });
    expect(placePod(odd, undefined)).toEqual({ ok: false, message: `container 'app' of pod shop/w-1 has a container id trace cannot use: "rkt://1234"` });
  });

  it("a node's InternalIP, IPv4 first", () => {
    expect(nodeAddress(node('n', '192.0.2.11'))).toBe('192.0.2.11');
    expect(nodeAddress({ status: { addresses: [{ type: 'InternalIP', address: 'fd00::7' }, { type: 'InternalIP', address: '192.0.2.7' }] } })).toBe('192.0.2.7');
    expect(nodeAddress(node('n', null))).toBeNull();
  });
});

describe('resolution through kubectl, against the served API', () => {
  let api: KubeApi;
  const req = (r: Partial<KubeRequest>): KubeRequest => ({ pods: [], labels: [], nodeMap: null, namespace: 'shop', ...r });
  const client = () => kubectlApi({ kubeconfig: api.kubeconfig });
  beforeAll(async () => {
    api = await startKubeApi({ pods: [web1, web2, sidecar, crashing], nodes }, { namespace: 'shop' });
  });
  afterAll(() => api.stop());

  it('a pod by name: its container id, its node, and the node reached at its InternalIP', async () => {
    api.requests.length = 0;
    const r = await resolveKube(req({ pods: [{ name: 'web-7c9d8-x2k4q' }] }), client());
    expect(r).toEqual({ ok: true, nodes: [{ node: 'node-a', host: '192.0.2.11', placements: [{ namespace: 'shop', pod: 'web-7c9d8-x2k4q', container: 'app', node: 'node-a', runtime: 'containerd', id: ID.a }] }] });
    expect(api.requests.filter((p) => p.startsWith('/api/'))).toEqual(['/api/v1/namespaces/shop/pods/web-7c9d8-x2k4q', '/api/v1/nodes/node-a']);
  });

  it('pods by label, one node each, the namespace taken from the kubeconfig context', async () => {
    api.requests.length = 0;
    const r = await resolveKube({ pods: [], labels: ['app=web'], nodeMap: null }, client());
    expect(r.ok && r.nodes.map((n) => [n.node, n.host, n.placements.map((p) => p.id)])).toEqual([
      ['node-a', '192.0.2.11', [ID.a]],
      ['node-b', '192.0.2.12', [ID.b]],
    ]);
    expect(api.requests).toContain('/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb');
  });

  it('a node map instead of InternalIPs; a node missing from it is an error', async () => {
    const map = new Map([['node-a', 'web1']]);
    const r = await resolveKube(req({ pods: [{ name: 'web-7c9d8-x2k4q' }], nodeMap: map, nodeMapFile: 'nodes.txt' }), client());
    expect(r.ok && r.nodes[0]!.host).toBe('web1');
    const missing = await resolveKube(req({ labels: ['app=web'], nodeMap: map, nodeMapFile: 'nodes.txt' }), client());
    expect(missing).toEqual({ ok: false, message: "node node-b is not in the node map nodes.txt: add a line 'node-b HOST'" });
  });

  it('two containers of one node go to that node together', async () => {
    const r = await resolveKube(req({ pods: [{ name: 'web-7c9d8-x2k4q' }, { name: 'api-5f6d-qq7wd', container: 'api' }] }), client());
    expect(r.ok && r.nodes.map((n) => [n.node, n.placements.map((p) => p.id)])).toEqual([['node-a', [ID.a, ID.c]]]);
  });

  it('not found, not running, no match: one sentence each', async () => {
    expect(await resolveKube(req({ pods: [{ name: 'nope' }] }), client())).toEqual({ ok: false, message: "no pod named 'nope' in namespace shop" });
    expect(await resolveKube(req({ pods: [{ name: 'cart-6b7c-zz1aa' }] }), client())).toEqual({ ok: false, message: "container 'cart' of pod shop/cart-6b7c-zz1aa is not running (waiting: CrashLoopBackOff)" });
    expect(await resolveKube(req({ labels: ['app=none'] }), client())).toEqual({ ok: false, message: 'no running pod in namespace shop has the label app=none' });
    api.set({ pods: [web1], nodes: [] });
    expect(await resolveKube(req({ pods: [{ name: 'web-7c9d8-x2k4q' }] }), client())).toEqual({ ok: false, message: 'node node-a was not found in the Kubernetes API' });
    api.set({ pods: [web1, web2, sidecar, crashing], nodes });
  });

  it('a wrong token and an API that does not answer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctrace-kube-test-'));
    try {
      const { readFileSync } = await import('node:fs');
      const bad = join(dir, 'bad-token');
      writeFileSync(bad, readFileSync(api.kubeconfig, 'utf8').replace(/token: .*/, 'token: wrong'));
      const r = await resolveKube(req({ pods: [{ name: 'web-7c9d8-x2k4q' }] }), kubectlApi({ kubeconfig: bad }));
      expect(r).toEqual({ ok: false, message: expect.stringMatching(/^cannot read the Kubernetes API: .*Unauthorized/) });
      const gone = join(dir, 'gone');
      writeFileSync(gone, readFileSync(api.kubeconfig, 'utf8').replace(/server: .*/, 'server: https://127.0.0.1:1'));
      const g = await resolveKube(req({ pods: [{ name: 'web-7c9d8-x2k4q' }] }), kubectlApi({ kubeconfig: gone }));
      expect(g).toEqual({ ok: false, message: expect.stringMatching(/^cannot read the Kubernetes API: .*127\.0\.0\.1:1.*refused/) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the CLI: a resolution failure is exit 1, a malformed selector or combination exit 2, one line each', async () => {
    const run = async (...args: string[]) => {
      const c = captureStreams();
      const code = await main(['node', 'trace', ...args], c.io);
      return { code, err: c.err() };
    };
    const prog = 'uprobe:main.vote { @ = count(); }';
    const cases: [string[], number, string][] = [
      [['-c', 'pod/nope', '--kubeconfig', api.kubeconfig, prog], 1, "trace: no pod named 'nope' in namespace shop\n"],
      [['-c', 'pod/api-5f6d-qq7wd', '--kubeconfig', api.kubeconfig, prog], 1, 'trace: pod shop/api-5f6d-qq7wd has 2 containers (api, istio-proxy): name one, as pod/api-5f6d-qq7wd/api\n'],
      [['-c', 'pod/a/b/c', prog], 2, 'trace: "pod/a/b/c" is not a pod selector: use pod/NAME or pod/NAME/CONTAINER\n'],
      [['-c', 'pod/web', '-n', 'Shop', prog], 2, 'trace: "Shop" is not a namespace name: lower-case letters, digits and \'-\', at most 63\n'],
      [['-l', 'app=web', '-n', 'shop', prog], 2, 'trace: -n applies to Kubernetes targets: name a pod with -c pod/NAME, or select pods with -l KEY=VALUE --kube\n'],
      [['-c', 'pod/web', '-H', 'web1', prog], 2, "trace: --host cannot be used with Kubernetes targets: each pod's node is reached through its own host (map nodes to hosts with --node-map)\n"],
      [['--kube', prog], 2, 'trace: --kube selects pods by label: give -l KEY=VALUE\n'],
      [['-c', 'pod/web', '--node-map', '/nonexistent/map', prog], 2, 'trace: cannot read --node-map /nonexistent/map: no such file\n'],
    ];
    for (const [args, code, err] of cases) expect(await run(...args), args.join(' ')).toEqual({ code, err });
  });
});
