"""Rendered Kubernetes workloads, started on Docker the way a kubelet would start them.

No cluster can be installed here (field notes: no kind, k3s or kubelet; podman 4.3's
`kube play` rejects `fieldRef: status.podIP` and StatefulSets). What can be run for
real is each pod's container with exactly the manifest's image, args, env, secret
files and securityContext. What a kubelet fills in is filled the same way:

- the pod IP: a fixed address on one bridge, known before start, for `status.podIP`;
- `$(VAR)` in env values: expanded from the variables listed before it (`$$` escapes);
- Services: each pod gets the names of the Services that select it as network aliases,
  so `postgres:5432` resolves as cluster DNS would (one address per pod, no kube-proxy);
- Secret volumes: the Secret's keys as files, `defaultMode`, owner root and group
  fsGroup, mounted read-only; emptyDir: an empty 0777 host directory, as the kubelet
  makes one (not Docker's tmpfs, which copies the image's directory up); a claim: a
  host directory owned by fsGroup, setgid (what fsGroup does to a volume);
- securityContext: `--user uid:gid`, fsGroup as a supplementary group, a read-only
  root, `--cap-drop ALL`, no-new-privileges; RuntimeDefault seccomp is Docker's own
  default profile; limits as `--cpus`/`--memory`; no service-account token mounted.

Probes run as the kubelet runs them: `exec` inside the container, `httpGet` to the
pod IP. What this does not do is in docs/kubernetes.md.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

from shopnet_docker.engine import Docker

LABEL = "io.shopnet.k8s-test"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand(value: str, known: dict[str, str]) -> str:
    """Kubernetes' dependent-variable expansion: `$(NAME)` of a variable defined before,
    `$$` → `$`, anything else left as written."""

    def one(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        return known.get(match[1], match[0])

    return _VAR.sub(one, value)


@dataclass
class Pod:
    name: str
    workload: dict[str, Any]
    ip: str
    aliases: list[str]
    container_id: str = ""

    @property
    def spec(self) -> dict[str, Any]:
        return self.workload["spec"]["template"]["spec"]

    @property
    def container(self) -> dict[str, Any]:
        (container,) = self.spec["containers"]
        return container


@dataclass
class Kubelet:
    """Pods of one rendered manifest set on one Docker bridge, all labelled `tag`."""

    docker: Docker
    documents: list[dict[str, Any]]
    subnet: IPv4Network
    tag: str
    workdir: Path
    pods: dict[str, Pod] = field(default_factory=dict)

    @property
    def network(self) -> str:
        return f"{self.tag}-pods"

    def secrets(self) -> dict[str, dict[str, bytes]]:
        return {
            doc["metadata"]["name"]: {k: base64.b64decode(v) for k, v in doc["data"].items()}
            for doc in self.documents
            if doc["kind"] == "Secret"
        }

    def start_all(self) -> None:
        """Every workload's pods, in the manifests' order, each ready before the next."""
        labels = f"{LABEL}={self.tag}"
        self.docker.run("network", "create", "--subnet", str(self.subnet), "--label", labels,
                        self.network, what="creating the pod network")  # fmt: skip
        hosts = iter(list(self.subnet.hosts())[9:])
        services = [d for d in self.documents if d["kind"] == "Service"]
        for workload in (d for d in self.documents if d["kind"] in ("Deployment", "StatefulSet")):
            pod_labels = workload["spec"]["template"]["metadata"]["labels"]
            aliases = [
                s["metadata"]["name"]
                for s in services
                if s["spec"]["selector"].items() <= pod_labels.items()
            ]
            for n in range(workload["spec"]["replicas"]):
                name = f"{workload['metadata']['name']}-{n}"
                pod = Pod(name, workload, str(next(hosts)), aliases)
                self.pods[name] = pod
                self._run(pod)
                self.wait_ready(pod)

    def _run(self, pod: Pod) -> None:
        spec, container = pod.spec, pod.container
        security = spec["securityContext"]
        own = container["securityContext"]
        uid, gid = security["runAsUser"], security["runAsGroup"]
        assert uid != 0 and security["runAsNonRoot"] and own["runAsNonRoot"]
        argv = ["run", "-d", "--name", f"{self.tag}-{pod.name}", "--hostname", pod.name,
                "--label", f"{LABEL}={self.tag}", "--network", self.network, "--ip", pod.ip,
                "--user", f"{uid}:{gid}"]  # fmt: skip
        for alias in pod.aliases:
            argv += ["--network-alias", alias]
        if "fsGroup" in security:
            argv += ["--group-add", str(security["fsGroup"])]
        if own.get("readOnlyRootFilesystem"):
            argv.append("--read-only")
        if own.get("capabilities", {}).get("drop") == ["ALL"]:
            argv += ["--cap-drop", "ALL"]
        if own.get("allowPrivilegeEscalation") is False:
            argv += ["--security-opt", "no-new-privileges"]
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}  # Docker's default
        limits = container["resources"]["limits"]
        argv += ["--cpus", str(int(limits["cpu"].removesuffix("m")) / 1000)]
        argv += ["--memory", limits["memory"].replace("Mi", "m")]
        for key, value in self._environment(pod).items():
            argv += ["--env", f"{key}={value}"]  # a test's throwaway values only
        argv += self._volumes(pod)
        if "command" in container:
            argv += ["--entrypoint", container["command"][0]]
        argv.append(container["image"])
        argv += [*container.get("command", [])[1:], *container.get("args", [])]
        pod.container_id = self.docker.lines(*argv, what=f"starting {pod.name}")[-1]

    def _environment(self, pod: Pod) -> dict[str, str]:
        known: dict[str, str] = {}
        for item in pod.container.get("env", []):
            if "value" in item:
                known[item["name"]] = expand(item["value"], known)
            elif item["valueFrom"].get("fieldRef", {}).get("fieldPath") == "status.podIP":
                known[item["name"]] = pod.ip
            elif ref := item["valueFrom"].get("secretKeyRef"):
                known[item["name"]] = self.secrets()[ref["name"]][ref["key"]].decode()
            else:
                raise AssertionError(f"{pod.name}: no kubelet rule for {item}")
        return known

    def _volumes(self, pod: Pod) -> list[str]:
        spec, container = pod.spec, pod.container
        group = spec["securityContext"].get("fsGroup", 0)
        sources: dict[str, str] = {}
        for volume in spec["volumes"]:
            name = volume["name"]
            if "emptyDir" in volume:
                folder = self.workdir / pod.name / name
                folder.mkdir(parents=True)
                folder.chmod(0o777)
                sources[name] = str(folder)
            elif "secret" in volume:
                folder = self.workdir / pod.name / name
                folder.mkdir(parents=True)
                data = self.secrets()[volume["secret"]["secretName"]]
                for key, value in data.items():
                    path = folder / key
                    path.write_bytes(value)
                    os.chown(path, 0, group)
                    path.chmod(volume["secret"]["defaultMode"])
                folder.chmod(0o755)
                sources[name] = str(folder)
        for claim in pod.workload["spec"].get("volumeClaimTemplates", []):
            folder = self.workdir / pod.name / claim["metadata"]["name"]
            folder.mkdir(parents=True)
            os.chown(folder, 0, group)
            folder.chmod(0o2775)  # fsGroup: the group's, setgid, group-writable
            sources[claim["metadata"]["name"]] = str(folder)
        argv: list[str] = []
        for mount in container.get("volumeMounts", []):
            source, path = sources[mount["name"]], mount["mountPath"]
            read_only = ",readonly" if mount.get("readOnly") else ""
            argv += ["--mount", f"type=bind,source={source},target={path}{read_only}"]
        return argv

    def probe(self, pod: Pod, kind: str) -> bool:
        probe = pod.container.get(kind)
        if probe is None:
            return True
        if "exec" in probe:
            result = self.docker.run("exec", pod.container_id, *probe["exec"]["command"],
                                     what=f"{kind} of {pod.name}", check=False, timeout=10)  # fmt: skip
            return result.returncode == 0
        get = probe["httpGet"]
        try:
            url = f"http://{pod.ip}:{get['port']}{get['path']}"
            with _OPENER.open(url, timeout=3) as resp:
                return 200 <= resp.status < 400
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self, pod: Pod, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        for kind in ("startupProbe", "readinessProbe"):
            while not self.probe(pod, kind):
                running = self.docker.lines("inspect", "-f", "{{.State.Running}}", pod.container_id,
                                            what="inspecting")  # fmt: skip
                if running != ["true"] or time.monotonic() > deadline:
                    logs = self.docker.run("logs", "--tail", "30", pod.container_id,
                                           what="logs", check=False)  # fmt: skip
                    raise AssertionError(
                        f"{pod.name}: {kind} not passing\n{logs.stdout}{logs.stderr}"
                    )
                time.sleep(0.5)

    def stop_all(self) -> None:
        """Remove every container and the network of `tag`, whatever state they are in."""
        ours = self.docker.lines("ps", "-aq", "--filter", f"label={LABEL}={self.tag}",
                                 what="listing our pods")  # fmt: skip
        if ours:
            self.docker.run("rm", "-f", "-v", *ours, what="removing our pods", check=False)
        self.docker.run("network", "rm", self.network, what="removing the pod network",
                        check=False)  # fmt: skip
        shutil.rmtree(self.workdir, ignore_errors=True)
