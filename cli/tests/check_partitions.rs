//! `twinloom check --config A --with B …` on the processes of a site split into partitions
//! (docs/nats.md "Partitions"): disjoint partitions pass; the same site and partition key, an attribute
//! bound twice, nested auto-bindings, an explicit binding under another partition's auto-binding,
//! different streams and two MES layers are refused, each at its file:line:col naming the other file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use twinloom_tests::TempDir;

fn check(files: &[&Path]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_twinloom"));
    c.args(["check", "--config"]).arg(files[0]);
    for f in &files[1..] {
        c.arg("--with").arg(f);
    }
    c.output().expect("run twinloom check")
}

/// A connector process of `site` with `nats` lines after the site and `rest` (sources, bindings) after.
fn write(dir: &Path, name: &str, site: &str, nats: &str, rest: &str) -> PathBuf {
    let path = dir.join(name);
    let text = format!(
        "[journal]\nenabled = true\n\n[nats]\nenabled = true\nsite = \"{site}\"\n{nats}\n\
         [[sources]]\nname = \"plc\"\nkind = \"opcua\"\nendpoint = \"opc.tcp://127.0.0.1:4840\"\n\n\
         [[sources]]\nname = \"plc2\"\nkind = \"opcua\"\nendpoint = \"opc.tcp://127.0.0.1:4841\"\n\n{rest}"
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn binding(source: &str, shop: &str, prim: &str, attr: &str) -> String {
    format!(
        "[[bindings]]\nsource = \"{source}\"\nnode = \"ns=2;s={prim}.{attr}\"\nshop = \"{shop}\"\nprim = \"{prim}\"\n\
         attr = \"{attr}\"\ntype = \"double\"\n\n"
    )
}

fn auto(source: &str, shop: &str, prim: &str) -> String {
    format!(
        "[[auto_bindings]]\nsource = \"{source}\"\nnode = \"ns=2;s={prim}\"\nshop = \"{shop}\"\nprim = \"{prim}\"\n\n"
    )
}

/// `file:line:col` of the `n`-th (0-based) occurrence of `needle` in the file.
fn at(file: &Path, needle: &str, n: usize) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    let offset = text.match_indices(needle).nth(n).unwrap_or_else(|| panic!("{needle:?} #{n} in {}", file.display())).0;
    let line = text[..offset].matches('\n').count() + 1;
    let col = offset - text[..offset].rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("{}:{line}:{col}", file.display())
}

#[test]
fn disjoint_partitions_pass_and_overlapping_ones_are_refused_with_both_places() {
    let dir = TempDir::new("check-partitions");
    let d = dir.path();
    // Split by shop and by source: body (BIW robots, one explicit attribute of the assembly line's
    // robot), paint (the paint shop by auto-binding, and the other attribute of that robot).
    let body = write(
        d,
        "body.toml",
        "north",
        "partition = \"body\"\n",
        &(auto("plc", "biw", "/Plant/BIW") + &binding("plc", "assembly", "/Plant/Assembly/R1", "speed")),
    );
    let paint = write(
        d,
        "paint.toml",
        "north",
        "partition = \"paint\"\n",
        &(auto("plc2", "paint", "/Plant/Paint") + &binding("plc2", "assembly", "/Plant/Assembly/R1", "torque")),
    );
    // Another site may bind the very same attributes.
    let south = write(
        d,
        "south.toml",
        "south",
        "",
        &(auto("plc", "biw", "/Plant/BIW") + &binding("plc", "assembly", "/Plant/Assembly/R1", "speed")),
    );
    let out = check(&[&body, &paint, &south]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("{}: site north partition body", body.display())), "{stdout}");
    assert!(stdout.contains(&format!("{}: site north partition paint", paint.display())), "{stdout}");
    assert!(stdout.contains(&format!("{}: site south partition (none)", south.display())), "{stdout}");
    assert!(stdout.contains("partitions: ok (3 files, no attribute bound twice"), "{stdout}");

    // A second process of partition body: same key, the same attribute, a nested auto-binding, an
    // explicit binding under body's auto-binding, another stream, and (with body's) two MES layers.
    let clash = write(
        d,
        "clash.toml",
        "north",
        "partition = \"body\"\nstream = \"OTHER\"\n",
        &(binding("plc2", "assembly", "/Plant/Assembly/R1", "speed")
            + &auto("plc2", "welding", "/Plant/BIW/Station01")
            + &binding("plc", "biw", "/Plant/BIW/Station02/R03", "j1")
            + "[mes]\n"),
    );
    let body_mes = d.join("body-mes.toml");
    std::fs::write(&body_mes, std::fs::read_to_string(&body).unwrap() + "[mes]\n").unwrap();
    let out = check(&[&body_mes, &clash]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let (b, c) = (&body_mes, &clash);
    for want in [
        format!(
            "{}: site \"north\" partition \"body\" is also {}: the two processes would publish the same message ids \
             and the stream would drop one's deltas as duplicates of the other's; give each process of a site its \
             own [nats] partition",
            at(c, "partition =", 0),
            at(b, "partition =", 0)
        ),
        format!(
            "{}: the partitions of site \"north\" must share one stream and subject prefix: here OTHER on \
             twinloom.north.>, in {} TWINLOOM_NORTH on twinloom.north.>",
            at(c, "stream =", 0),
            b.display()
        ),
        format!(
            "{}: [mes] is also in {} (site \"north\"): both partitions would write the site's cars in work; keep \
             [mes] in one of them",
            at(c, "[mes]", 0),
            at(b, "[mes]", 0)
        ),
        format!(
            "{}: /Plant/Assembly/R1.speed (shop assembly, source plc2) is also bound in {} (shop assembly, source \
             plc): partitions \"body\" and \"body\" of site \"north\" would both write it",
            at(c, "\"/Plant/Assembly/R1\"", 0),
            at(b, "\"/Plant/Assembly/R1\"", 0)
        ),
        format!(
            "{}: the auto-binding under /Plant/BIW/Station01 (shop welding, source plc2) and the one under /Plant/BIW \
             in {} (shop biw, source plc) nest: partitions \"body\" and \"body\" of site \"north\" may both write \
             attributes there (check compares auto-bindings by their prims, it does not browse the sources)",
            at(c, "\"/Plant/BIW/Station01\"", 0),
            at(b, "\"/Plant/BIW\"", 0)
        ),
        format!(
            "{}: /Plant/BIW/Station02/R03.j1 (shop biw, source plc) lies under the auto-binding of /Plant/BIW in {} \
             (shop biw, source plc): partitions \"body\" and \"body\" of site \"north\" may both write it",
            at(c, "\"/Plant/BIW/Station02/R03\"", 0),
            at(b, "\"/Plant/BIW\"", 0)
        ),
    ] {
        assert!(err.contains(&want), "missing {want:?} in:\n{err}");
    }
    assert!(err.contains("partitions: 6 problem(s) in 2 files"), "{err}");

    // One process without a partition key next to another of the same site: the default ids collide too.
    let plain = write(d, "plain.toml", "north", "", &binding("plc", "paint", "/Plant/Paint/Oven", "temp"));
    let plain2 = write(d, "plain2.toml", "north", "", &binding("plc", "paint", "/Plant/Paint/Oven", "humidity"));
    let out = check(&[&plain, &plain2]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let want =
        format!("{}: site \"north\" partition none is also {}:", at(&plain2, "site =", 0), at(&plain, "site =", 0));
    assert!(err.contains(&want), "missing {want:?} in:\n{err}");
    assert!(err.contains("partitions: 1 problem(s) in 2 files"), "{err}");

    // A process that does not forward is no partition; a bad partition key is a problem of its file.
    let off = d.join("off.toml");
    std::fs::write(&off, "[[sources]]\nname = \"plc\"\nkind = \"opcua\"\nendpoint = \"opc.tcp://127.0.0.1:4840\"\n")
        .unwrap();
    let out = check(&[&body, &off]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:1:1: [nats] is not enabled", off.display())), "{err}");
    let bad = write(d, "bad.toml", "north", "partition = \"a.b\"\n", "");
    let out = check(&[&body, &bad]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let want = format!("{}: nats.partition \"a.b\" must be letters, digits, `_` or `-`", at(&bad, "partition =", 0));
    assert!(err.contains(&want), "missing {want:?} in:\n{err}");
}

/// The fenced block of `doc` whose first line (after "```lang\n") starts with `first`.
fn block(doc: &str, lang: &str, first: &str) -> String {
    let open = format!("```{lang}\n{first}");
    let start = doc.find(&open).unwrap_or_else(|| panic!("a ```{lang} block starting {first:?}")) + lang.len() + 4;
    doc[start..start + doc[start..].find("```").expect("its end")].to_string()
}

/// docs/nats.md's two partitions, run as printed (in their folder, by relative names): accepted, and with
/// the hall's temperature moved below body's auto-binding, refused with the printed output.
#[test]
fn the_documented_partitions_pass_and_the_documented_overlap_is_refused() {
    let doc = std::fs::read_to_string(twinloom_tests::workspace_root().join("docs/nats.md")).unwrap();
    let dir = TempDir::new("check-partitions-doc");
    let body = block(&doc, "toml", "# body.toml");
    let rest = block(&doc, "toml", "# rest.toml");
    std::fs::write(dir.path().join("body.toml"), &body).unwrap();
    let run = |rest: &str| {
        std::fs::write(dir.path().join("rest.toml"), rest).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_twinloom"))
            .args(["check", "--config", "body.toml", "--with", "rest.toml"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code(), text)
    };
    let printed = |first_after: &str| {
        let at = doc.find(first_after).expect("the refusal's introduction");
        let console = block(&doc[at..], "console", "$ twinloom check --config body.toml --with rest.toml\n");
        console.split_once('\n').unwrap().1.to_string()
    };
    let (code, text) = run(&rest);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(text, printed("```toml\n# rest.toml"));
    let moved = rest.replace("prim = \"/Plant/Hall\"", "prim = \"/Plant/BIW/Hall\"");
    assert_ne!(moved, rest);
    let (code, text) = run(&moved);
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(text, printed("and the pair is refused"));
}
