#!/usr/bin/env python3
"""Checks the operations files in k8s/ and docker/ against each other and against the sources.

Run by check_ops_files.sh (ctest `ops_files`); promtool's checks are in the shell script, schema
validation in ctest `ops_schemas`. Without a cluster or a Docker engine this is what can be checked:
every file parses, the PrometheusRule is the alert rules wrapped, the dashboard and alerts use only
metrics (and labels) the services export, the Dockerfile's package lists match ./dev and the
binary's shared libraries, the compose services and the rendered Kubernetes objects of the base and
every overlay are wired to the real CLI, configuration keys, ports, consumer group, topic and to
each other, and the configuration they give each service passes `datarefresh check-config`.

Prints one line per failed check and exits 1 if any failed. With --write-prometheusrule it writes
k8s/monitoring/prometheusrule.yaml from k8s/monitoring/alerts.yaml instead.
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
    "datarefresh_kafka_consumer_lag_messages": {"group", "topic", "partition"},
    "datarefresh_kafka_partition_stalls_total": {"group"},
    "datarefresh_last_successful_refresh_timestamp_seconds": {"media_type"},
    "datarefresh_notifications_total": {"outcome"},
    "datarefresh_refresh_phase": {"media_type", "phase"},
    "datarefresh_refresh_progress_ratio": {"media_type"},
    "datarefresh_refresh_requests_total": {"media_type", "outcome"},
    "datarefresh_refreshes_total": {"media_type", "outcome", "mode"},
    "datarefresh_rows_streamed_total": {"media_type"},
    "datarefresh_shard_duration_seconds": {"media_type"},
    "datarefresh_shard_jobs_idle_seconds": {"media_type"},
    "datarefresh_shard_jobs_waiting": {"media_type", "state"},
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
# server and client, openssl (test certificates), and promtool, PyYAML, kubectl, node and npm (tests/ops).
DEV_ONLY_PACKAGES = {"libgtest-dev", "libgmock-dev", "libbenchmark-dev", "openssl", "postgresql-15",
                     "postgresql-client-15", "prometheus", "python3-yaml", "kubernetes-client", "nodejs",
                     "npm"}
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


ALERTS = "k8s/monitoring/alerts.yaml"
DASHBOARD = "k8s/monitoring/grafana-dashboard.json"
PROMETHEUS_RULE = "k8s/monitoring/prometheusrule.yaml"
PROMETHEUS_RULE_HEAD = """\
# GENERATED from alerts.yaml by `python3 tests/ops/check_ops_files.py --write-prometheusrule`:
# do not edit. Change alerts.yaml (the one source of the rules) and run that command; tests/ops
# fails while this file differs from what it writes.
#
# The alert rules as a Prometheus Operator PrometheusRule. Your Prometheus must select it (its
# ruleSelector, often a `release` label: add it in the overlay).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: datarefresh
  labels:
    app.kubernetes.io/name: datarefresh
spec:
"""


def prometheus_rule_text(alerts_text):
    """alerts.yaml without its leading comment, under `spec:` of a PrometheusRule (comments kept)."""
    lines = alerts_text.splitlines()
    while lines and (lines[0].startswith("#") or not lines[0].strip()):
        lines.pop(0)
    return PROMETHEUS_RULE_HEAD + "".join(("  " + line if line.strip() else "") + "\n" for line in lines)


def check_prometheus_rule(root):
    want = prometheus_rule_text(read(os.path.join(root, ALERTS)))
    path = os.path.join(root, PROMETHEUS_RULE)
    if not os.path.exists(path) or read(path) != want:
        fail(f"{PROMETHEUS_RULE} is not {ALERTS} wrapped: run `python3 tests/ops/check_ops_files.py --write-prometheusrule`")


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

def reference_config(root):
    """The reference configuration: its DATAREFRESH_* variables and its values (the defaults)."""
    text = read(os.path.join(root, "config/datarefresh.yaml"))
    return {"vars": set(re.findall(r'\b(DATAREFRESH_[A-Z0-9_]+)\b', text)), "config": yaml.safe_load(text)}


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
    m = re.search(r'kIndexerGroup = "([^"]+)"', read(os.path.join(root, "core/service/service_context.h")))
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
    if ("EXPOSE", "9464 8080") not in runtime["lines"]:
        fail(f"{rel}: must EXPOSE 9464 (metrics) and 8080 (the planner's HTTP API)")

    runtime_pkgs = apt_packages(runtime)
    needed = needed_packages(binary)
    if needed is None:
        print("note: no datarefresh binary, readelf or dpkg: runtime libraries not checked against the binary")
        return
    for soname, pkg in sorted(needed.items()):
        if re.match(r'lib(asan|ubsan|lsan|tsan)\.so', soname):
            continue  # a sanitizer build (./dev test --sanitize); the image is built without them
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

def mounts(svc):
    """{container path: host path} of a compose service's bind mounts (short syntax)."""
    out = {}
    for vol in svc.get("volumes", []):
        parts = vol.split(":")
        if len(parts) >= 2 and parts[0].startswith((".", "/")):
            out[parts[1]] = parts[0]
    return out


