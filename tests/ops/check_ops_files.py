#!/usr/bin/env python3
"""Checks the operations files in k8s/ and docker/ against each other and against the sources.

Run by check_ops_files.sh (ctest `ops_files`); promtool's checks are in the shell script. Without a
cluster or a Docker engine this is what can be checked: every file parses, the copies agree, the
dashboard and alerts use only metrics (and labels) the services export, the Dockerfile's package
lists match ./dev and the binary's shared libraries, the compose file and the Kubernetes manifests
are wired to the real CLI, configuration keys, consumer group and topic, and the configuration they
give each service passes `datarefresh check-config`.

Prints one line per failed check and exits 1 if any failed.
"""
import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import yaml

# The metrics datarefresh exports today and their labels (see consumer/, producer/). Histograms
# also export <name>_bucket (with le), _sum and _count.
METRIC_LABELS = {
    "datarefresh_bulk_bytes_total": {"media_type"},
    "datarefresh_bulk_items_retried_total": {"media_type"},
    "datarefresh_bulk_request_duration_seconds": {"media_type"},
    "datarefresh_bulk_requests_in_flight": {"media_type"},
    "datarefresh_documents_total": {"media_type", "outcome"},
    "datarefresh_events_folded_total": {"type", "changed"},
    "datarefresh_last_successful_refresh_timestamp_seconds": {"media_type"},
    "datarefresh_refresh_phase": {"media_type", "phase"},
    "datarefresh_refresh_progress_ratio": {"media_type"},
    "datarefresh_refresh_requests_total": {"media_type", "outcome"},
    "datarefresh_refreshes_total": {"media_type", "outcome"},
    "datarefresh_rows_streamed_total": {"media_type"},
    "datarefresh_shard_duration_seconds": {"media_type"},
    "datarefresh_shards": {"media_type", "state"},
    "datarefresh_shards_total": {"outcome"},
}
HISTOGRAMS = {"datarefresh_bulk_request_duration_seconds", "datarefresh_shard_duration_seconds"}
# From a Kafka exporter (kafka-exporter / Strimzi), not from datarefresh.
EXTERNAL_METRICS = {"kafka_consumergroup_lag": {"consumergroup", "topic", "partition"}}
# Labels Prometheus or the scrape configs add to every series.
TARGET_LABELS = {"job", "instance", "component", "pod", "namespace", "service", "container", "endpoint"}
PROMQL_KEYWORDS = {"and", "or", "unless", "offset", "bool", "by", "without", "on", "ignoring",
                   "group_left", "group_right", "inf", "nan", "atan2"}

# Packages of ./dev the image build does not need: tests, benchmarks, the dev stack's PostgreSQL
# server and client, and promtool and PyYAML (tests/ops).
DEV_ONLY_PACKAGES = {"libgtest-dev", "libgmock-dev", "libbenchmark-dev", "postgresql-15",
                     "postgresql-client-15", "prometheus", "python3-yaml"}
# In debian:12-slim already (essential or required by apt).
BASE_IMAGE_PACKAGES = {"libc6", "libstdc++6", "libgcc-s1"}
ROLES = ("planner", "coordinator", "indexer")
CONFIG_IN_IMAGE = "/etc/datarefresh/datarefresh.yaml"

failures = []


def fail(message):
    failures.append(message)
    print("FAIL: " + message)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


# ------------------------------------------------------------------------------------- parsing

