"""Kubernetes manifests rendered from the topology (`shopnet k8s`); nothing here talks to a cluster.

objects.py    names, labels, selectors: what every manifest shares
workloads.py  Deployments (our services), StatefulSets (PostgreSQL with its claim,
              Redis), Services, probes, resources, least-privilege security contexts
policies.py   NetworkPolicies: default deny, DNS, and exactly the topology's flows
secrets.py    the generated database password, only ever in a 0600 file
render.py     `render(topology, …)` → the manifest set; `write()` into a directory
"""

from shopnet_k8s.render import DEFAULT_NAMESPACE, Manifests, render, write

__all__ = ["DEFAULT_NAMESPACE", "Manifests", "render", "write"]