def dsn_fields(dsn):
    return dict(p.split("=", 1) for p in str(dsn).split() if "=" in p)


def check_compose(root, docs, binary, reference):
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
    if not str(services.get("kafka", {}).get("image", "")).startswith("apache/kafka:"):
        fail(f"{rel}: kafka must run Apache Kafka (apache/kafka)")

    docker_dir = os.path.join(root, "docker")
    for name, svc in services.items():
        build = svc.get("build")
        if build and not os.path.exists(os.path.join(docker_dir, build["context"], build["dockerfile"])):
            fail(f"{rel}: {name} builds from a Dockerfile that does not exist")
        for src in mounts(svc).values():
            if not os.path.exists(os.path.join(docker_dir, src)):
                fail(f"{rel}: {name} mounts {src}, which does not exist")
        depends = svc.get("depends_on") if isinstance(svc.get("depends_on"), dict) else {}
        for dep, cond in depends.items():
            if cond.get("condition") == "service_healthy" and "healthcheck" not in services.get(dep, {}):
                fail(f"{rel}: {name} waits for {dep} to be healthy, but {dep} has no healthcheck")

    # Two databases on the PostgreSQL server, created by the init script.
    init = read(os.path.join(root, "docker/postgres/init-databases.sh"))
    for db in ("catalog", "api"):
        if not re.search(r'CREATE DATABASE\s+"?' + db + r'\b', init, re.I):
            fail(f"docker/postgres/init-databases.sh: does not create the database {db}")

    envs = {}
    for role in ROLES:
        svc = services.get(role, {})
        where = f"{rel} {role}"
        if svc.get("command") != [role, "--config", CONFIG_IN_IMAGE]:
            fail(f"{where} must run [{role}, --config, {CONFIG_IN_IMAGE}], not {svc.get('command')}")
        env = {k: str(v) for k, v in (svc.get("environment") or {}).items()}
        envs[role] = env
        for k in env:
            if k.startswith("DATAREFRESH_") and k not in reference["vars"]:
                fail(f"{where} sets {k}, which is no configuration key's variable (config/datarefresh.yaml)")
        if env.get("DATAREFRESH_HTTP_METRICS_BIND") != "0.0.0.0":
            fail(f"{where} must bind metrics to 0.0.0.0 (DATAREFRESH_HTTP_METRICS_BIND) to be scraped")
        # Wired to the compose services, not to the reference file's example hosts.
        if env.get("DATAREFRESH_KAFKA_BOOTSTRAP_SERVERS") != "kafka:9092" \
                or "kafka:9092" not in str(kafka_env.get("KAFKA_ADVERTISED_LISTENERS", "")):
            fail(f"{where}: DATAREFRESH_KAFKA_BOOTSTRAP_SERVERS must be kafka:9092, the listener kafka advertises")
        if not env.get("DATAREFRESH_SEARCH_URL", "").startswith("http://elasticsearch:9200"):
            fail(f"{where}: DATAREFRESH_SEARCH_URL must point at the elasticsearch service")
        for var, db in (("API_DATABASE_URL", "api"), ("UPSTREAM_DATABASE_URL", "catalog")):
            f = dsn_fields(env.get(var, ""))
            if f.get("host") != "postgres" or f.get("dbname") != db:
                fail(f"{where}: {var} must reach database {db} on the postgres service")
        if env.get("DATAREFRESH_POSTGRES_FDW_DBNAME") != "catalog":
            fail(f"{where}: postgres_fdw must read the catalog database (DATAREFRESH_POSTGRES_FDW_DBNAME)")
        if "healthcheck" not in svc:
            fail(f"{where} has no healthcheck")
        check_grace(where, "stop_grace_period", duration_seconds(svc.get("stop_grace_period", "10s")),
                    effective({}, reference["config"], env, "service.shutdown_grace"))
        check_config(binary, os.path.join(root, "config/datarefresh.yaml"), env, where)
    if services.get("indexer", {}).get("deploy", {}).get("replicas") != 2:
        fail(f"{rel}: indexer must run 2 replicas")

    # The planner's HTTP API: bound beyond loopback in its container and published on the host.
    planner = envs.get("planner", {})
    api_port = planner.get("DATAREFRESH_HTTP_API_PORT", str(reference["config"]["http"]["api_port"]))
    if planner.get("DATAREFRESH_HTTP_API_BIND") != "0.0.0.0":
        fail(f"{rel}: planner must bind its HTTP API to 0.0.0.0 (DATAREFRESH_HTTP_API_BIND) to publish it")
    if not any(str(p).endswith(f":{api_port}:{api_port}") for p in services.get("planner", {}).get("ports", [])):
        fail(f"{rel}: planner must publish its HTTP API port {api_port}")
    for role in ("coordinator", "indexer"):
        if "DATAREFRESH_HTTP_API_BIND" in envs.get(role, {}):
            fail(f"{rel}: only the planner serves the HTTP API; {role} must not set DATAREFRESH_HTTP_API_BIND")

    # Prometheus: the rules and the scrape targets; Grafana: the datasource and the dashboard.
    prom_svc = services.get("prometheus", {})
    prom = docs.get("docker/monitoring/prometheus.yml", [{}])[0]
    prom_mounts = mounts(prom_svc)
    config_dir = os.path.dirname(next((c for c, h in prom_mounts.items() if h.endswith("prometheus.yml")), "/etc/prometheus/x"))
    for rule_file in prom.get("rule_files", []):
        host = prom_mounts.get(os.path.join(config_dir, rule_file))
        if host is None or os.path.normpath(os.path.join("docker", host)) != ALERTS:
            fail(f"{rel}: prometheus must mount {ALERTS} where prometheus.yml loads {rule_file}")
    token = planner.get("DATAREFRESH_HTTP_TOKEN")
    jobs = {j.get("job_name"): j for j in prom.get("scrape_configs", [])}
    metrics_port = planner.get("DATAREFRESH_HTTP_METRICS_PORT", "9464")
    for role in ROLES:
        job = jobs.get(f"datarefresh-{role}")
        if job is None:
            fail(f"docker/monitoring/prometheus.yml: no scrape job datarefresh-{role}")
            continue
        if job.get("authorization", {}).get("credentials") != token:
            fail(f"docker/monitoring/prometheus.yml: job datarefresh-{role} does not send compose's DATAREFRESH_HTTP_TOKEN")
        targets = [t for s in job.get("static_configs", []) for t in s.get("targets", [])]
        targets += [f"{n}:{d.get('port')}" for d in job.get("dns_sd_configs", []) for n in d.get("names", [])]
        if targets != [f"{role}:{metrics_port}"]:
            fail(f"docker/monitoring/prometheus.yml: job datarefresh-{role} must scrape {role}:{metrics_port}, not {targets}")
    exporter = jobs.get("kafka-exporter")
    if exporter is None:
        fail("docker/monitoring/prometheus.yml: no scrape job for the Kafka exporter (consumer lag)")
    elif "--kafka.server=kafka:9092" not in services.get("kafka-exporter", {}).get("command", []):
        fail(f"{rel}: kafka-exporter must read kafka:9092")

    grafana_mounts = mounts(services.get("grafana", {}))
    provisioning = grafana_mounts.get("/etc/grafana/provisioning")
    if provisioning is None:
        fail(f"{rel}: grafana must mount the provisioning folder at /etc/grafana/provisioning")
        return
    prov = os.path.normpath(os.path.join("docker", provisioning))
    sources = docs.get(os.path.join(prov, "datasources/prometheus.yaml"), [{}])[0].get("datasources", [])
    if not any(s.get("url") == "http://prometheus:9090" for s in sources):
        fail(f"{prov}/datasources/prometheus.yaml: no datasource at http://prometheus:9090")
    providers = docs.get(os.path.join(prov, "dashboards/datarefresh.yaml"), [{}])[0].get("providers", [])
    dash_dirs = {p.get("options", {}).get("path") for p in providers}
    if not any(os.path.dirname(c) in dash_dirs and os.path.normpath(os.path.join("docker", h)) == DASHBOARD
               for c, h in grafana_mounts.items()):
        fail(f"{rel}: grafana must mount {DASHBOARD} into a folder its dashboard provider loads ({sorted(filter(None, dash_dirs))})")


