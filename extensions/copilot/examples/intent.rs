//! Prints the intent each question given on the command line parses to, as JSON, one per line: a quick
//! way to try the grammar. `cargo run -p twinloom-copilot --example intent -- "Will the robots clash?"`

fn main() {
    for q in std::env::args().skip(1) {
        let intent = twinloom_copilot::parse(&q);
        println!("{q:?} -> {}", serde_json::to_string(&intent).unwrap_or_default());
    }
}
