//! A private PostgreSQL server for tests: `initdb` into a temporary directory, `pg_ctl start` on
//! a free loopback port, stopped and deleted on drop. Needs the server binaries (Debian's
//! `postgresql` package, which the test command installs). PostgreSQL refuses to run as root,
//! so under root the cluster belongs to the `postgres` user and commands run through `runuser`.

use std::path::PathBuf;
use std::process::{Command, Stdio};

pub struct TestPostgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl TestPostgres {
    /// Start a new cluster. Panics with the reason when that is impossible here.
    pub fn start() -> TestPostgres {
        let bin = server_binaries().unwrap_or_else(|| {
            panic!("PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin and PATH); install the `postgresql` package (scripts/test.sh does)")
        });
        let as_postgres = is_root();
        let dir = std::env::temp_dir().join(format!("ferry-pg-{}", ferry_core::random_id()));
        std::fs::create_dir_all(dir.join("data")).expect("cluster directory");
        if as_postgres {
            let status = Command::new("chown").args(["-R", "postgres:"]).arg(&dir).status().expect("chown");
            assert!(status.success(), "cannot give {} to the postgres user", dir.display());
        }
        let port = free_port();
        let cluster = TestPostgres { dir, bin, port, as_postgres };
        let data = cluster.data().display().to_string();
        cluster.run("initdb", &["-A", "trust", "-U", "postgres", "--no-sync", "-D", &data]);
        let options =
            format!("-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200", cluster.dir.display());
        let log = cluster.dir.join("server.log").display().to_string();
        cluster.run("pg_ctl", &["-w", "-t", "60", "-o", &options, "-l", &log, "start", "-D", &data]);
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A new, empty database on this server; returns its URL.
    pub fn database(&self) -> String {
        let name = format!("ferry_{}", ferry_core::random_id());
        let port = self.port.to_string();
        let sql = format!("CREATE DATABASE {name}");
        self.run("psql", &["-q", "-h", "127.0.0.1", "-U", "postgres", "-p", &port, "-c", &sql]);
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// A command running one of the server's programs, as the cluster's owner.
    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    /// Run one of the server's programs, panicking with its output on failure.
    fn run(&self, program: &str, args: &[&str]) {
        let out = self
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(
            out.status.success(),
            "{program} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-m", "immediate", "-w", "stop", "-D"])
            .arg(self.data())
            .stdout(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest installed server's bin directory, or the one holding `initdb` on PATH.
fn server_binaries() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|dir| dir.join("initdb").exists())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}