def ops_files(root):
    for top in ("k8s", "docker"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for name in sorted(files):
                yield os.path.join(dirpath, name)


def check_parse(root):
    docs = {}
    for path in ops_files(root):
        rel = os.path.relpath(path, root)
        try:
            if path.endswith((".yaml", ".yml")):
                docs[rel] = [d for d in yaml.safe_load_all(read(path)) if d is not None]
                if not docs[rel]:
                    fail(f"{rel}: no YAML document")
            elif path.endswith(".json"):
                docs[rel] = json.loads(read(path))
        except (yaml.YAMLError, json.JSONDecodeError) as e:
            fail(f"{rel}: does not parse: {e}")
    return docs


def check_copies(root):
    for name in ("alerts.yaml", "grafana-dashboard.json"):
        a, b = f"k8s/monitoring/{name}", f"docker/monitoring/{name}"
        if read(os.path.join(root, a)) != read(os.path.join(root, b)):
            fail(f"{a} and {b} differ: they must be the same file (copy one over the other)")


# ---------------------------------------------------------------------------------- PromQL use

def selectors(expr):
    """(metric name or None, label names) of each vector selector, and the metric names used."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    found = []
    for m in re.finditer(r'(?<![\w.:$])([a-zA-Z_:][\w:]*)?\s*\{([^}]*)\}', expr):
        labels = set(re.findall(r'([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)', m.group(2)))
        found.append((m.group(1), labels))
    bare = re.sub(r'\{[^}]*\}', ' ', expr)
    bare = re.sub(r'\[[^\]]*\]', ' ', bare)
    grouping = set()
    for m in re.finditer(r'\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)', bare):
        grouping |= {g.strip() for g in m.group(2).split(",") if g.strip()}
    bare = re.sub(r'\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)', ' ', bare)
    for m in re.finditer(r'(?<![\w.:$])([a-zA-Z_:][\w:]*)\b(?!\s*\()', bare):
        name = m.group(1)
        if name.lower() in PROMQL_KEYWORDS:
            continue
        if not any(name == f[0] for f in found):
            found.append((name, set()))
    return found, grouping


def labels_of(name):
    if name in METRIC_LABELS:
        return METRIC_LABELS[name]
    if name in EXTERNAL_METRICS:
        return EXTERNAL_METRICS[name]
    for h in HISTOGRAMS:
        if name == h + "_bucket":
            return METRIC_LABELS[h] | {"le"}
        if name in (h + "_sum", h + "_count"):
            return METRIC_LABELS[h]
    return None


def check_expr(where, expr):
    found, grouping = selectors(expr)
    if not found:
        fail(f"{where}: no metric in {expr!r}")
    known = set(TARGET_LABELS)
    for name, labels in found:
        if name is None:
            fail(f"{where}: selector without a metric name in {expr!r}")
            continue
        allowed = labels_of(name)
        if allowed is None:
            fail(f"{where}: {name} is not a metric datarefresh exports (nor kafka_consumergroup_lag)")
            continue
        known |= allowed
        for label in labels - allowed - TARGET_LABELS:
            fail(f"{where}: {name} has no label {label!r} (it has {sorted(allowed)})")
    for label in grouping - known:
        fail(f"{where}: groups by {label!r}, which none of its metrics has")


def check_metrics_exported(root):
    sources = ""
    for top in ("core", "consumer", "producer"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for name in files:
                if name.endswith((".cpp", ".h")):
                    sources += read(os.path.join(dirpath, name))
    for name in METRIC_LABELS:
        if f'.Name("{name}")' not in sources:
            fail(f"tests/ops: {name} is in the list of exported metrics but no source registers it")


def check_dashboard(root, docs):
    rel = "k8s/monitoring/grafana-dashboard.json"
    dash = docs.get(rel)
    if not isinstance(dash, dict):
        return
    exprs = 0
    ids = set()
    for panel in dash.get("panels", []):
        if panel.get("id") in ids:
            fail(f"{rel}: panel id {panel.get('id')} is used twice")
        ids.add(panel.get("id"))
        if panel.get("type") == "row":
            continue
        if not panel.get("targets"):
            fail(f"{rel}: panel {panel.get('title')!r} has no query")
        for t in panel.get("targets", []):
            exprs += 1
            check_expr(f"{rel} panel {panel.get('title')!r}", t.get("expr", ""))
    for var in dash.get("templating", {}).get("list", []):
        q = var.get("query")
        if isinstance(q, dict):
            q = q.get("query", "")
        m = re.match(r'label_values\((\w+),\s*(\w+)\)', q or "")
        if var.get("type") == "query":
            if not m:
                fail(f"{rel}: variable {var.get('name')} is not label_values(metric, label)")
            elif m.group(2) not in (labels_of(m.group(1)) or set()):
                fail(f"{rel}: variable {var.get('name')} reads {m.group(2)} of {m.group(1)}, which has no such label")
    titles = " ".join(p.get("title", "") for p in dash.get("panels", [])).lower()
    for needed in ("progress", "phase", "shards by state", "documents", "rows streamed", "bulk request latency",
                   "bulk bytes", "retried", "in flight", "refreshes", "last successful", "events folded", "lag"):
        if needed not in titles:
            fail(f"{rel}: no panel about {needed!r}")
    if exprs == 0:
        fail(f"{rel}: no queries")


def check_alerts(docs):
    rel = "k8s/monitoring/alerts.yaml"
    if rel not in docs:
        return
    names = set()
    for group in docs[rel][0].get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("alert")
            names.add(name)
            check_expr(f"{rel} {name}", rule.get("expr", ""))
            if rule.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
                fail(f"{rel} {name}: severity label must be critical, warning or info")
            ann = rule.get("annotations", {})
            for key in ("summary", "description"):
                if not ann.get(key):
                    fail(f"{rel} {name}: no {key} annotation")
    for needed in ("DatarefreshRefreshFailed", "DatarefreshNoProgress", "DatarefreshDeadLettersGrowing",
                   "DatarefreshLagNotDraining", "DatarefreshLastSuccessTooOld"):
        if needed not in names:
            fail(f"{rel}: alert {needed} is missing")


# ------------------------------------------------------------------------- facts from sources

def reference_env_vars(root):
    return set(re.findall(r'\b(DATAREFRESH_[A-Z0-9_]+)\b', read(os.path.join(root, "config/datarefresh.yaml"))))


def dev_packages(root):
    m = re.search(r'^PACKAGES=\((.*?)\)', read(os.path.join(root, "dev")), re.S | re.M)
    return set(m.group(1).split()) if m else set()


def stop_grace_seconds(root):
    """Seconds each service lets its running jobs finish on SIGTERM (GroupConsumer stop_grace)."""
    default = re.search(r'stop_grace\{std::chrono::seconds\((\d+)\)\}', read(os.path.join(root, "core/kafka/group_consumer.h")))
    grace = {role: int(default.group(1)) if default else None for role in ROLES}
    for role, path in (("planner", "producer/planner_command.cpp"), ("indexer", "consumer/indexer/indexer_service.cpp"),
                       ("coordinator", "consumer/coordinator/coordinator_service.cpp")):
        m = re.search(r'stop_grace = std::chrono::seconds\((\d+)\)', read(os.path.join(root, path)))
        if m:
            grace[role] = int(m.group(1))
    return grace


def indexer_group(root):
    m = re.search(r'kafka_consumer_options\(cfg, "([^"]+)"', read(os.path.join(root, "consumer/indexer/indexer_service.cpp")))
    return m.group(1) if m else None


# ---------------------------------------------------------------------------------- Dockerfile

def dockerfile_stages(text):
    text = re.sub(r'\\\n', ' ', text)
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            stages.append({"from": rest.split()[0], "lines": []})
        elif stages:
            stages[-1]["lines"].append((word.upper(), rest.strip()))
    return stages


def apt_packages(stage):
    pkgs = set()
    for word, rest in stage["lines"]:
        if word != "RUN":
            continue
        for part in re.split(r'&&|;', rest):
            tokens = shlex.split(part)
            if "apt-get" in tokens and "install" in tokens:
                pkgs |= {t for t in tokens[tokens.index("install") + 1:] if not t.startswith("-")}
    return pkgs


def needed_packages(binary):
    """Debian packages providing the binary's DT_NEEDED libraries, or None if not determinable."""
    if not (binary and os.access(binary, os.X_OK) and shutil.which("readelf") and shutil.which("dpkg")):
        return None
    out = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True, check=True).stdout
    sonames = re.findall(r'\(NEEDED\)\s+Shared library: \[([^\]]+)\]', out)
    cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout if shutil.which("ldconfig") else ""
    candidates = {}
    for soname in sonames:
        paths = re.findall(r'^\s*' + re.escape(soname) + r' \(libc6,x86-64[^)]*\) => (\S+)', cache, re.M) or \
            re.findall(r'^\s*' + re.escape(soname) + r' \([^)]*\) => (\S+)', cache, re.M)
        # dpkg knows a file by the path its package ships, which may differ from the cache's by the
        # /lib -> /usr/lib merge or a symlink.
        found = []
        for p in paths[:1]:
            for q in (p, os.path.realpath(p)):
                found += [q, q.replace("/usr/lib/", "/lib/", 1) if q.startswith("/usr/lib/") else "/usr" + q]
        candidates[soname] = found
    every = sorted({c for cs in candidates.values() for c in cs})
    owners = {}
    if every:
        out = subprocess.run(["dpkg", "-S", *every], capture_output=True, text=True).stdout
        for line in out.splitlines():
            pkg, _, path = line.partition(": ")
            owners[path.strip()] = pkg.split(":")[0].strip()
    result = {}
    for soname, cs in candidates.items():
        result[soname] = next((owners[c] for c in cs if c in owners), None)
    return result


