#!/usr/bin/env python3
"""Writes a generated mesh as Kubernetes YAML, for timing `mutual check tls` on real files.

The same shape as bench/check_bench.cc builds in memory: 20 namespaces, 150 Services (200
Service ports), 1,000 Deployments (two versions behind each Service, 700 clients only; every
20th without a sidecar, every 50th skipping outbound port 9090), and 200 policies: 61
PeerAuthentications (mesh, namespace, workload with port entries), 60 DestinationRules (root
`*.local`, namespace wildcards, host rules with port-level settings, 10 with a
workloadSelector) and 79 AuthorizationPolicies (ALLOW and DENY).

    bench/gen_mesh.py > /tmp/mesh.yaml
    /usr/bin/time -v mutual check tls -f /tmp/mesh.yaml > /dev/null

Scale with --workloads/--services/--namespaces (policies scale along; see --help).
"""

import argparse
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--namespaces", type=int, default=20)
    ap.add_argument("--services", type=int, default=150)
    ap.add_argument("--workloads", type=int, default=1000)
    ap.add_argument("--policies", type=int, default=200,
                    help="total policies; AuthorizationPolicies fill up to this number")
    args = ap.parse_args()
    nns, nsvc, nwl = args.namespaces, args.services, args.workloads
    out = sys.stdout
    docs = []

    def ns(i: int) -> str:
        return f"ns-{i % nns}"

    def svc(i: int) -> str:
        return f"svc-{i}"

    def ts(i: int) -> str:
        return f"2026-01-{1 + i % 28:02d}T{i % 24:02d}:00:00Z"

    def meta(name: str, namespace: str, i: int) -> str:
        return (f"metadata:\n  name: {name}\n  namespace: {namespace}\n"
                f"  creationTimestamp: \"{ts(i)}\"\n")

    docs.append("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: istio\n"
                "  namespace: istio-system\ndata:\n  mesh: |-\n    rootNamespace: istio-system\n"
                "    trustDomain: cluster.local\n    enableAutoMtls: true\n")

    for i in range(nsvc):
        ports = "    - name: http\n      port: 80\n      targetPort: 8080\n"
        if i % 3 == 0:
            ports += "    - name: grpc\n      port: 9090\n"
        docs.append(f"apiVersion: v1\nkind: Service\n{meta(svc(i), ns(i), i)}"
                    f"spec:\n  selector:\n    app: {svc(i)}\n  ports:\n{ports}")

    backends = nsvc * 2
    for j in range(nwl):
        if j < backends:
            s = j // 2
            version = f"v{j % 2 + 1}"
            name, namespace = f"{svc(s)}-{version}", ns(s)
            labels = {"app": svc(s), "version": version}
        else:
            name, namespace = f"client-{j}", ns(j)
            labels = {"app": name, "tier": "batch" if j % 2 else "web"}
        annotations = {}
        if j % 20 == 7:
            annotations["sidecar.istio.io/inject"] = "false"
        if j % 50 == 3:
            annotations["config.linkerd.io/skip-outbound-ports"] = "9090"
        label_text = "".join(f"        {k}: {v}\n" for k, v in labels.items())
        ann_text = ""
        if annotations:
            ann_text = "      annotations:\n" + "".join(
                f"        {k}: \"{v}\"\n" for k, v in annotations.items())
        docs.append(
            f"apiVersion: apps/v1\nkind: Deployment\n{meta(name, namespace, j)}"
            f"spec:\n  selector:\n    matchLabels:\n      app: {labels['app']}\n"
            f"  template:\n    metadata:\n      labels:\n{label_text}{ann_text}"
            f"    spec:\n      serviceAccountName: {name}\n      containers:\n"
            f"        - name: app\n          image: example/app:1\n          ports:\n"
            f"            - name: http\n              containerPort: 8080\n"
            f"            - name: grpc\n              containerPort: 9090\n")

    n = 0

    def pa(name, namespace, mode, selector=None, ports=None):
        nonlocal n
        text = (f"apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
                f"{meta(name, namespace, n)}spec:\n")
        n += 1
        if selector:
            text += "  selector:\n    matchLabels:\n" + "".join(
                f"      {k}: {v}\n" for k, v in selector.items())
        if mode:
            text += f"  mtls:\n    mode: {mode}\n"
        if ports:
            text += "  portLevelMtls:\n" + "".join(
                f"    {p}:\n      mode: {m}\n" for p, m in ports.items())
        docs.append(text)

    pa("default", "istio-system", "STRICT")
    ns_modes = ["PERMISSIVE", "STRICT", None, "DISABLE"]
    for i in range(nns):
        pa("default", ns(i), ns_modes[i % 4])
    for i in range(40):
        s = i * 3 + 1
        ports = {9090: "DISABLE"}
        if i % 4 == 0:
            ports[8080] = "PERMISSIVE"
        pa(svc(s), ns(s), "STRICT" if i % 2 else None, {"app": svc(s)}, ports)

    def dr(name, namespace, host, mode, port_level=None, selector=None):
        nonlocal n
        text = (f"apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                f"{meta(name, namespace, n)}spec:\n  host: \"{host}\"\n")
        n += 1
        if selector:
            text += "  workloadSelector:\n    matchLabels:\n" + "".join(
                f"      {k}: {v}\n" for k, v in selector.items())
        text += f"  trafficPolicy:\n    tls:\n      mode: {mode}\n"
        if port_level:
            text += "    portLevelSettings:\n" + "".join(
                f"      - port:\n          number: {p}\n        tls:\n          mode: {m}\n"
                for p, m in port_level.items())
        docs.append(text)

    dr("default", "istio-system", "*.local", "ISTIO_MUTUAL")
    for i in range(0, nns, 2):
        dr("namespace-default", ns(i), f"*.{ns(i)}.svc.cluster.local",
           "DISABLE" if i % 5 == 0 else "ISTIO_MUTUAL")
    for i in range(49):
        s = i * 3 + 1
        dr(f"{svc(s)}-dr", ns(s + i % 3), f"{svc(s)}.{ns(s)}.svc.cluster.local", "ISTIO_MUTUAL",
           {9090: "DISABLE"}, {"tier": "batch"} if i % 5 == 0 else None)

    def authz(name, namespace, action, selector, rules):
        nonlocal n
        text = (f"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
                f"{meta(name, namespace, n)}spec:\n")
        n += 1
        if selector:
            text += "  selector:\n    matchLabels:\n" + "".join(
                f"      {k}: {v}\n" for k, v in selector.items())
        text += f"  action: {action}\n  rules:\n{rules}"
        docs.append(text)

    authz("deny-quarantine", "istio-system", "DENY", None,
          "    - from:\n        - source:\n            namespaces: [\"quarantine\"]\n")
    i = 0
    while n < args.policies:
        s = (i * 7) % nsvc
        if i % 7 == 6:
            authz(f"{svc(s)}-deny", ns(s), "DENY", {"app": svc(s)},
                  f"    - from:\n        - source:\n            namespaces: [\"{ns(s + 1)}\"]\n")
        else:
            authz(f"{svc(s)}-allow", ns(s), "ALLOW", {"app": svc(s)},
                  "    - from:\n"
                  "        - source:\n"
                  f"            principals: [\"cluster.local/ns/{ns(s)}/sa/*\"]\n"
                  f"            namespaces: [\"{ns(s + 2)}\", \"{ns(s + 3)}\"]\n"
                  "        - source:\n            principals: [\"*\"]\n"
                  "      to:\n        - operation:\n            ports: [\"8080\"]\n"
                  "    - to:\n        - operation:\n            ports: [\"9090\"]\n")
        i += 1

    out.write("---\n".join(docs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
