//! Running the `twinloom` program's hidden writer commands as short-lived child processes
//! (`write-root`, `write-layer`): `EXE COMMAND --spec SPEC --out OUT`, waited for, its stderr kept as the
//! error message. The service writes large files this way so their memory never stays in it.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;

/// Why a child writer could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum ChildWriteError {
    #[error("{what}: {error}")]
    Io { what: String, error: std::io::Error },
    #[error("{exe} {command} failed ({status}): {message}")]
    Child { exe: PathBuf, command: &'static str, status: ExitStatus, message: String },
}

/// How much lower than the service the child runs (`nice`): it is background work, and on a small
/// machine a save must not take CPU from ingestion and the live stream.
const NICENESS: i32 = 10;

/// Runs `exe command --spec spec --out out` at a lower CPU priority and waits for it.
pub fn run(exe: &Path, command: &'static str, spec: &Path, out: &Path) -> Result<(), ChildWriteError> {
    let mut cmd = std::process::Command::new(exe);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        extern "C" {
            fn nice(inc: std::os::raw::c_int) -> std::os::raw::c_int;
        }
        // SAFETY: runs in the forked child before exec; nice(2) is async-signal-safe and only lowers
        // this child's own priority (its result is deliberately ignored: a failure leaves it unchanged).
        unsafe {
            cmd.pre_exec(|| {
                nice(NICENESS);
                Ok(())
            });
        }
    }
    let output = cmd
        .arg(command)
        .arg("--spec")
        .arg(spec)
        .arg("--out")
        .arg(out)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .output()
        .map_err(|error| ChildWriteError::Io { what: format!("start {}", exe.display()), error })?;
    if output.status.success() {
        return Ok(());
    }
    let message = String::from_utf8_lossy(&output.stderr).trim().to_string();
    Err(ChildWriteError::Child { exe: exe.to_path_buf(), command, status: output.status, message })
}