# ----------------------------------------------------------------------------------- k8s

K8S_CONFIG = "k8s/base/config/datarefresh.yaml"
SECRET_EXAMPLE = "k8s/base/secret.example.yaml"
# Fields kustomize v5 deprecates (it warns on every render) and what replaces each. The renderings
# fail on any warning too; this names the field even where no kubectl is installed.
KUSTOMIZE_DEPRECATED = {"bases": "resources", "patchesStrategicMerge": "patches", "patchesJson6902": "patches",
                        "commonLabels": "labels", "vars": "replacements"}


def kustomizations(root):
    for dirpath, _, files in sorted(os.walk(os.path.join(root, "k8s"))):
        if "kustomization.yaml" in files:
            yield os.path.relpath(dirpath, root)


def check_kustomization_files(root, docs):
    """Every file a kustomization names exists, and it uses no field kustomize v5 deprecates."""
    for kdir in kustomizations(root):
        rel = f"{kdir}/kustomization.yaml"
        kust = docs.get(rel, [{}])[0]
        for key in sorted(set(kust) & set(KUSTOMIZE_DEPRECATED)):
            fail(f"{rel}: field {key!r} is deprecated (kustomize v5 warns on every render): use "
                 f"{KUSTOMIZE_DEPRECATED[key]!r} instead")
        for res in kust.get("resources", []):
            path = os.path.join(root, kdir, res)
            if not os.path.isfile(path) and not os.path.isfile(os.path.join(path, "kustomization.yaml")):
                fail(f"{rel}: resource {res} is neither a file nor a directory with a kustomization.yaml")
        for patch in kust.get("patches", []):
            if "path" in patch and not os.path.isfile(os.path.join(root, kdir, patch["path"])):
                fail(f"{rel}: patch {patch['path']} does not exist")
        for gen in kust.get("configMapGenerator", []) + kust.get("secretGenerator", []):
            for f in gen.get("files", []):
                if not os.path.isfile(os.path.join(root, kdir, f.split("=")[-1])):
                    fail(f"{rel}: {gen.get('name')} reads {f}, which does not exist")
        if "secret.example.yaml" in kust.get("resources", []):
            fail(f"{rel}: must not apply secret.example.yaml (it would overwrite the real Secret)")


