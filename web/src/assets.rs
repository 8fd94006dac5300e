//! The page's files, embedded in the binary: every file under `web/assets/` (the build script generates
//! the table, so a new file needs no code change), with its content type, its `Cache-Control` and a
//! gzip form made once on first use.
//!
//! `index.html` and the page's own files are served with `no-cache` (they change with the binary); the
//! vendored three.js under `vendor/` may be cached for a day.

use std::sync::OnceLock;

/// One embedded file.
pub struct Asset {
    /// Path relative to web/assets, with `/` separators (e.g. `vendor/three/three.module.min.js`).
    pub path: &'static str,
    pub bytes: &'static [u8],
    gz: OnceLock<Option<Vec<u8>>>,
}

include!(concat!(env!("OUT_DIR"), "/assets_table.rs"));

impl Asset {
    const fn new(path: &'static str, bytes: &'static [u8]) -> Asset {
        Asset { path, bytes, gz: OnceLock::new() }
    }

    /// The `Content-Type` by extension (files without one, such as LICENSE and VERSION, are text).
    pub fn content_type(&self) -> &'static str {
        content_type(self.path)
    }

    /// The `Cache-Control` value: vendored files may be cached, the page's own files are revalidated.
    pub fn cache_control(&self) -> &'static str {
        if self.path.starts_with("vendor/") {
            "public, max-age=86400"
        } else {
            "no-cache"
        }
    }

    /// The gzip form, when compressing pays (not for images; made once).
    pub fn gzipped(&self) -> Option<&[u8]> {
        self.gz
            .get_or_init(|| {
                if self.path.ends_with(".png") {
                    return None;
                }
                let gz = crate::gzip::compress(self.bytes);
                (gz.len() < self.bytes.len()).then_some(gz)
            })
            .as_deref()
    }

    /// Whether the page downloads this file (the licence, version and checksum files are not fetched).
    pub fn is_downloaded(&self) -> bool {
        let name = self.path.rsplit('/').next().unwrap_or(self.path);
        !(name == "LICENSE" || name == "VERSION" || name == "SHA256SUMS" || name.ends_with(".md"))
    }
}

/// The embedded file at `path` (relative to web/assets; a leading `/` is ignored), if any.
pub fn get(path: &str) -> Option<&'static Asset> {
    let path = path.trim_start_matches('/');
    FILES.iter().find(|a| a.path == path)
}

/// Every embedded file.
pub fn all() -> &'static [Asset] {
    &FILES
}

/// The `Content-Type` for a file name by its extension.
pub fn content_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "json" | "map" => "application/json",
        "txt" | "md" | "" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_and_three_are_embedded() {
        let index = get("/index.html").expect("index.html is embedded");
        assert_eq!(index.content_type(), "text/html; charset=utf-8");
        assert_eq!(index.cache_control(), "no-cache");
        assert!(std::str::from_utf8(index.bytes).unwrap().to_lowercase().contains("<html"));
        let three = get("vendor/three/three.module.min.js").expect("three.js is vendored");
        assert_eq!(three.content_type(), "text/javascript; charset=utf-8");
        assert!(three.cache_control().contains("max-age"));
        let gz = three.gzipped().expect("three.js compresses");
        assert!(gz.len() < three.bytes.len() / 2);
        assert!(get("nope.js").is_none());
        assert!(get("../Cargo.toml").is_none());
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type("a/b.mjs"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("style.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("icon.svg"), "image/svg+xml");
        assert_eq!(content_type("x.png"), "image/png");
        assert_eq!(content_type("vendor/three/LICENSE"), "text/plain; charset=utf-8");
        assert_eq!(content_type("data.bin"), "application/octet-stream");
    }
}
