//! A service (`twinloom_connector::run` with a config file) in a child process: the test binary runs
//! itself again with one test selected and an environment variable naming the config, so a test can kill
//! it with SIGKILL, restart it, and read its /metrics. The child side is each test file's own
//! `child_service` test (the kit does not depend on the connector).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running child service; killed when dropped.
pub struct ChildService {
    child: Child,
    log: PathBuf,
    pub listen: SocketAddr,
}

impl ChildService {
    /// Runs this test binary's `test` with `env=config` (stderr appended to `log`) and waits up to 90 s
    /// until `ready` (e.g. `/healthz` or `/readyz`) answers 200 on `listen`.
    pub fn start(test: &str, env: &str, config: &Path, listen: SocketAddr, log: &Path, ready: &str) -> ChildService {
        let exe = std::env::current_exe().expect("the test binary");
        let err = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("the service's log");
        let child = Command::new(exe)
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(env, config)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("start the service");
        let mut s = ChildService { child, log: log.to_path_buf(), listen };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if std::net::TcpStream::connect(listen).is_ok() && crate::http_get(listen, ready).0 == 200 {
                return s;
            }
            if let Some(status) = s.child.try_wait().expect("the service's status") {
                panic!("the service exited at start ({status}):\n{}", s.log_text());
            }
            assert!(Instant::now() < deadline, "the service never became ready:\n{}", s.log_text());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The end of its log.
    pub fn log_text(&self) -> String {
        let t = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut from = t.len().saturating_sub(6000);
        while !t.is_char_boundary(from) {
            from += 1;
        }
        t[from..].to_string()
    }

    /// A value of its /metrics.
    pub fn metric(&self, name: &str) -> f64 {
        crate::metric(self.listen, name)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and waits for it.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Closes its stdin (the child's signal to stop cleanly) and checks that it exits with success within
    /// 60 s.
    pub fn stop(mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("the service's status") {
                assert!(status.success(), "the service failed ({status}):\n{}", self.log_text());
                return;
            }
            assert!(Instant::now() < deadline, "the service did not stop:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ChildService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