def duration_seconds(text):
    """A duration as the configuration and compose write it ("50s", "1m30s", "250ms"), in seconds;
    None if it is not one."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", str(text))
    if not parts or "".join(n + u for n, u in parts) != str(text):
        return None
    return sum(float(n) * units[u] for n, u in parts)


def check_grace(where, field, seconds, shutdown_grace):
    """A process ends itself within service.shutdown_grace; its supervisor must not kill it first."""
    grace = duration_seconds(shutdown_grace)
    if grace is None:
        fail(f"{where}: service.shutdown_grace {shutdown_grace!r} is not a duration")
    elif seconds is None or seconds <= grace:
        fail(f"{where}: {field} ({seconds} s) is not above service.shutdown_grace ({grace:g} s as this process "
             "sees it): it would be killed before handing back what it can")


def effective(config, defaults, env, path):
    """A key's value as a service sees it: its DATAREFRESH_* variable, the file, or the default."""
    var = "DATAREFRESH_" + path.upper().replace(".", "_")
    if var in env:
        return env[var]
    for source in (config, defaults):
        value = source
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            return value
    return None


def matches(selector, labels):
    if set(selector) - {"matchLabels"}:
        fail(f"k8s: selector {selector} uses more than matchLabels, which tests/ops cannot evaluate")
    return (selector.get("matchLabels") or {}).items() <= labels.items()


