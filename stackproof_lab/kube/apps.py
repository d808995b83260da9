"""apps/v1 DaemonSets as the API server returns them, built from the cluster's workloads.

Why: `kubectl drain --ignore-daemonsets` looks up the DaemonSet that owns each DaemonSet pod
(GET /apis/apps/v1/namespaces/{ns}/daemonsets/{name}) and refuses to drain ("cannot delete
... not found") when the owner is missing. Status counts come from the pods the stand-in
runs, the way the DaemonSet controller counts them.
"""
from __future__ import annotations

import copy

from stackproof_lab.kube.objects import rfc3339

# labels the controller adds to pods, not part of the DaemonSet's selector
POD_ONLY_LABELS = ("controller-revision-hash", "pod-template-generation")


def selector_labels(labels: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k not in POD_ONLY_LABELS}


def daemonset_object(w, *, created: float, rv: str, desired: int, current: int,
                     ready: int, item: bool = False) -> dict:
    """`w` is a workloads.Workload of kind DaemonSet."""
    sel = selector_labels(w.labels)
    pod_spec: dict = {"containers": copy.deepcopy(w.containers)}
    if w.volumes:
        pod_spec["volumes"] = copy.deepcopy(w.volumes)
    pod_spec.update({"restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
                     "dnsPolicy": "ClusterFirst", "serviceAccountName": w.name,
                     "serviceAccount": w.name, "securityContext": {},
                     "schedulerName": "default-scheduler",
                     # the template's own tolerations; the controller adds the rest to pods
                     "tolerations": copy.deepcopy(w.tolerations[:1])})
    if w.host_network:
        pod_spec["hostNetwork"] = True
    if w.priority_class:
        pod_spec["priorityClassName"] = w.priority_class
    body = {"kind": "DaemonSet", "apiVersion": "apps/v1",
            "metadata": {"name": w.name, "namespace": w.namespace, "uid": w.uid,
                         "resourceVersion": rv, "generation": 1,
                         "creationTimestamp": rfc3339(created),
                         "labels": dict(sel),
                         "annotations": {"deprecated.daemonset.template.generation": "1"}},
            "spec": {"selector": {"matchLabels": dict(sel)},
                     "template": {"metadata": {"creationTimestamp": None,
                                               "labels": dict(sel)},
                                  "spec": pod_spec},
                     "updateStrategy": {"type": "RollingUpdate",
                                        "rollingUpdate": {"maxUnavailable": 1,
                                                          "maxSurge": 0}},
                     "revisionHistoryLimit": 10},
            "status": {"currentNumberScheduled": current, "numberMisscheduled": 0,
                       "desiredNumberScheduled": desired, "numberReady": ready,
                       "observedGeneration": 1, "updatedNumberScheduled": current,
                       "numberAvailable": ready}}
    if desired - ready:
        body["status"]["numberUnavailable"] = desired - ready
    if item:
        del body["kind"], body["apiVersion"]
    return body


def _containers(ds: dict) -> tuple[str, str]:
    cs = ds["spec"]["template"]["spec"]["containers"]
    return ",".join(c["name"] for c in cs), ",".join(c["image"] for c in cs)


def daemonset_cells(ds: dict, now: float) -> list:
    from stackproof_lab.kube.tables import NONE, age
    st = ds["status"]
    sel = ds["spec"]["template"]["spec"].get("nodeSelector") or {}
    names, images = _containers(ds)
    match = ",".join(f"{k}={v}" for k, v in sorted(ds["spec"]["selector"]
                                                    .get("matchLabels", {}).items()))
    return [ds["metadata"]["name"], st["desiredNumberScheduled"],
            st["currentNumberScheduled"], st["numberReady"], st["updatedNumberScheduled"],
            st["numberAvailable"],
            ",".join(f"{k}={v}" for k, v in sorted(sel.items())) or NONE,
            age(ds["metadata"].get("creationTimestamp"), now), names, images, match]
