//! A real PostgreSQL for a test: `initdb` and `pg_ctl` from Debian's `postgresql` package in a
//! scratch directory, on a free loopback port, as the unprivileged user `nobody` when the test
//! runs as root (PostgreSQL refuses to run as root). Stopped (immediately) when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::free_port;

/// Where Debian puts PostgreSQL 15's programs.
const BIN: &str = "/usr/lib/postgresql/15/bin";

pub struct Postgres {
    pub port: u16,
    data: PathBuf,
    home: PathBuf,
}

fn as_server_user(program: &str) -> Command {
    let path = Path::new(BIN).join(program);
    assert!(
        path.exists(),
        "{} is missing: install PostgreSQL 15 (`apt-get install postgresql`, listed in scripts/setup)",
        path.display()
    );
    // SAFETY-free check of the effective user: root must hand the server to `nobody`.
    let root = Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false);
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "nobody", "--"]).arg(path);
        command
    } else {
        Command::new(path)
    }
}

impl Postgres {
    /// Starts a server in `dir/pg` with the databases `databases`, user `lintel`, no password
    /// (trust on loopback: a test server only).
    pub fn start(dir: &Path, databases: &[&str]) -> Self {
        let home = dir.join("pg");
        std::fs::create_dir_all(&home).unwrap();
        // `nobody` must reach its directory: open the path to it, hand it the directory.
        let mut up = Some(home.as_path());
        while let Some(p) = up {
            if p.starts_with(std::env::temp_dir()) && p != std::env::temp_dir() {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755));
            }
            up = p.parent();
        }
        let chown = Command::new("chown").args(["-R", "nobody"]).arg(&home).status();
        assert!(chown.is_ok(), "chown failed");
        let data = home.join("data");
        let out = as_server_user("initdb").args(["-A", "trust", "-U", "lintel", "-D"]).arg(&data).output().unwrap();
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let port = free_port();
        let server = Self { port, data, home };
        server.pg_start();
        for db in databases {
            let out = as_server_user("createdb")
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "lintel", db])
                .output()
                .unwrap();
            assert!(out.status.success(), "createdb {db}: {}", String::from_utf8_lossy(&out.stderr));
        }
        server
    }

    /// `pg_ctl start` on this server's port and data.
    fn pg_start(&self) {
        let home = &self.home;
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, home.display());
        let out = as_server_user("pg_ctl")
            .args(["-w", "-t", "60", "-D"])
            .arg(&self.data)
            .args(["-o", &options, "-l"])
            .arg(home.join("server.log"))
            .arg("start")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(home.join("server.log")).unwrap_or_default()
        );
    }

    /// Stops the server as a crash would (`pg_ctl -m immediate stop`): clients lose their
    /// connections, uncommitted transactions are gone.
    pub fn crash(&self) {
        let out =
            as_server_user("pg_ctl").args(["-m", "immediate", "-D"]).arg(&self.data).arg("stop").output().unwrap();
        assert!(out.status.success(), "pg_ctl stop failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Starts the server again after [`Postgres::crash`], on the same port and data.
    pub fn restart(&self) {
        self.pg_start();
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://lintel@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_server_user("pg_ctl").args(["-m", "immediate", "-D"]).arg(&self.data).arg("stop").output();
    }
}
