//! Partitions of a site (issue 20, docs/nats.md "Partitions"): one site's signals split over several
//! connector processes, each forwarding to the site's JetStream stream with its own `[nats] partition`.
//!
//! [`check`] compares the configurations of such processes, as `twinloom check --config A --with B …`
//! does, and refuses what would make two of them collide: the same site and partition key (their message
//! ids would be the same and the stream would drop one's deltas as duplicates of the other's), different
//! subjects or streams for one site, an attribute that two of them bind, an auto-binding whose mirrored
//! prims may hold such an attribute, and two MES layers. Auto-bindings are compared by their prims only
//! (the sources are not browsed): two of them may not nest, and no explicit binding may lie below
//! another partition's auto-binding.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use crate::config::{key_span, line_col, Config, ConfigProblem};

/// One configuration being compared, with its text (for positions).
struct Member<'a> {
    cfg: &'a Config,
    text: String,
}

impl Member<'_> {
    fn file(&self) -> &Path {
        &self.cfg.file
    }

    /// `file:line:col` of a byte range of the text.
    fn at(&self, span: Range<usize>) -> (usize, usize) {
        line_col(&self.text, span.start.min(self.text.len()))
    }

    fn problem(&self, span: Range<usize>, message: String) -> ConfigProblem {
        let (line, col) = self.at(span);
        ConfigProblem { file: self.cfg.file.clone(), line, col, message }
    }

    fn place(&self, span: Range<usize>) -> String {
        let (line, col) = self.at(span);
        format!("{}:{line}:{col}", self.file().display())
    }

    /// The partition key as written, `none` when absent.
    fn key(&self) -> String {
        match &self.cfg.nats.partition {
            Some(p) => format!("{p:?}"),
            None => "none".into(),
        }
    }

    /// Where `[nats] partition` (else `site`, else the table) is written.
    fn partition_span(&self) -> Range<usize> {
        let key = if self.cfg.nats.partition.is_some() { "partition" } else { "site" };
        key_span(&self.text, "nats", key)
    }

    /// Where a table header `[name]` is written (the file start when it is not).
    fn table_span(&self, name: &str) -> Range<usize> {
        key_span(&self.text, name, "\u{0}")
    }
}

/// Whether `inner` is `outer` or a prim below it.
fn nests(outer: &str, inner: &str) -> bool {
    inner == outer || inner.strip_prefix(outer).is_some_and(|rest| rest.starts_with('/'))
}

/// The problems of running `configs` as processes of the same sites: every one is reported in the file
/// (and at the line) of the later configuration of a pair, naming the earlier one. `configs` are
/// loaded configurations (their `file` is re-read for positions).
pub fn check(configs: &[Config]) -> Vec<ConfigProblem> {
    let members: Vec<Member> = configs
        .iter()
        .map(|cfg| Member { cfg, text: std::fs::read_to_string(&cfg.file).unwrap_or_default() })
        .collect();
    let mut out = Vec::new();
    for m in &members {
        if !m.cfg.nats.enabled {
            out.push(
                m.problem(
                    m.table_span("nats"),
                    "[nats] is not enabled: partitions are processes of one site forwarding to its stream \
                 ([nats] enabled, site, partition)"
                        .into(),
                ),
            );
        }
    }
    let mut by_site: BTreeMap<&str, Vec<&Member>> = BTreeMap::new();
    for m in members.iter().filter(|m| m.cfg.nats.enabled) {
        by_site.entry(m.cfg.nats.site()).or_default().push(m);
    }
    for (site, group) in &by_site {
        for (j, b) in group.iter().enumerate() {
            for a in &group[..j] {
                compare(site, a, b, &mut out);
            }
        }
    }
    out
}

