//! twinloom-connector: reads plant data sources and turns them into OpenUSD layer deltas.
//! (The connector proper lands with its issue; the `twinloom` binary's commands live in `main.rs`.)