def check_dockerfile(root, binary):
    rel = "docker/Dockerfile"
    text = read(os.path.join(root, rel))
    stages = dockerfile_stages(text)
    if len(stages) != 2:
        fail(f"{rel}: expected a build stage and a runtime stage, found {len(stages)} FROM lines")
        return
    build, runtime = stages
    if not build["from"].startswith("debian:12") and not build["from"].startswith("debian:bookworm"):
        fail(f"{rel}: the build stage must be Debian 12, not {build['from']}")
    if runtime["from"] not in ("debian:12-slim", "debian:bookworm-slim"):
        fail(f"{rel}: the runtime stage must be debian:12-slim, not {runtime['from']}")

    want = dev_packages(root) - DEV_ONLY_PACKAGES
    got = apt_packages(build)
    if not want:
        fail("dev: no PACKAGES list found")
    for p in sorted(want - got):
        fail(f"{rel}: the build stage does not install {p}, which ./dev lists")
    for p in sorted(got - want):
        fail(f"{rel}: the build stage installs {p}, which ./dev does not list")

    cmake_lists = read(os.path.join(root, "CMakeLists.txt"))
    for opt in set(re.findall(r'-D(DATAREFRESH_\w+)=', text)):
        if not re.search(r'option\(' + opt + r'\b', cmake_lists):
            fail(f"{rel}: -D{opt}: CMakeLists.txt has no such option")
    for target in re.findall(r'--target (\S+)', text):
        if not re.search(r'add_executable\(' + re.escape(target) + r'\b', read(os.path.join(root, "app/CMakeLists.txt"))):
            fail(f"{rel}: --target {target}: no such executable in app/CMakeLists.txt")
    for word, rest in build["lines"] + runtime["lines"]:
        if word == "COPY" and not rest.startswith("--from"):
            *srcs, _ = rest.split()
            for src in srcs:
                if src != "." and not os.path.exists(os.path.join(root, src)):
                    fail(f"{rel}: COPY {src}: no such file in the repository")
    if not any(w == "USER" and not r.startswith(("0", "root")) for w, r in runtime["lines"]):
        fail(f"{rel}: the runtime stage does not switch to a non-root USER")
    if ("ENTRYPOINT", '["datarefresh"]') not in runtime["lines"]:
        fail(f"{rel}: ENTRYPOINT must be [\"datarefresh\"]")
    if ("EXPOSE", "9464") not in runtime["lines"]:
        fail(f"{rel}: must EXPOSE 9464 (metrics)")

    runtime_pkgs = apt_packages(runtime)
    needed = needed_packages(binary)
    if needed is None:
        print("note: no datarefresh binary, readelf or dpkg: runtime libraries not checked against the binary")
        return
    for soname, pkg in sorted(needed.items()):
        if pkg is None:
            fail(f"{rel}: cannot tell which Debian package provides {soname} (needed by the binary)")
        elif pkg not in runtime_pkgs | BASE_IMAGE_PACKAGES:
            fail(f"{rel}: the runtime stage does not install {pkg}, which provides {soname} (needed by the binary)")