/// The problems of `b` next to `a`, two processes of `site`.
fn compare(site: &str, a: &Member, b: &Member, out: &mut Vec<ConfigProblem>) {
    let (na, nb) = (&a.cfg.nats, &b.cfg.nats);
    if na.partition == nb.partition {
        out.push(b.problem(
            b.partition_span(),
            format!(
                "site {site:?} partition {} is also {}: the two processes would publish the same message ids \
                 and the stream would drop one's deltas as duplicates of the other's; give each process of a \
                 site its own [nats] partition",
                b.key(),
                a.place(a.partition_span())
            ),
        ));
    }
    if na.subject_prefix != nb.subject_prefix || na.stream_name() != nb.stream_name() {
        out.push(b.problem(
            key_span(&b.text, "nats", if na.subject_prefix != nb.subject_prefix { "subject_prefix" } else { "stream" }),
            format!(
                "the partitions of site {site:?} must share one stream and subject prefix: here {} on {}, in {} {} \
                 on {}",
                nb.stream_name(),
                nb.stream_subjects(),
                a.file().display(),
                na.stream_name(),
                na.stream_subjects()
            ),
        ));
    }
    if a.cfg.mes.is_some() && b.cfg.mes.is_some() {
        out.push(b.problem(
            b.table_span("mes"),
            format!(
                "[mes] is also in {} (site {site:?}): both partitions would write the site's cars in work; keep \
                 [mes] in one of them",
                a.place(a.table_span("mes"))
            ),
        ));
    }
    let parts = format!("partitions {} and {} of site {site:?}", a.key(), b.key());
    // The same attribute bound in both.
    let bound_a: BTreeMap<(&str, &str), &crate::config::BindingConfig> =
        a.cfg.bindings.iter().map(|x| ((x.prim.get_ref().as_str(), x.attr.get_ref().as_str()), x)).collect();
    for y in &b.cfg.bindings {
        let Some(x) = bound_a.get(&(y.prim.get_ref().as_str(), y.attr.get_ref().as_str())) else { continue };
        out.push(b.problem(
            y.prim.span(),
            format!(
                "{}.{} (shop {}, source {}) is also bound in {} (shop {}, source {}): {parts} would both write it",
                y.prim.get_ref(),
                y.attr.get_ref(),
                y.shop.get_ref(),
                y.source.get_ref(),
                a.place(x.prim.span()),
                x.shop.get_ref(),
                x.source.get_ref()
            ),
        ));
    }
    // Auto-bindings: their prims may not nest, nor hold another partition's explicit bindings.
    for y in &b.cfg.auto_bindings {
        for x in a
            .cfg
            .auto_bindings
            .iter()
            .filter(|x| nests(x.prim.get_ref(), y.prim.get_ref()) || nests(y.prim.get_ref(), x.prim.get_ref()))
        {
            out.push(b.problem(
                y.prim.span(),
                format!(
                    "the auto-binding under {} (shop {}, source {}) and the one under {} in {} (shop {}, source {}) \
                     nest: {parts} may both write attributes there (check compares auto-bindings by their prims, \
                     it does not browse the sources)",
                    y.prim.get_ref(),
                    y.shop.get_ref(),
                    y.source.get_ref(),
                    x.prim.get_ref(),
                    a.place(x.prim.span()),
                    x.shop.get_ref(),
                    x.source.get_ref()
                ),
            ));
        }
    }
    // Explicit bindings of one under the other's auto-bindings (reported in `b`, naming `a`'s place).
    for y in &b.cfg.bindings {
        for x in a.cfg.auto_bindings.iter().filter(|x| nests(x.prim.get_ref(), y.prim.get_ref())) {
            out.push(b.problem(
                y.prim.span(),
                format!(
                    "{}.{} (shop {}, source {}) lies under the auto-binding of {} in {} (shop {}, source {}): \
                     {parts} may both write it",
                    y.prim.get_ref(),
                    y.attr.get_ref(),
                    y.shop.get_ref(),
                    y.source.get_ref(),
                    x.prim.get_ref(),
                    a.place(x.prim.span()),
                    x.shop.get_ref(),
                    x.source.get_ref()
                ),
            ));
        }
    }
    for x in &b.cfg.auto_bindings {
        for y in a.cfg.bindings.iter().filter(|y| nests(x.prim.get_ref(), y.prim.get_ref())) {
            out.push(b.problem(
                x.prim.span(),
                format!(
                    "the auto-binding under {} (shop {}, source {}) holds {}.{}, bound in {} (shop {}, source {}): \
                     {parts} may both write it",
                    x.prim.get_ref(),
                    x.shop.get_ref(),
                    x.source.get_ref(),
                    y.prim.get_ref(),
                    y.attr.get_ref(),
                    a.place(y.prim.span()),
                    y.shop.get_ref(),
                    y.source.get_ref()
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::nests;

    #[test]
    fn prims_nest_on_whole_names() {
        assert!(nests("/Plant/BIW", "/Plant/BIW"));
        assert!(nests("/Plant/BIW", "/Plant/BIW/R1"));
        assert!(!nests("/Plant/BIW", "/Plant/BIW2"));
        assert!(!nests("/Plant/BIW/R1", "/Plant/BIW"));
    }
}
