// The Kubernetes run options: `-c pod/NAME[/CONTAINER]`, `-l key=value --kube`, -n, --kubeconfig,
// --context, --node-map. Parsed apart from the other run options so that those stay as they are:
// a run either names Kubernetes pods (and then its hosts are the pods' nodes) or it does not.

import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { isPodRef, kubeLabelProblem, namespaceProblem, parseNodeMap, parsePodRef, type KubeRequest, type PodRef } from '../runner/targets/kube.js';
import type { RunFlags } from './run-options.js';

export function addKubeOptions(cmd: Command): Command {
  return cmd
    .option('--kube', 'with -l: select Kubernetes pods by label (-c pod/NAME[/CONTAINER] needs no --kube)', false)
    .option('-n, --namespace <ns>', "the pods' namespace (default: the kubeconfig context's)")
    .option('--kubeconfig <file>', 'kubeconfig for the Kubernetes API (default: as kubectl finds it)')
    .option('--context <name>', 'kubeconfig context to use')
    .option('--node-map <file>', "lines 'NODE HOST': the SSH host for each node (default: the node's InternalIP)");
}

export type KubeFlags = { kube: KubeRequest } | { kube: null } | { error: string };

/** Splits the Kubernetes selectors off the flags; an error sentence (exit 2) for a wrong combination. */
export function kubeFrom(o: RunFlags): KubeFlags {
  const containers = (o.container as string[] | undefined) ?? [];
  const labels = (o.label as string[] | undefined) ?? [];
  const podArgs = containers.filter(isPodRef);
  const asKube = podArgs.length > 0 || o.kube === true;
  const kubeOnly = (['namespace', 'kubeconfig', 'context', 'nodeMap'] as const).find((k) => o[k] !== undefined);
  if (!asKube) {
    if (kubeOnly === undefined) return { kube: null };
    const flag = { namespace: '-n', kubeconfig: '--kubeconfig', context: '--context', nodeMap: '--node-map' }[kubeOnly];
    return { error: `${flag} applies to Kubernetes targets: name a pod with -c pod/NAME, or select pods with -l KEY=VALUE --kube` };
  }
  const plain = containers.find((c) => !isPodRef(c));
  if (plain !== undefined) return { error: `-c ${plain} is not a pod: with Kubernetes targets, name each container as pod/NAME/CONTAINER` };
  if (((o.pid as string[] | undefined) ?? []).length) return { error: '-p cannot be used with Kubernetes targets' };
  if (((o.host as string[] | undefined) ?? []).length || o.hosts !== undefined) return { error: "--host cannot be used with Kubernetes targets: each pod's node is reached through its own host (map nodes to hosts with --node-map)" };
  if (o.bpftrace !== undefined) return { error: "--bpftrace cannot be used with Kubernetes targets: each node's helper uses its own bpftrace" };
  if (o.emit !== undefined) return { error: '--emit cannot be used with Kubernetes targets: each node compiles the program for its own containers' };
  if (o.kube === true && labels.length === 0 && podArgs.length === 0) return { error: '--kube selects pods by label: give -l KEY=VALUE' };
  if (o.kube !== true && labels.length > 0) return { error: '-l selects local containers; add --kube to select Kubernetes pods by label' };

  const pods: PodRef[] = [];
  for (const a of podArgs) {
    const ref = parsePodRef(a);
    if (typeof ref === 'string') return { error: ref };
    pods.push(ref);
  }
  for (const l of labels) {
    const bad = kubeLabelProblem(l);
    if (bad !== null) return { error: bad };
  }
  const ns = o.namespace as string | undefined;
  const badNs = ns !== undefined ? namespaceProblem(ns) : null;
  if (badNs !== null) return { error: badNs };
  let nodeMap: Map<string, string> | null = null;
  const mapFile = o.nodeMap as string | undefined;
  if (mapFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(mapFile, 'utf8');
    } catch (e) {
      return { error: `cannot read --node-map ${mapFile}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}` };
    }
    const parsed = parseNodeMap(text, mapFile);
    if (typeof parsed === 'string') return { error: parsed };
    nodeMap = parsed;
  }
  return {
    kube: {
      pods,
      labels,
      ...(ns !== undefined ? { namespace: ns } : {}),
      ...(typeof o.kubeconfig === 'string' ? { kubeconfig: o.kubeconfig } : {}),
      ...(typeof o.context === 'string' ? { context: o.context } : {}),
      nodeMap,
      ...(mapFile !== undefined ? { nodeMapFile: mapFile } : {}),
    },
  };
}
