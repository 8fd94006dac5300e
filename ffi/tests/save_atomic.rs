//! A save that fails (a full disk: here a file-size limit) leaves the layer's file as it was. OpenUSD's
//! own `SdfLayer::Save` truncates the file in that case; `Layer::save` exports to a temporary file and
//! renames it only when complete. The saving process runs as a child of this test under `prlimit`.

use std::path::Path;
use std::process::Command;

use twinloom_usd::{Layer, Value};

const CHILD_ENV: &str = "TWINLOOM_SAVE_ATOMIC_CHILD";
/// Bytes a file may grow to in the child.
const LIMIT: u64 = 64 * 1024;

/// In the child: opens the layer, grows it far past the limit and saves; prints the outcome.
#[test]
fn child_saves_past_the_limit() {
    let Some(path) = std::env::var_os(CHILD_ENV) else { return };
    let mut layer = Layer::open(Path::new(&path)).expect("open");
    // Incompressible text (crate files compress their tables), well past the limit.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut noise = || {
        (0..256)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                format!("{:016x}", x)
            })
            .collect::<String>()
    };
    for k in 0..200 {
        let attr = format!("/Plant/A.v{k}");
        layer.upsert_default(&attr, &Value::Double(k as f64)).unwrap();
        layer.upsert_default(&format!("/Plant/A.s{k}"), &Value::String(noise())).unwrap();
    }
    match layer.save() {
        Ok(()) => println!("SAVED"),
        Err(e) => println!("FAILED: {e}"),
    }
}

#[test]
fn a_save_that_fails_on_a_full_disk_leaves_the_file_as_it_was() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    for ext in ["usdc", "usda"] {
        let dir = std::env::temp_dir().join(format!("twinloom-save-atomic-{ext}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("live.{ext}"));
        {
            let mut layer = Layer::create_new(&path).unwrap();
            layer.upsert_default("/Plant/A.kept", &Value::Double(42.5)).unwrap();
            layer.save().unwrap();
        }
        let before = std::fs::read(&path).unwrap();
        let exe = std::env::current_exe().unwrap();
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("trap '' XFSZ; exec prlimit --fsize={LIMIT}:unlimited -- \"$0\" \"$@\""))
            .arg(&exe)
            .args(["--exact", "child_saves_past_the_limit", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .output()
            .expect("run the child");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("FAILED: "), "the save must fail past the limit: {stdout}");
        assert_eq!(std::fs::read(&path).unwrap(), before, "{ext}: the file is unchanged");
        let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(leftovers.len(), 1, "{ext}: no temporary file left: {leftovers:?}");
        let layer = Layer::open(&path).unwrap();
        assert_eq!(layer.default_value("/Plant/A.kept").unwrap(), Some(Value::Double(42.5)));
        drop(layer);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
