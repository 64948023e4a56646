//! A real NATS cluster on loopback: three (or more) `nats-server` processes routed to each other,
//! each with JetStream and an MQTT listener, as a city deploys them. Servers can be killed
//! (SIGKILL) and started again on the same ports and store, to test what a lost machine does.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{free_port, wait_for_port, wait_until};

/// One server of a [`NatsCluster`].
pub struct NatsServer {
    pub name: String,
    /// NATS clients (`nats://127.0.0.1:PORT`).
    pub client_port: u16,
    /// MQTT 3.1.1 clients (the nodes).
    pub mqtt_port: u16,
    /// The monitoring endpoint (`/healthz`, `/jsz`).
    pub http_port: u16,
    config: PathBuf,
    child: Option<Child>,
}

impl NatsServer {
    fn spawn(&mut self) {
        let log = std::fs::File::create(self.config.with_extension("log")).unwrap();
        let child = Command::new("nats-server")
            .arg("-c")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("nats-server is not installed: `apt-get install nats-server` (listed in scripts/setup)");
        self.child = Some(child);
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.client_port)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Whether the server says it is healthy, JetStream included (its `/healthz`).
    pub fn healthy(&self) -> bool {
        http_get(self.http_port, "/healthz").is_some_and(|body| body.contains("\"ok\""))
    }
}