def port_number(port, container):
    """A NetworkPolicy or Service port (number or container port name) as a number."""
    if isinstance(port, int):
        return port
    return next((p["containerPort"] for p in container.get("ports", []) if p.get("name") == port), None)


def ingress_sources(policies, pod_labels, container, port):
    """How each NetworkPolicy rule admitting `port` of these pods chooses its sources, and whether any
    policy selects the pods at all (then everything not admitted is dropped)."""
    selected, sources = False, []
    for pol in policies:
        spec = pol["spec"]
        if not matches(spec.get("podSelector", {}), pod_labels) or "Ingress" not in spec.get("policyTypes", ["Ingress"]):
            continue
        selected = True
        for rule in spec.get("ingress", []):
            ports = [port_number(p.get("port"), container) for p in rule.get("ports", [])]
            if ports and port not in ports:
                continue
            peers = rule.get("from") or [None]
            for peer in peers:
                if peer is None:
                    sources.append("anywhere")
                elif set(peer) == {"podSelector"}:
                    sources.append("this namespace")
                elif "namespaceSelector" in peer and "ipBlock" not in peer:
                    sources.append("namespaces " + json.dumps(peer["namespaceSelector"], sort_keys=True))
                else:
                    sources.append("addresses " + json.dumps(peer, sort_keys=True))
    return selected, sources


