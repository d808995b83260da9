"""The lab's Kubernetes API: a small, protocol-faithful stand-in for kube-apiserver.

Why a stand-in: no API server can be installed on the lab machine (no kube-apiserver, k3s
or kind package, no container runtime or Docker daemon, no systemd to run a kubelet), yet
the suite must talk to Kubernetes exactly as it does in production: through the official
`kubernetes` Python client and a kubeconfig. So the lab serves the part of the API the
suite and a drain use, on 127.0.0.1 (a free port per lab), and makes node status follow the
lab hosts the way kubelet decides it. It is the lab's one stand-in; every other layer runs
the real daemon.

What is faithful:
- the wire format: complete v1 Node/Pod and policy/v1 PodDisruptionBudget objects (every
  nodeInfo field, conditions with reasons, messages and times, typed addresses, capacity
  and allocatable), list kinds with resourceVersion, `Status` errors with the API server's
  reasons and messages (404 NotFound, 400 BadRequest, 401, 405, 409 Conflict, 415, 422
  Invalid, 429 TooManyRequests), label and field selectors, limit/continue;
- PATCH of nodes with strategic-merge, merge and JSON patch; status changes through the
  main resource ignored; the node lifecycle controller's taints (unschedulable, not-ready,
  unreachable) kept in step;
- pods on nodes: DaemonSet pods (kube-proxy, flannel), mirror pods of the control plane,
  Deployments (CoreDNS; `web` with an emptyDir volume and a PodDisruptionBudget), with a
  scheduler that honours cordons and taints, ReplicaSets that replace evicted pods and
  DaemonSets that recreate deleted ones;
- the policy/v1 Eviction subresource: 201 Status on success, 429 with the
  `DisruptionBudget` cause while a budget allows no disruption;
- node status from the lab (`kubelet.py`): INTERNAL-IP is the node-ip kubelet was given
  (kubeadm-flags.env / the JoinConfiguration) or the address it would pick itself; Ready
  only while a given node-ip is on one of the host's interfaces, else kubelet's
  `failed to validate nodeIP: node IP: "<ip>" not found in the host's network interfaces`;
  Unknown when the host is gone.

- what the real kubectl needs (`get nodes -o wide`, `describe node`, `cordon`, `uncordon`,
  `drain`, `get pods -A -o wide`, from Debian's 1.20 to 1.33): https with a per-lab CA
  (kubectl sends a token over https only), discovery in both forms, server-side Tables,
  node events and leases, and the DaemonSets drain looks up.

What is not: watches, server-side apply, protobuf/CBOR, OpenAPI (a 404: `kubectl explain`
fails as against a server without it), other resources, RBAC (one bearer token),
admission beyond what is listed, NoExecute evictions after tolerationSeconds;
timings are lab-short (a replacement pod is Ready after ~1 s, a deleted pod gone after
~0.5 s).

Modules: selectors (label/field selectors), patch (the three patch types), objects (wire
objects and Status), workloads (what runs on the cluster), kubelet (kubelet's view of a lab
host), cluster (state and controllers), events (kubelet's node events), apps (DaemonSets),
discovery, negotiate (Accept), tables (server-side printing), tls (the lab's CA), server
(HTTPS), hook (`kube_hook(lab, site)`).
"""