# ------------------------------------------------------------------------------ check-config

def check_config(binary, config_file, env, where):
    if not (binary and os.access(binary, os.X_OK)):
        return
    base = {k: os.environ[k] for k in ("PATH", "LANG", "TMPDIR") if k in os.environ}
    r = subprocess.run([binary, "check-config", config_file], env={**base, **env}, capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"{where}: `datarefresh check-config {config_file}` with its environment failed:\n"
             + (r.stdout + r.stderr).strip())


# ---------------------------------------------------------------------------------- compose

def check_compose(root, docs, binary, reference_vars):
    rel = "docker/compose.yaml"
    if rel not in docs:
        return
    compose = docs[rel][0]
    services = compose.get("services", {})
    for name in ("postgres", "kafka", "elasticsearch", "planner", "coordinator", "indexer", "prometheus",
                 "grafana", "kafka-exporter"):
        if name not in services:
            fail(f"{rel}: no service {name}")
    if not str(services.get("postgres", {}).get("image", "")).startswith("postgres:15"):
        fail(f"{rel}: postgres must run postgres:15")
    if not str(services.get("elasticsearch", {}).get("image", "")).startswith("docker.elastic.co/elasticsearch/elasticsearch:8."):
        fail(f"{rel}: elasticsearch must run Elasticsearch 8")
    kafka_env = services.get("kafka", {}).get("environment", {})
    if "controller" not in str(kafka_env.get("KAFKA_PROCESS_ROLES", "")):
        fail(f"{rel}: kafka must run in KRaft mode (KAFKA_PROCESS_ROLES with controller)")

    docker_dir = os.path.join(root, "docker")
    for name, svc in services.items():
        build = svc.get("build")
        if build and not os.path.exists(os.path.join(docker_dir, build["context"], build["dockerfile"])):
            fail(f"{rel}: {name} builds from a Dockerfile that does not exist")
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith((".", "/")) and not os.path.exists(os.path.join(docker_dir, src)):
                fail(f"{rel}: {name} mounts {src}, which does not exist")

    envs = {}
    for role in ROLES:
        svc = services.get(role, {})
        if svc.get("command") != [role, "--config", CONFIG_IN_IMAGE]:
            fail(f"{rel}: {role} must run [{role}, --config, {CONFIG_IN_IMAGE}], not {svc.get('command')}")
        env = {k: str(v) for k, v in (svc.get("environment") or {}).items()}
        envs[role] = env
        for k in env:
            if k.startswith("DATAREFRESH_") and k not in reference_vars:
                fail(f"{rel}: {role} sets {k}, which is no configuration key's variable (config/datarefresh.yaml)")
        if env.get("DATAREFRESH_HTTP_METRICS_BIND") != "0.0.0.0":
            fail(f"{rel}: {role} must bind metrics to 0.0.0.0 (DATAREFRESH_HTTP_METRICS_BIND) to be scraped")
        check_config(binary, os.path.join(root, "config/datarefresh.yaml"), env, f"{rel} {role}")
    if services.get("indexer", {}).get("deploy", {}).get("replicas") != 2:
        fail(f"{rel}: indexer must run 2 replicas")

    prom = docs.get("docker/monitoring/prometheus.yml", [{}])[0]
    token = envs.get("planner", {}).get("DATAREFRESH_HTTP_TOKEN")
    jobs = {j.get("job_name"): j for j in prom.get("scrape_configs", [])}
    for role in ROLES:
        job = jobs.get(f"datarefresh-{role}")
        if job is None:
            fail(f"docker/monitoring/prometheus.yml: no scrape job datarefresh-{role}")
        elif job.get("authorization", {}).get("credentials") != token:
            fail(f"docker/monitoring/prometheus.yml: job datarefresh-{role} does not send compose's DATAREFRESH_HTTP_TOKEN")
    if "kafka-exporter" not in jobs:
        fail("docker/monitoring/prometheus.yml: no scrape job for the Kafka exporter (consumer lag)")