/// A cluster of `nats-server`s on loopback, stopped when dropped.
pub struct NatsCluster {
    pub servers: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts `size` servers in `dir` and waits until every one is healthy (JetStream's meta
    /// group has a leader and every server has caught up).
    pub fn start(dir: &Path, size: usize) -> Self {
        let ports: Vec<(u16, u16, u16, u16)> =
            (0..size).map(|_| (free_port(), free_port(), free_port(), free_port())).collect();
        let routes: Vec<String> = ports.iter().map(|p| format!("nats-route://127.0.0.1:{}", p.3)).collect();
        let servers = ports
            .iter()
            .enumerate()
            .map(|(i, &(client_port, mqtt_port, http_port, route_port))| {
                let name = format!("n{}", i + 1);
                let store = dir.join(format!("nats-{name}"));
                std::fs::create_dir_all(&store).unwrap();
                let config = dir.join(format!("nats-{name}.conf"));
                std::fs::write(
                    &config,
                    config_text(&name, client_port, mqtt_port, http_port, route_port, &routes, &store),
                )
                .unwrap();
                NatsServer { name, client_port, mqtt_port, http_port, config, child: None }
            })
            .collect();
        let mut cluster = Self { servers };
        for server in &mut cluster.servers {
            server.spawn();
        }
        cluster.wait_healthy();
        cluster
    }

    /// Waits (up to 60 s) until every running server is healthy; panics otherwise, with the logs.
    pub fn wait_healthy(&self) {
        for server in self.servers.iter().filter(|s| s.is_running()) {
            wait_for_port(server.client_port, "nats-server");
            let healthy = wait_until(Duration::from_secs(60), || server.healthy());
            assert!(healthy, "nats-server {} is not healthy after 60 s:\n{}", server.name, self.log(server));
        }
    }

    fn log(&self, server: &NatsServer) -> String {
        std::fs::read_to_string(server.config.with_extension("log")).unwrap_or_default()
    }

    /// What the cluster says of consumer `durable` of `stream` (its JSON in `/jsz`, as its
    /// leader reports it): `num_pending`, `num_ack_pending`, `num_redelivered`, … `None` while
    /// no running server knows it.
    pub fn consumer(&self, stream: &str, durable: &str) -> Option<serde_json::Value> {
        self.leaders_view(stream, |s| {
            s["consumer_detail"].as_array().into_iter().flatten().find(|c| c["name"] == durable).cloned()
        })
    }

    /// What the cluster says of `stream` (its JSON in `/jsz`, as its leader reports it:
    /// `state.messages`, `cluster.leader`, …).
    pub fn stream(&self, stream: &str) -> Option<serde_json::Value> {
        self.leaders_view(stream, |s| {
            let mut s = s.clone();
            s.as_object_mut().map(|o| o.remove("consumer_detail"));
            Some(s)
        })
    }

    /// `pick` applied to `stream`'s detail in `/jsz`, preferring the server that leads what was
    /// picked (a follower's view may lag).
    fn leaders_view(
        &self,
        stream: &str,
        pick: impl Fn(&serde_json::Value) -> Option<serde_json::Value>,
    ) -> Option<serde_json::Value> {
        let mut seen = None;
        for server in self.servers.iter().filter(|s| s.is_running()) {
            let Some(body) = http_get(server.http_port, "/jsz?accounts=true&streams=true&consumers=true") else {
                continue;
            };
            let Ok(jsz) = serde_json::from_str::<serde_json::Value>(&body) else { continue };
            let details = jsz["account_details"].as_array().into_iter().flatten();
            let streams = details.flat_map(|a| a["stream_detail"].as_array().into_iter().flatten());
            for picked in streams.filter(|s| s["name"] == stream).filter_map(&pick) {
                if picked["cluster"]["leader"] == server.name.as_str() {
                    return Some(picked);
                }
                seen = Some(picked);
            }
        }
        seen
    }

    /// Waits (up to 60 s) until every stream the running servers know (the MQTT layer's own
    /// included) has a leader among them: after a server is lost, its streams elect new leaders
    /// in a few seconds. Whether they all did.
    pub fn wait_for_leaders(&self) -> bool {
        let running: Vec<&str> = self.servers.iter().filter(|s| s.is_running()).map(|s| s.name.as_str()).collect();
        wait_until(Duration::from_secs(60), || {
            self.servers.iter().filter(|s| s.is_running()).all(|server| {
                let Some(body) = http_get(server.http_port, "/jsz?accounts=true&streams=true") else { return false };
                let Ok(jsz) = serde_json::from_str::<serde_json::Value>(&body) else { return false };
                let details = jsz["account_details"].as_array().into_iter().flatten();
                let mut streams = details.flat_map(|a| a["stream_detail"].as_array().into_iter().flatten());
                streams.all(|s| s["cluster"]["leader"].as_str().is_some_and(|l| running.contains(&l)))
            })
        })
    }

    /// Every server's NATS URL, comma-separated (what `lintel-city --nats` takes).
    pub fn urls(&self) -> String {
        self.servers.iter().map(NatsServer::url).collect::<Vec<_>>().join(",")
    }

    /// Every server's MQTT address, comma-separated (what `lintel run --mqtt` takes).
    pub fn mqtt_addresses(&self) -> String {
        self.servers.iter().map(|s| format!("127.0.0.1:{}", s.mqtt_port)).collect::<Vec<_>>().join(",")
    }

    /// SIGKILL server `i`: a machine lost, no goodbye.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.servers[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts server `i` again on its ports and store, and waits until it listens and knows the
    /// JetStream meta leader. (Its `/healthz` can stay failing for minutes after a SIGKILL: the
    /// MQTT sessions' consumers of the clients it lost are "not current" until they expire.)
    pub fn restart(&mut self, i: usize) {
        assert!(!self.servers[i].is_running(), "server {i} is running");
        self.servers[i].spawn();
        let server = &self.servers[i];
        wait_for_port(server.client_port, "nats-server");
        wait_for_port(server.mqtt_port, "nats-server's MQTT listener");
        let joined = wait_until(Duration::from_secs(60), || {
            http_get(server.http_port, "/jsz").is_some_and(|body| {
                serde_json::from_str::<serde_json::Value>(&body)
                    .is_ok_and(|jsz| jsz["meta_cluster"]["leader"].as_str().is_some_and(|l| !l.is_empty()))
            })
        });
        assert!(joined, "nats-server {} did not rejoin the cluster in 60 s:\n{}", server.name, self.log(server));
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.servers.len() {
            self.kill(i);
        }
    }
}

fn config_text(
    name: &str,
    client_port: u16,
    mqtt_port: u16,
    http_port: u16,
    route_port: u16,
    routes: &[String],
    store: &Path,
) -> String {
    format!(
        "server_name: {name}
listen: 127.0.0.1:{client_port}
http: 127.0.0.1:{http_port}
jetstream {{
  store_dir: \"{store}\"
}}
mqtt {{
  listen: 127.0.0.1:{mqtt_port}
  # QoS 1 messages an MQTT subscriber did not acknowledge (lost with a server) come again after
  # this (default 30 s; shorter for the tests).
  ack_wait: \"5s\"
}}
{cluster}",
        store = store.display(),
        // One server alone is no cluster (JetStream then runs standalone).
        cluster = if routes.len() < 2 {
            String::new()
        } else {
            format!(
                "cluster {{\n  name: lintel\n  listen: 127.0.0.1:{route_port}\n  routes: [{}]\n}}\n",
                routes.join(", ")
            )
        },
    )
}

/// A plain HTTP GET on loopback; the body, or `None` if the server does not answer.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    // HTTP/1.0: the whole body at once, never chunked.
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split_once("\r\n\r\n").map(|(_, body)| body.to_string())
}