def check_rendering(root, name, objs, binary, reference, secret, overlay):
    """The objects one kustomization renders: what the Deployments run and how they are wired."""
    where_all = f"k8s {name}"
    by_kind = {}
    for o in objs:
        by_kind.setdefault(o.get("kind"), {})[o.get("metadata", {}).get("name")] = o
    config = yaml.safe_load(read(os.path.join(root, K8S_CONFIG))) or {}
    defaults = reference["config"]
    config_maps = by_kind.get("ConfigMap", {})
    secret_env = {k: "x" for k in secret.get("stringData", {})}
    for k in secret_env:
        if k.startswith("DATAREFRESH_") and k not in reference["vars"]:
            fail(f"{SECRET_EXAMPLE}: key {k} is no configuration key's variable")
    for cm in config_maps.values():
        for k in cm.get("data") or {}:
            if k.startswith("DATAREFRESH_") and k not in reference["vars"]:
                fail(f"{where_all} ConfigMap {cm['metadata']['name']}: {k} is no configuration key's variable")
    grace = stop_grace_seconds(root)
    envs, pods = {}, {}
    for role in ROLES:
        dep_name = f"datarefresh-{role}"
        where = f"{where_all} Deployment {dep_name}"
        dep = by_kind.get("Deployment", {}).get(dep_name)
        if dep is None:
            fail(f"{where_all}: no Deployment {dep_name}")
            continue
        spec = dep["spec"]
        pod = spec["template"]["spec"]
        labels = spec["template"]["metadata"]["labels"]
        if not matches(spec["selector"], labels):
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
        pods[role] = (labels, c)
        if c.get("args") != [role, "--config", CONFIG_IN_IMAGE]:
            fail(f"{where}: args must be [{role}, --config, {CONFIG_IN_IMAGE}]")

        # The environment: the env ConfigMap (the overlay's values), the Secret's keys, its own env.
        env = {}
        for src in c.get("envFrom", []):
            if "configMapRef" in src:
                cm = config_maps.get(src["configMapRef"]["name"])
                if cm is None:
                    fail(f"{where}: envFrom names ConfigMap {src['configMapRef']['name']}, which is not rendered")
                    continue
                env.update({k: str(v) for k, v in (cm.get("data") or {}).items()})
        secret_refs = [s["secretRef"]["name"] for s in c.get("envFrom", []) if "secretRef" in s]
        if secret_refs != [secret.get("metadata", {}).get("name")]:
            fail(f"{where}: must take its secrets from the Secret of secret.example.yaml")
        env.update(secret_env)
        for e in c.get("env", []):
            if e["name"].startswith("DATAREFRESH_") and e["name"] not in reference["vars"]:
                fail(f"{where}: sets {e['name']}, which is no configuration key's variable")
            env[e["name"]] = str(e.get("value", "from-" + e["name"].lower()))
        envs[role] = env
        check_grace(where, "terminationGracePeriodSeconds", pod.get("terminationGracePeriodSeconds", 30),
                    effective(config, defaults, env, "service.shutdown_grace"))

        metrics_port = int(effective(config, defaults, env, "http.metrics_port"))
        if port_number("metrics", c) != metrics_port:
            fail(f"{where}: container port `metrics` must be http.metrics_port {metrics_port}")
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")):
            command = c.get(probe, {}).get("exec", {}).get("command", [])
            if not all(isinstance(word, str) for word in command):
                fail(f"{where}: {probe}: every word of the exec command must be a string (quote it: ': ' makes a mapping)")
            elif not any(f"127.0.0.1:{metrics_port}{path}" in word for word in command) \
                    and c.get(probe, {}).get("httpGet", {}).get("path") != path:
                fail(f"{where}: {probe} does not check {path} on port {metrics_port}")
        res = c.get("resources", {})
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in res.get(kind, {}):
                    fail(f"{where}: no resources.{kind}.{r}")
        if role == "indexer" and res.get("limits", {}).get("memory") != "256Mi":
            fail(f"{where}: memory limit should be 256Mi (measured peak RSS ~70-85 MB)")
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for m in c.get("volumeMounts", []):
            v = volumes.get(m["name"])
            if v is None:
                fail(f"{where}: mounts unknown volume {m['name']}")
            elif "configMap" in v and v["configMap"]["name"] not in config_maps:
                fail(f"{where}: volume {m['name']} names ConfigMap {v['configMap']['name']}, which is not rendered")
        if not any(m["mountPath"] == "/etc/datarefresh" for m in c.get("volumeMounts", [])):
            fail(f"{where}: the configuration is not mounted at /etc/datarefresh")
        svc = by_kind.get("Service", {}).get(dep_name)
        if svc is None:
            fail(f"{where_all}: no Service {dep_name}")
        elif not matches({"matchLabels": svc["spec"]["selector"]}, labels):
            fail(f"{where_all} Service {dep_name}: its selector does not match the {role} pods")
        if overlay:
            tag = overlay.get("images", [{}])[0].get("newTag")
            if c.get("image") != f"datarefresh:{tag}":
                fail(f"{where}: image {c.get('image')} is not the overlay's datarefresh:{tag}")
        check_config(binary, os.path.join(root, K8S_CONFIG), env, where)

    # The planner's HTTP API: beyond loopback, on the Service, and from this namespace only.
    if "planner" in pods:
        labels, c = pods["planner"]
        env = envs["planner"]
        api_port = int(effective(config, defaults, env, "http.api_port"))
        if effective(config, defaults, env, "http.api_bind") != "0.0.0.0":
            fail(f"{where_all}: the planner's http.api_bind must be 0.0.0.0 so other pods reach its API")
        if port_number("api", c) != api_port:
            fail(f"{where_all} Deployment datarefresh-planner: container port `api` must be http.api_port {api_port}")
        svc = by_kind.get("Service", {}).get("datarefresh-planner", {})
        if not any(p.get("name") == "api" and p.get("port") == api_port and port_number(p.get("targetPort"), c) == api_port
                   for p in svc.get("spec", {}).get("ports", [])):
            fail(f"{where_all} Service datarefresh-planner: needs port `api` {api_port} to the container's api port")
    policies = list(by_kind.get("NetworkPolicy", {}).values())
    for role, (labels, c) in pods.items():
        for port_name in ("api", "metrics"):
            port = port_number(port_name, c)
            if port is None:
                continue
            selected, sources = ingress_sources(policies, labels, c, port)
            what = f"{where_all} NetworkPolicy: {role} port {port_name} ({port})"
            if not selected:
                fail(f"{what}: no NetworkPolicy selects the {role} pods, so every source reaches them")
            elif not sources:
                fail(f"{what}: no rule admits it")
            elif port_name == "api" and set(sources) != {"this namespace"}:
                fail(f"{what}: must be admitted from this namespace only, not from {sorted(set(sources) - {'this namespace'})}")
            elif port_name == "metrics" and not all(s.startswith("namespaces ") for s in sources):
                fail(f"{what}: must be admitted from the monitoring namespace only, not from {sorted(sources)}")

    so = by_kind.get("ScaledObject", {}).get("datarefresh-indexer")
    env = envs.get("indexer", {})
    prefix = effective(config, defaults, env, "kafka.topic_prefix")
    partitions = int(effective(config, defaults, env, "kafka.topics.shard_jobs.partitions"))
    if so is None:
        fail(f"{where_all}: no ScaledObject datarefresh-indexer")
    else:
        spec = so["spec"]
        where = f"{where_all} ScaledObject"
        if spec["scaleTargetRef"]["name"] != "datarefresh-indexer":
            fail(f"{where}: does not target the indexer Deployment")
        lo, hi = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
        if not 0 <= lo <= hi <= partitions:
            fail(f"{where}: replicas {lo}..{hi} must lie within 0..{partitions}, the shard-jobs partitions "
                 "(kafka.topics.shard_jobs.partitions as this rendering's indexers see it)")
        triggers = [t for t in spec.get("triggers", []) if t.get("type") == "kafka"]
        if len(triggers) != 1:
            fail(f"{where}: needs exactly one kafka trigger")
        else:
            md = triggers[0]["metadata"]
            if md.get("consumerGroup") != indexer_group(root):
                fail(f"{where}: consumerGroup {md.get('consumerGroup')} is not the indexers' group {indexer_group(root)}")
            if md.get("topic") != prefix + "shard-jobs":
                fail(f"{where}: topic {md.get('topic')} is not {prefix}shard-jobs")
            if md.get("bootstrapServers") != effective(config, defaults, env, "kafka.bootstrap_servers"):
                fail(f"{where}: bootstrapServers differ from the indexers' kafka.bootstrap_servers")
            for key in ("lagThreshold", "activationLagThreshold"):
                if not str(md.get(key, "")).isdigit():
                    fail(f"{where}: {key} must be a whole number as a string")
    pdb = by_kind.get("PodDisruptionBudget", {}).get("datarefresh-indexer")
    if pdb is None or "indexer" in pods and not matches(pdb["spec"]["selector"], pods["indexer"][0]):
        fail(f"{where_all}: no PodDisruptionBudget selecting the indexer pods")
    if not any(n.startswith("datarefresh-config-") for n in config_maps):
        fail(f"{where_all}: kustomize did not generate the hashed datarefresh-config ConfigMap")
    if "Secret" in by_kind:
        fail(f"{where_all}: renders a Secret; the real one is created apart (secret.example.yaml)")

    if overlay is None:
        return envs
    namespace = overlay.get("namespace")
    for o in objs:
        if o.get("metadata", {}).get("namespace") != namespace:
            fail(f"{where_all}: {o.get('kind')} {o.get('metadata', {}).get('name')} is not in namespace {namespace}")
    if "datarefresh-grafana-dashboard" not in config_maps:
        fail(f"{where_all}: no ConfigMap datarefresh-grafana-dashboard")
    rule = by_kind.get("PrometheusRule", {}).get("datarefresh")
    alerts = yaml.safe_load(read(os.path.join(root, ALERTS)))
    if rule is None or rule["spec"].get("groups") != alerts.get("groups"):
        fail(f"{where_all}: no PrometheusRule datarefresh with the groups of {ALERTS}")
    monitor = by_kind.get("ServiceMonitor", {}).get("datarefresh")
    if monitor is None:
        fail(f"{where_all}: no ServiceMonitor datarefresh")
    else:
        for role in ROLES:
            svc = by_kind.get("Service", {}).get(f"datarefresh-{role}")
            if svc and not matches(monitor["spec"]["selector"], svc["metadata"].get("labels", {})):
                fail(f"{where_all} ServiceMonitor: does not select Service datarefresh-{role}")
        for ep in monitor["spec"].get("endpoints", []):
            cred = ep.get("authorization", {}).get("credentials", {})
            if ep.get("port") != "metrics" or cred.get("name") != secret["metadata"]["name"] or cred.get("key") not in secret_env:
                fail(f"{where_all} ServiceMonitor: each endpoint must scrape port metrics with a token key of the Secret")
    return envs