# ----------------------------------------------------------------------------------- k8s

def k8s_objects(docs, rendered):
    if rendered:
        return [d for d in yaml.safe_load_all(read(rendered)) if d]
    objs = []
    kust = docs.get("k8s/kustomization.yaml", [{}])[0]
    for res in kust.get("resources", []):
        objs += docs.get(f"k8s/{res}", [])
    return objs


def check_k8s(root, docs, binary, rendered, reference_vars):
    kust = docs.get("k8s/kustomization.yaml", [{}])[0]
    for res in kust.get("resources", []):
        if not os.path.exists(os.path.join(root, "k8s", res)):
            fail(f"k8s/kustomization.yaml: resource {res} does not exist")
    for gen in kust.get("configMapGenerator", []):
        for f in gen.get("files", []):
            if not os.path.exists(os.path.join(root, "k8s", f.split("=")[-1])):
                fail(f"k8s/kustomization.yaml: {gen['name']} reads {f}, which does not exist")
    if "secret.example.yaml" in kust.get("resources", []):
        fail("k8s/kustomization.yaml: must not apply secret.example.yaml (it would overwrite the real Secret)")

    config = docs.get("k8s/config/datarefresh.yaml", [{}])[0]
    kafka = config.get("kafka", {})
    prefix = kafka.get("topic_prefix", "datarefresh.")
    partitions = kafka.get("topics", {}).get("shard_jobs", {}).get("partitions", 12)
    secret = docs.get("k8s/secret.example.yaml", [{}])[0]
    secret_env = {k: "x" for k in secret.get("stringData", {})}

    objs = k8s_objects(docs, rendered)
    by_kind = {}
    for o in objs:
        by_kind.setdefault(o.get("kind"), {})[o.get("metadata", {}).get("name")] = o
    grace = stop_grace_seconds(root)
    config_maps = set(by_kind.get("ConfigMap", {}))
    for role in ROLES:
        name = f"datarefresh-{role}"
        where = f"k8s Deployment {name}"
        dep = by_kind.get("Deployment", {}).get(name)
        if dep is None:
            fail(f"k8s: no Deployment {name}")
            continue
        spec = dep["spec"]
        pod = spec["template"]["spec"]
        if spec["selector"]["matchLabels"].items() - spec["template"]["metadata"]["labels"].items():
            fail(f"{where}: the selector does not match the pod labels")
        if role == "indexer":
            if "replicas" in spec:
                fail(f"{where}: must not set replicas (KEDA owns the count)")
        else:
            if spec.get("replicas") != 1:
                fail(f"{where}: must run exactly 1 replica")
            if spec.get("strategy", {}).get("type") != "Recreate":
                fail(f"{where}: strategy must be Recreate (never two at once)")
        if grace[role] is not None and pod.get("terminationGracePeriodSeconds", 30) < grace[role] + 10:
            fail(f"{where}: terminationGracePeriodSeconds {pod.get('terminationGracePeriodSeconds', 30)} is not above "
                 f"the {role}'s stop grace of {grace[role]} s plus 10 s to flush")
        c = pod["containers"][0]
        if c.get("args") != [role, "--config", CONFIG_IN_IMAGE]:
            fail(f"{where}: args must be [{role}, --config, {CONFIG_IN_IMAGE}]")
        if not any(p.get("containerPort") == 9464 for p in c.get("ports", [])):
            fail(f"{where}: no container port 9464")
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")):
            text = json.dumps(c.get(probe, {}))
            if f"127.0.0.1:9464{path}" not in text and not (c.get(probe, {}).get("httpGet", {}).get("path") == path):
                fail(f"{where}: {probe} does not check {path} on port 9464")
        res = c.get("resources", {})
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in res.get(kind, {}):
                    fail(f"{where}: no resources.{kind}.{r}")
        if role == "indexer" and res.get("limits", {}).get("memory") != "256Mi":
            fail(f"{where}: memory limit should be 256Mi (measured peak RSS ~70 MB)")
        env_names = {e["name"] for e in c.get("env", [])}
        for e in env_names:
            if e.startswith("DATAREFRESH_") and e not in reference_vars:
                fail(f"{where}: sets {e}, which is no configuration key's variable")
        secret_refs = [s["secretRef"]["name"] for s in c.get("envFrom", []) if "secretRef" in s]
        if secret_refs != [secret.get("metadata", {}).get("name")]:
            fail(f"{where}: must take its environment from the Secret of secret.example.yaml")
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for m in c.get("volumeMounts", []):
            v = volumes.get(m["name"])
            if v is None:
                fail(f"{where}: mounts unknown volume {m['name']}")
            elif rendered and "configMap" in v and v["configMap"]["name"] not in config_maps:
                fail(f"{where}: volume {m['name']} names ConfigMap {v['configMap']['name']}, which is not generated")
        if not any(m["mountPath"] == "/etc/datarefresh" for m in c.get("volumeMounts", [])):
            fail(f"{where}: the configuration is not mounted at /etc/datarefresh")
        svc = by_kind.get("Service", {}).get(name)
        if svc is None:
            fail(f"k8s: no Service {name}")
        elif svc["spec"]["selector"].items() - spec["template"]["metadata"]["labels"].items():
            fail(f"k8s Service {name}: its selector does not match the {role} pods")
        # The Deployment's environment (the Secret's keys plus its own env) must satisfy the config.
        env = dict(secret_env)
        env.update({e: "pod-name" for e in env_names})
        check_config(binary, os.path.join(root, "k8s/config/datarefresh.yaml"), env, where)

    so = by_kind.get("ScaledObject", {}).get("datarefresh-indexer")
    if so is None:
        fail("k8s: no ScaledObject datarefresh-indexer")
    else:
        spec = so["spec"]
        if spec["scaleTargetRef"]["name"] != "datarefresh-indexer":
            fail("k8s ScaledObject: does not target the indexer Deployment")
        if spec.get("minReplicaCount") != 0 or spec.get("maxReplicaCount") != partitions:
            fail(f"k8s ScaledObject: replicas must range from 0 to the {partitions} shard-jobs partitions")
        triggers = [t for t in spec.get("triggers", []) if t.get("type") == "kafka"]
        if len(triggers) != 1:
            fail("k8s ScaledObject: needs exactly one kafka trigger")
        else:
            md = triggers[0]["metadata"]
            if md.get("consumerGroup") != indexer_group(root):
                fail(f"k8s ScaledObject: consumerGroup {md.get('consumerGroup')} is not the indexers' group {indexer_group(root)}")
            if md.get("topic") != prefix + "shard-jobs":
                fail(f"k8s ScaledObject: topic {md.get('topic')} is not {prefix}shard-jobs")
            if md.get("bootstrapServers") != kafka.get("bootstrap_servers"):
                fail("k8s ScaledObject: bootstrapServers differ from kafka.bootstrap_servers in k8s/config/datarefresh.yaml")
            if not str(md.get("lagThreshold", "")).isdigit():
                fail("k8s ScaledObject: lagThreshold must be a whole number as a string")
    if rendered:
        for needed in ("datarefresh-grafana-dashboard", "datarefresh-prometheus-rules"):
            if needed not in config_maps:
                fail(f"k8s: kustomize did not generate ConfigMap {needed}")
        if not any(n.startswith("datarefresh-config-") for n in config_maps):
            fail("k8s: kustomize did not generate the datarefresh-config ConfigMap")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--binary")
    ap.add_argument("--rendered", help="output of `kubectl kustomize k8s`")
    a = ap.parse_args()
    root = os.path.abspath(a.root)
    binary = a.binary if a.binary and os.access(a.binary, os.X_OK) else None
    if not binary:
        print("note: no datarefresh binary: `check-config` of the compose and Kubernetes configuration skipped")

    docs = check_parse(root)
    check_copies(root)
    check_metrics_exported(root)
    check_dashboard(root, docs)
    check_alerts(docs)
    reference_vars = reference_env_vars(root)
    check_dockerfile(root, binary)
    check_compose(root, docs, binary, reference_vars)
    check_k8s(root, docs, binary, a.rendered, reference_vars)
    checked = sum(1 for _ in ops_files(root))
    if failures:
        print(f"{len(failures)} problem(s) in the operations files")
        return 1
    print(f"ops files: {checked} files checked, no problem")
    return 0


if __name__ == "__main__":
    sys.exit(main())
