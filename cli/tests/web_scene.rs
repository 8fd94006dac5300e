//! The web view's Rust side end to end (issue 21, docs/web.md): `twinloom demo` serves the page, its
//! files, the plant's 3D scene and JSON snapshots on its listen address. Checked against usd-core:
//! the robot links are nodes with their joint ops, a translate equals the layout's value, a mesh's
//! dequantized points are within half a quantization step of the layout's points, everything the page
//! downloads is at most 5 MB gzip-compressed, and a JSON snapshot holds the same values as the `.usdc`
//! snapshot of the same sequence number.
//!
//! Bearer tokens: the live stream and snapshots are open (only the command API and `POST /v1/mes` take
//! tokens), and so are these routes; the test checks they answer without one.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::SocketAddr;

use twinloom_tests::{free_port, http_get, run_python, start_demo, TempDir};

/// The page downloads at most this much for the demo plant (issue 21, `web_payload_bytes`).
const PAYLOAD_LIMIT: usize = 5_000_000;

struct Reply {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// A GET on loopback returning raw bytes (bodies may be binary or gzip); `Connection: close`.
fn get(addr: SocketAddr, path: &str, gzip: bool) -> Reply {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    let mut head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if gzip {
        head.push_str("Accept-Encoding: gzip, deflate\r\n");
    }
    write!(s, "{head}\r\n").expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|c| c.parse().ok()).unwrap_or(0);
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers.get("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        body = dechunk(&body);
    }
    Reply { status, headers, body }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else { return out };
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b).read_to_end(&mut out).expect("valid gzip");
    out
}

/// The prim's composed `xformOp:translate` and a mesh's points, read from the layout with usd-core.
const READ_LAYOUT: &str = r#"
import json, sys
from pxr import Usd
stage = Usd.Stage.Open(sys.argv[1])
t = stage.GetPrimAtPath(sys.argv[2]).GetAttribute("xformOp:translate").Get()
pts = stage.GetPrimAtPath(sys.argv[3]).GetAttribute("points").Get()
print(json.dumps({"translate": [t[0], t[1], t[2]], "points": [[p[0], p[1], p[2]] for p in pts]}))
"#;

/// Every attribute default of a `.usdc` layer: path -> [type, value].
const READ_USDC: &str = r#"
import json, sys
from pxr import Sdf
layer = Sdf.Layer.FindOrOpen(sys.argv[1])
out = {}
def visit(path):
    if not path.IsPropertyPath():
        return
    spec = layer.GetAttributeAtPath(path)
    if spec is None or not spec.HasDefaultValue():
        return
    v = spec.default
    if hasattr(v, "__len__") and not isinstance(v, str):
        v = [float(c) for c in v]
    out[str(path)] = [str(spec.typeName), v]
layer.Traverse(layer.pseudoRoot.path, visit)
print(json.dumps(out))
"#;

fn same_value(json: &serde_json::Value, usd: &serde_json::Value) -> bool {
    match (json, usd) {
        (serde_json::Value::Number(a), serde_json::Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap_or(f64::NAN), b.as_f64().unwrap_or(f64::NAN));
            // Floats travel as their shortest f32 text: equal to the f32 to 1e-6 relative.
            (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1e-30)
        }
        (serde_json::Value::Array(a), serde_json::Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_value(x, y))
        }
        (a, b) => a == b,
    }
}