def check_k8s(root, docs, binary, renderings, reference):
    check_kustomization_files(root, docs)
    secret = docs.get(SECRET_EXAMPLE, [{}])[0]
    if not renderings:
        return
    environments = {}
    for name, path in renderings.items():
        objs = [d for d in yaml.safe_load_all(read(path)) if d]
        overlay = docs.get(f"k8s/{name}/kustomization.yaml", [{}])[0] if name.startswith("overlays/") else None
        envs = check_rendering(root, name, objs, binary, reference, secret, overlay)
        if overlay is not None:
            env_name = envs.get("planner", {}).get("DATAREFRESH_ENVIRONMENT")
            if env_name != os.path.basename(name):
                fail(f"k8s {name}: DATAREFRESH_ENVIRONMENT is {env_name}, not the overlay's name {os.path.basename(name)}")
            environments[name] = (overlay.get("namespace"), env_name)
    for what, i in (("namespace", 0), ("environment", 1)):
        values = [v[i] for v in environments.values()]
        if len(set(values)) != len(values):
            fail(f"k8s overlays: two overlays share a {what} ({values})")
    for kdir in kustomizations(root):
        name = os.path.relpath(kdir, "k8s")
        if (name == "base" or name.startswith("overlays/")) and name not in renderings:
            fail(f"k8s: {kdir} was not rendered (the test renders base and every overlay)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."),
                    help="the repository (default: the one holding this script)")
    ap.add_argument("--binary")
    ap.add_argument("--rendered", action="append", default=[], metavar="NAME=FILE",
                    help="`kubectl kustomize k8s/NAME` output (NAME: base, overlays/staging, ...); repeatable")
    ap.add_argument("--write-prometheusrule", action="store_true",
                    help=f"write {PROMETHEUS_RULE} from {ALERTS} and exit")
    a = ap.parse_args()
    root = os.path.abspath(a.root)
    if a.write_prometheusrule:
        with open(os.path.join(root, PROMETHEUS_RULE), "w", encoding="utf-8") as f:
            f.write(prometheus_rule_text(read(os.path.join(root, ALERTS))))
        print(f"wrote {PROMETHEUS_RULE}")
        return 0
    binary = a.binary if a.binary and os.access(a.binary, os.X_OK) else None
    if not binary:
        print("note: no datarefresh binary: `check-config` of the compose and Kubernetes configuration skipped")
    renderings = dict(r.split("=", 1) for r in a.rendered)

    docs = check_parse(root)
    check_prometheus_rule(root)
    check_metrics_exported(root)
    check_dashboard(root, docs)
    check_alerts(docs)
    reference = reference_config(root)
    check_dockerfile(root, binary)
    check_compose(root, docs, binary, reference)
    check_k8s(root, docs, binary, renderings, reference)
    checked = sum(1 for _ in ops_files(root))
    if failures:
        print(f"{len(failures)} problem(s) in the operations files")
        return 1
    print(f"ops files: {checked} files checked, {len(renderings)} kustomize renderings checked, no problem")
    return 0


if __name__ == "__main__":
    sys.exit(main())