#[test]
fn the_demo_serves_the_page_the_scene_and_json_snapshots() {
    let dir = TempDir::new("web-scene");
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let _demo = start_demo(env!("CARGO_BIN_EXE_twinloom"), addr, dir.path(), &[], None);

    // The page, without a token (the routes are as open as /v1/live).
    let index = get(addr, "/", false);
    assert_eq!(index.status, 200);
    assert_eq!(index.headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(index.headers["cache-control"], "no-cache");
    assert!(String::from_utf8_lossy(&index.body).to_lowercase().contains("<html"));
    let three = get(addr, "/web/vendor/three/three.module.min.js", true);
    assert_eq!(three.status, 200);
    assert_eq!(three.headers["content-encoding"], "gzip");
    assert_eq!(gunzip(&three.body), twinloom_web::assets::get("vendor/three/three.module.min.js").unwrap().bytes);
    assert_eq!(get(addr, "/web/no-such-file.js", false).status, 404);

    // The scene, plain and gzip.
    let started = std::time::Instant::now();
    let plain = get(addr, "/v1/scene", false);
    let first_ms = started.elapsed().as_millis();
    assert_eq!(plain.status, 200, "{}", String::from_utf8_lossy(&plain.body));
    assert_eq!(plain.headers["content-type"], "application/json");
    let gz = get(addr, "/v1/scene", true);
    assert_eq!(gz.headers["content-encoding"], "gzip");
    assert_eq!(gunzip(&gz.body), plain.body);
    let scene: serde_json::Value = serde_json::from_slice(&plain.body).expect("scene JSON");
    let bin = get(addr, "/v1/scene.bin", false);
    assert_eq!(bin.status, 200);
    assert_eq!(bin.headers["content-type"], "application/octet-stream");
    assert_eq!(bin.body.len() as u64, scene["binBytes"].as_u64().unwrap());
    let bin_gz = get(addr, "/v1/scene.bin", true);
    assert_eq!(gunzip(&bin_gz.body), bin.body);
    assert_eq!(scene["stage"], "plant.usda");
    assert_eq!(scene["upAxis"], "Z");
    assert_eq!(scene["bin"], "/v1/scene.bin");

    let nodes = scene["nodes"].as_array().unwrap();
    let node = |path: &str| nodes.iter().find(|n| n["path"] == path).unwrap_or_else(|| panic!("no node {path}"));
    let op_kinds = |n: &serde_json::Value| -> Vec<String> {
        n["ops"].as_array().unwrap().iter().map(|o| o["kind"].as_str().unwrap().to_string()).collect()
    };
    // The robot's links, each with its joint's rotate op, parented in a chain.
    let robot = "/Plant/BIW/Line/Station01/R01";
    assert_eq!(node(robot)["role"], "robot");
    let mut link = format!("{robot}/Base");
    for (i, axis) in ["rotateZ", "rotateY", "rotateY", "rotateZ", "rotateY", "rotateZ"].iter().enumerate() {
        link = format!("{link}/Link{}", i + 1);
        let n = node(&link);
        assert!(op_kinds(n).contains(&axis.to_string()), "{link}: {:?}", n["ops"]);
        let parent = &nodes[n["parent"].as_u64().unwrap() as usize];
        assert!(link.starts_with(parent["path"].as_str().unwrap()), "{link} under {}", parent["path"]);
    }
    assert!(node(&format!("{robot}/Base/Link1"))["signals"].as_array().unwrap().iter().any(|s| s["unit"] == "deg"));
    let station = node("/Plant/BIW/Line/Station01");
    assert_eq!(station["role"], "station");

    // A translate, and a mesh's points, against usd-core's reading of the layout.
    let with_translate = nodes
        .iter()
        .find(|n| n["path"].as_str().unwrap().starts_with(robot) && op_kinds(n).contains(&"translate".to_string()))
        .expect("a robot prim with a translate");
    let mesh = nodes.iter().find(|n| n["mesh"].is_object() && n["path"].as_str().unwrap().starts_with(robot)).unwrap();
    let layout = dir.path().join("layout.usda");
    let read: serde_json::Value = serde_json::from_str(&run_python(
        READ_LAYOUT,
        &[layout.to_str().unwrap(), with_translate["path"].as_str().unwrap(), mesh["path"].as_str().unwrap()],
    ))
    .unwrap();
    let op = with_translate["ops"].as_array().unwrap().iter().find(|o| o["kind"] == "translate").unwrap();
    assert_eq!(op["value"], read["translate"], "{}", with_translate["path"]);
    let g = &scene["geometries"][mesh["mesh"]["geometry"].as_u64().unwrap() as usize];
    let points = read["points"].as_array().unwrap();
    assert_eq!(g["positions"][1].as_u64().unwrap() as usize, points.len());
    let at = g["positions"][0].as_u64().unwrap() as usize;
    for (v, p) in points.iter().enumerate() {
        for a in 0..3 {
            let o = at + 6 * v + 2 * a;
            let q = i16::from_le_bytes([bin.body[o], bin.body[o + 1]]) as f64;
            let (scale, offset) = (g["scale"][a].as_f64().unwrap(), g["offset"][a].as_f64().unwrap());
            let x = offset + q * scale;
            let want = p[a].as_f64().unwrap();
            assert!((x - want).abs() <= scale / 2.0 + 1e-6 * want.abs().max(1.0), "{} vertex {v}", mesh["path"]);
        }
    }

    // What the page downloads, gzip-compressed as the browser gets it.
    let mut page = 0;
    for a in twinloom_web::assets::all().iter().filter(|a| a.is_downloaded()) {
        let r = get(addr, &format!("/web/{}", a.path), true);
        assert_eq!(r.status, 200, "{}", a.path);
        page += r.body.len();
    }
    let total = page + gz.body.len() + bin_gz.body.len();
    println!(
        "web payload (gzip): scene JSON {} B, scene bin {} B, page files {page} B, total {total} B; \
         scene of {} nodes / {} geometries, first /v1/scene in {first_ms} ms",
        gz.body.len(),
        bin_gz.body.len(),
        nodes.len(),
        scene["geometries"].as_array().unwrap().len()
    );
    assert!(total <= PAYLOAD_LIMIT, "the page downloads {total} bytes, more than {PAYLOAD_LIMIT}");

    // JSON snapshots hold the values of the .usdc snapshot of the same sequence number.
    let (_, hello_shops) = http_get(addr, "/v1/snapshot");
    assert!(hello_shops.contains("biw"), "{hello_shops}");
    assert_eq!(get(addr, "/v1/snapshot?shop=biw&format=xml", false).status, 400);
    let mut compared = Vec::new();
    for shop in ["site", "edge", "assembly", "paint", "field", "biw", "mes"] {
        for _ in 0..20 {
            let j = get(addr, &format!("/v1/snapshot?shop={shop}&format=json"), false);
            if j.status == 404 {
                break; // not a shop of this run
            }
            assert_eq!(j.status, 200, "{shop}: {}", String::from_utf8_lossy(&j.body));
            let u = get(addr, &format!("/v1/snapshot?shop={shop}"), false);
            assert_eq!(u.status, 200);
            let snap: serde_json::Value = serde_json::from_slice(&j.body).unwrap();
            assert_eq!(snap["shop"], shop);
            assert_eq!(snap["seq"].to_string(), j.headers["x-twinloom-seq"]);
            assert_eq!(snap["epoch"].to_string(), j.headers["x-twinloom-epoch"]);
            assert_eq!(j.headers["x-twinloom-epoch"], u.headers["x-twinloom-epoch"]);
            let file = dir.path().join(format!("snapshot-{shop}.usdc"));
            std::fs::write(&file, &u.body).unwrap();
            let usdc: BTreeMap<String, serde_json::Value> =
                serde_json::from_str(&run_python(READ_USDC, &[file.to_str().unwrap()])).unwrap();
            let edits = snap["edits"].as_array().unwrap();
            let same = edits.len() == usdc.len()
                && edits.iter().all(|e| {
                    let path = e["path"].as_str().unwrap();
                    usdc.get(path).is_some_and(|u| u[0] == e["type"] && same_value(&e["value"], &u[1]))
                });
            if same {
                compared.push(format!("{shop} ({} values)", edits.len()));
                break;
            }
            // The plant moved between the two requests; the next pair may be of one sequence number.
            assert!(
                j.headers["x-twinloom-seq"] != u.headers["x-twinloom-seq"] || shop == "mes",
                "{shop}: the JSON and .usdc snapshots of seq {} differ:\n{edits:?}\n{usdc:?}",
                u.headers["x-twinloom-seq"]
            );
        }
    }
    println!("JSON snapshots equal to the .usdc ones: {compared:?}");
    assert!(compared.len() >= 3, "too few shops compared: {compared:?}");
}
