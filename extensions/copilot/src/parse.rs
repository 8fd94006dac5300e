//! The intent grammar: from a question's words to an [`Intent`] with its slots. No model and no network:
//! a fixed vocabulary of weighted keywords and phrases per intent, a few slot patterns, and cheap typo
//! tolerance. docs/copilot.md documents the grammar for users; the steps, in order:
//!
//! 1. **Empty**: no letter or digit at all → `Unsupported { reason: empty }`.
//! 2. **Script**: mostly letters outside the Latin script (Cyrillic, CJK, Arabic, …) → `other_language`.
//! 3. **Words**: lower-cased; punctuation splits words except inside names (`A05_Seats`,
//!    `/Plant/Paint/Oven.energyPerCarKWh`, `slow-station05`; a colon only inside a path:
//!    `/Plant/Paint/Oven/Zone03.twinloom:temperature`); contractions are undone (`can't` → `can not`,
//!    `R01's` → `r01`).
//! 4. **Language**: function words of German, French, Spanish, Italian, Portuguese and Dutch counted against
//!    English ones; two or more foreign ones and more than the English ones → `other_language`.
//! 5. **Typos**: a word of 5+ letters that is not in the vocabulary is replaced by the vocabulary word at
//!    edit distance 1 (2 for 8+ letters; transpositions count 1), e.g. `colide` → `collide`.
//! 6. **Refusals first**: an off-topic marker (weather, football, joke, …) → `off_topic`; a question that
//!    starts with a command verb (`set`, `stop`, `turn`, `increase`, …, after `please`/`can you`) → `action`.
//! 7. **Scores**: every keyword or phrase found adds its weight to its intent; the highest score wins (ties:
//!    payback, clashes, forecast, reach, anomalies, bottleneck, takt, balance, throughput, current state,
//!    capabilities). Below 2 → `not_understood` when plant words were used, else `off_topic`.
//! 8. **Slots**: stations (`station 1`, `Station01`, `st 4` → `Station01`…; assembly `A05_Seats`), robots
//!    (`R1`, `robot 1` → `R01`), variants (`new variant`/`new body` → `new`, `SUV variant` → `suv`), lines
//!    (`assembly`, `paint`, `biw`), scenarios (`scenario NAME`), payback levers and dimensions, and free
//!    targets (a prim path, or station, robot, zone, equipment and measurement words).
//!
//! [`parse()`] reads at most the first [`MAX_CHARS`] characters, allocates a few short strings and scans
//! ~350 phrases: tens of microseconds per question in a release build.

use std::collections::HashSet;
use std::sync::OnceLock;

use crate::intent::{BalanceFocus, Intent, UnsupportedReason};

/// What a keyword counts towards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Concept {
    Payback,
    Clash,
    Forecast,
    Reach,
    Anomaly,
    Bottleneck,
    Takt,
    Balance,
    Throughput,
    Current,
    Help,
}

/// Tie order: earlier wins.
const ORDER: [Concept; 11] = [
    Concept::Payback,
    Concept::Clash,
    Concept::Forecast,
    Concept::Reach,
    Concept::Anomaly,
    Concept::Bottleneck,
    Concept::Takt,
    Concept::Balance,
    Concept::Throughput,
    Concept::Current,
    Concept::Help,
];

use Concept::*;

/// How much of a question is read: longer text is cut here (no question needs more).
pub const MAX_CHARS: usize = 1000;

/// The keyword grammar: a word or phrase (matched on whole words, after typo correction) and its weight.
const KEYWORDS: &[(&str, Concept, i32)] = &[
    // payback
    ("payback", Payback, 4),
    ("pay back", Payback, 4),
    ("pays back", Payback, 4),
    ("pay off", Payback, 4),
    ("pays off", Payback, 4),
    ("paid off", Payback, 4),
    ("paying off", Payback, 4),
    ("roi", Payback, 4),
    ("return on investment", Payback, 4),
    ("saving", Payback, 4),
    ("savings", Payback, 4),
    ("save", Payback, 4),
    ("saves", Payback, 4),
    ("saved", Payback, 4),
    ("worth it", Payback, 3),
    ("investment", Payback, 3),
    ("invest", Payback, 3),
    ("invested", Payback, 3),
    ("ledger", Payback, 4),
    ("business case", Payback, 4),
    ("money", Payback, 3),
    ("euros", Payback, 3),
    ("eur", Payback, 3),
    ("dollars", Payback, 3),
    ("budget", Payback, 3),
    ("cost", Payback, 2),
    ("costs", Payback, 2),
    ("projected", Payback, 2),
    ("old way", Payback, 3),
    ("benefit", Payback, 3),
    ("benefits", Payback, 3),
    ("break even", Payback, 4),
    ("break-even", Payback, 4),
    ("capital review", Payback, 3),
    ("change orders", Payback, 2),
    ("earned", Payback, 2),
    ("realized", Payback, 2),
    ("realised", Payback, 2),
    ("lever", Payback, 3),
    ("levers", Payback, 3),
    ("behind plan", Payback, 3),
    ("ahead of plan", Payback, 3),
    ("on track", Payback, 2),
    ("pay for itself", Payback, 4),
    ("paying for itself", Payback, 4),
    ("paid for itself", Payback, 4),
    // clashes
    ("clash", Clash, 3),
    ("clashes", Clash, 3),
    ("clashing", Clash, 3),
    ("clashed", Clash, 3),
    ("collide", Clash, 3),
    ("collides", Clash, 3),
    ("colliding", Clash, 3),
    ("collided", Clash, 3),
    ("collision", Clash, 3),
    ("collisions", Clash, 3),
    ("crash", Clash, 3),
    ("crashes", Clash, 3),
    ("crashing", Clash, 3),
    ("interfere", Clash, 3),
    ("interferes", Clash, 3),
    ("interference", Clash, 3),
    ("penetrate", Clash, 3),
    ("penetrates", Clash, 3),
    ("penetration", Clash, 3),
    ("intersect", Clash, 2),
    ("intersects", Clash, 2),
    ("near miss", Clash, 3),
    ("near misses", Clash, 3),
    ("near-miss", Clash, 3),
    ("near-misses", Clash, 3),
    ("clearance", Clash, 3),
    ("clearances", Clash, 3),
    ("bump into", Clash, 3),
    ("run into", Clash, 2),
    ("hit", Clash, 2),
    ("hits", Clash, 2),
    ("how close", Clash, 3),
    ("feasible", Clash, 2),
    ("feasibility", Clash, 2),
    ("touch", Clash, 1),
    // forecast
    ("forecast", Forecast, 3),
    ("forecasts", Forecast, 3),
    ("forecasting", Forecast, 3),
    ("predict", Forecast, 3),
    ("predicted", Forecast, 2),
    ("prediction", Forecast, 3),
    ("rul", Forecast, 3),
    ("remaining useful life", Forecast, 4),
    ("useful life", Forecast, 3),
    ("time to failure", Forecast, 4),
    ("fail", Forecast, 3),
    ("fails", Forecast, 3),
    ("failing", Forecast, 3),
    ("failure", Forecast, 3),
    ("failures", Forecast, 2),
    ("break down", Forecast, 3),
    ("breaks down", Forecast, 3),
    ("breakdown", Forecast, 2),
    ("wear", Forecast, 2),
    ("worn out", Forecast, 3),
    ("degrade", Forecast, 3),
    ("degrading", Forecast, 3),
    ("degradation", Forecast, 3),
    ("how long", Forecast, 1),
    ("lifetime", Forecast, 2),
    ("end of life", Forecast, 3),
    ("life left", Forecast, 3),
    ("threshold", Forecast, 3),
    ("limit", Forecast, 2),
    ("maintenance", Forecast, 2),
    ("when will", Forecast, 1),
    ("last", Forecast, 1),
    // reach
    ("reach", Reach, 3),
    ("reachable", Reach, 3),
    ("unreachable", Reach, 4),
    ("out of reach", Reach, 4),
    ("envelope", Reach, 3),
    ("base shift", Reach, 3),
    ("weld point", Reach, 1),
    ("weld points", Reach, 1),
    ("weld spots", Reach, 1),
    // anomalies
    ("anomaly", Anomaly, 3),
    ("anomalies", Anomaly, 3),
    ("anomalous", Anomaly, 3),
    ("abnormal", Anomaly, 3),
    ("unusual", Anomaly, 3),
    ("wrong", Anomaly, 3),
    ("out of the ordinary", Anomaly, 3),
    ("strange", Anomaly, 2),
    ("weird", Anomaly, 2),
    ("odd", Anomaly, 2),
    ("alarm", Anomaly, 2),
    ("alarms", Anomaly, 2),
    ("alert", Anomaly, 2),
    ("alerts", Anomaly, 2),
    ("diagnostics", Anomaly, 3),
    ("diagnose", Anomaly, 3),
    ("diagnosis", Anomaly, 3),
    ("outlier", Anomaly, 3),
    ("outliers", Anomaly, 3),
    ("deviation", Anomaly, 2),
    ("deviations", Anomaly, 2),
    ("spike", Anomaly, 2),
    ("spikes", Anomaly, 2),
    ("acting up", Anomaly, 3),
    ("misbehaving", Anomaly, 3),
    ("problem", Anomaly, 2),
    ("problems", Anomaly, 2),
    ("issues", Anomaly, 2),
    ("ok", Anomaly, 2),
    ("okay", Anomaly, 2),
    ("healthy", Anomaly, 2),
    ("health", Anomaly, 2),
    ("fault", Anomaly, 2),
    ("faults", Anomaly, 2),
    ("going on", Anomaly, 2),
    // bottleneck
    ("bottleneck", Bottleneck, 4),
    ("bottlenecks", Bottleneck, 4),
    ("slowest station", Bottleneck, 4),
    ("holding up", Bottleneck, 3),
    ("holds up", Bottleneck, 3),
    ("holding back", Bottleneck, 3),
    ("constraint", Bottleneck, 2),
    ("constraining", Bottleneck, 3),
    ("limiting", Bottleneck, 2),
    ("blocking", Bottleneck, 2),
    ("starving", Bottleneck, 2),
    ("blocked", Bottleneck, 2),
    ("starved", Bottleneck, 2),
    ("slow", Bottleneck, 2),
    // takt
    ("takt", Takt, 4),
    ("tact", Takt, 3),
    ("cycle time", Takt, 3),
    ("cycle times", Takt, 3),
    // balance
    ("balance", Balance, 3),
    ("balanced", Balance, 3),
    ("balancing", Balance, 3),
    ("rebalance", Balance, 3),
    ("rebalancing", Balance, 3),
    ("unbalanced", Balance, 3),
    ("imbalance", Balance, 3),
    ("salbp", Balance, 4),
    ("station loads", Balance, 3),
    ("station load", Balance, 3),
    ("workload", Balance, 2),
    ("workloads", Balance, 2),
    ("how many stations", Balance, 3),
    ("number of stations", Balance, 3),
    ("fewest stations", Balance, 3),
    ("idle time", Balance, 2),
    ("line balance", Balance, 4),
    ("utilisation", Balance, 2),
    ("utilization", Balance, 2),
    ("overloaded", Balance, 3),
    ("underloaded", Balance, 3),
    ("overload", Balance, 3),
    ("busiest station", Balance, 3),
    // throughput
    ("throughput", Throughput, 4),
    ("jobs per hour", Throughput, 4),
    ("cars per hour", Throughput, 4),
    ("units per hour", Throughput, 4),
    ("bodies per hour", Throughput, 4),
    ("per hour", Throughput, 2),
    ("jph", Throughput, 4),
    ("uph", Throughput, 4),
    ("output", Throughput, 2),
    ("how many cars", Throughput, 3),
    ("production rate", Throughput, 4),
    ("simulate", Throughput, 2),
    ("simulation", Throughput, 2),
    ("simulated", Throughput, 2),
    ("what if", Throughput, 2),
    ("what-if", Throughput, 2),
    ("scenario", Throughput, 2),
    ("sibling", Throughput, 2),
    ("produce", Throughput, 2),
    ("produces", Throughput, 2),
    // current state
    ("value", Current, 2),
    ("values", Current, 2),
    ("reading", Current, 2),
    ("readings", Current, 2),
    ("state", Current, 2),
    ("status", Current, 2),
    ("running", Current, 2),
    ("stopped", Current, 2),
    ("faulted", Current, 2),
    ("temperature", Current, 2),
    ("vibration", Current, 2),
    ("speed", Current, 2),
    ("humidity", Current, 2),
    ("pressure", Current, 2),
    ("occupancy", Current, 2),
    ("energy", Current, 1),
    ("power", Current, 1),
    ("right now", Current, 1),
    ("now", Current, 1),
    ("currently", Current, 1),
    ("current", Current, 1),
    ("at the moment", Current, 1),
    ("live", Current, 1),
    // capabilities
    ("help", Help, 2),
    ("what can you do", Help, 2),
    ("what can you answer", Help, 2),
    ("what can i ask", Help, 2),
    ("what do you know", Help, 2),
    ("what questions", Help, 2),
    ("who are you", Help, 2),
];

/// Words that mark a question as not about the plant (they win over any keyword).
const OFF_TOPIC: &[&str] = &[
    "temperature outside",
    "outside temperature",
    "weather",
    "rain",
    "raining",
    "snow",
    "snowing",
    "sunny",
    "football",
    "soccer",
    "baseball",
    "basketball",
    "joke",
    "jokes",
    "recipe",
    "movie",
    "movies",
    "film",
    "song",
    "poem",
    "stock price",
    "stock market",
    "bitcoin",
    "news",
    "election",
    "president",
    "capital of",
    "horoscope",
    "lottery",
    "restaurant",
    "lunch",
    "dinner",
    "holiday",
    "vacation",
    "birthday",
];

/// Verbs that make a question a command to the plant when they come first.
const ACTION_VERBS: &[&str] = &[
    "set",
    "turn",
    "switch",
    "start",
    "stop",
    "shut",
    "restart",
    "reset",
    "apply",
    "increase",
    "decrease",
    "raise",
    "lower",
    "move",
    "open",
    "close",
    "send",
    "write",
    "approve",
    "reteach",
    "re-teach",
    "adjust",
    "disable",
    "enable",
    "activate",
    "deactivate",
    "order",
    "schedule",
    "acknowledge",
];

/// Plant words: a question with these but no intent is `not_understood` rather than `off_topic`.
const PLANT_WORDS: &[&str] = &[
    "robot",
    "robots",
    "station",
    "stations",
    "line",
    "plant",
    "twin",
    "car",
    "cars",
    "body",
    "paint",
    "oven",
    "weld",
    "welds",
    "welding",
    "assembly",
    "shift",
    "shifts",
    "operator",
    "operators",
    "biw",
    "conveyor",
    "booth",
    "fixture",
    "variant",
    "stage",
    "usd",
    "order",
    "orders",
    "vin",
    "oee",
    "downtime",
    "scrap",
];

/// Words never taken for typos of vocabulary words.
const KEEP: &[&str] = &[
    "stage", "teach", "there", "where", "these", "those", "which", "about", "would", "could", "should", "other",
    "after", "before", "every", "today", "right", "plant", "model", "shift", "trend", "worth", "watch", "match",
    "latch", "sales", "stand", "start", "check", "times", "value", "saves", "world", "while", "reaches", "leave",
    "rates", "costs", "state", "place", "plans", "plane", "weeks", "month", "years", "doing", "point", "store",
];

const ENGLISH: &[&str] = &[
    "the", "a", "an", "is", "are", "was", "will", "would", "what", "how", "which", "who", "we", "our", "us", "to",
    "of", "for", "and", "in", "on", "does", "do", "did", "this", "that", "much", "many", "when", "why", "where", "any",
    "there", "it", "can", "be", "with", "by", "from", "at", "me", "my", "you", "your", "i", "not", "if", "has", "have",
    "get",
];

/// Function words of other languages written in the Latin script (none of them English words).
const FOREIGN: &[(&str, &[&str])] = &[
    (
        "German",
        &[
            "der",
            "die",
            "das",
            "und",
            "ist",
            "nicht",
            "wir",
            "wollen",
            "werden",
            "wird",
            "eine",
            "einen",
            "einer",
            "wie",
            "viel",
            "wann",
            "warum",
            "welche",
            "welcher",
            "welches",
            "mit",
            "auf",
            "für",
            "neue",
            "neuen",
            "sind",
            "spart",
            "uns",
            "kollidieren",
            "linie",
            "können",
            "gibt",
            "roboter",
            "zwilling",
            "jetzt",
            "im",
            "zum",
            "zur",
            "dem",
            "den",
            "des",
            "ein",
            "hinzufügen",
            "gegenüber",
            "alten",
            "planung",
            "wenn",
            "uns",
        ],
    ),
    (
        "French",
        &[
            "le",
            "la",
            "les",
            "est",
            "une",
            "des",
            "nous",
            "vous",
            "que",
            "quel",
            "quelle",
            "quels",
            "pourquoi",
            "combien",
            "avec",
            "pour",
            "sont",
            "nouvelle",
            "nouveau",
            "ligne",
            "économise",
            "économies",
            "jumeau",
            "cette",
            "dans",
            "du",
            "au",
            "aux",
            "va",
            "vont",
            "ajouter",
            "nos",
            "notre",
            "de",
            "ce",
            "il",
            "elle",
            "quand",
            "où",
            "qui",
            "fait",
            "faire",
            "temps",
            "sur",
        ],
    ),
    (
        "Spanish",
        &[
            "el",
            "los",
            "las",
            "la",
            "una",
            "que",
            "cuánto",
            "cuanto",
            "cuánta",
            "por",
            "qué",
            "nosotros",
            "con",
            "para",
            "son",
            "nueva",
            "nuevo",
            "línea",
            "linea",
            "ahorra",
            "ahorrando",
            "gemelo",
            "cuál",
            "cual",
            "cómo",
            "como",
            "está",
            "hay",
            "del",
            "queremos",
            "añadir",
            "agregar",
            "nos",
            "de",
            "chocarán",
            "estación",
            "cuándo",
            "dónde",
            "tiempo",
            "hace",
        ],
    ),
    (
        "Italian",
        &[
            "il",
            "gli",
            "della",
            "delle",
            "nuova",
            "nuovo",
            "linea",
            "quanto",
            "perché",
            "sono",
            "che",
            "risparmia",
            "gemello",
            "vogliamo",
            "aggiungere",
            "alla",
            "nella",
            "questo",
            "questa",
            "ci",
            "di",
            "la",
            "una",
        ],
    ),
    (
        "Portuguese",
        &[
            "não",
            "quanto",
            "nova",
            "linha",
            "economiza",
            "gêmeo",
            "queremos",
            "adicionar",
            "uma",
            "vão",
            "nós",
            "está",
            "de",
            "os",
            "do",
            "da",
            "vai",
            "quando",
        ],
    ),
    (
        "Dutch",
        &[
            "het",
            "een",
            "niet",
            "wij",
            "hoeveel",
            "nieuwe",
            "lijn",
            "bespaart",
            "willen",
            "toevoegen",
            "botsen",
            "wanneer",
        ],
    ),
];

/// Canonical payback levers (the ledger ids of docs/payback.md) and the phrases that name them.
const LEVERS: &[(&str, &str)] = &[
    ("change orders", "change_orders"),
    ("change order", "change_orders"),
    ("change_orders", "change_orders"),
    ("balancing", "balancing"),
    ("paint energy", "paint_energy"),
    ("paint_energy", "paint_energy"),
    ("energy", "paint_energy"),
    ("downtime", "downtime"),
];

const NUMBER_WORDS: &[&str] =
    &["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"];

const EQUIPMENT: &[(&str, &str)] = &[
    ("oven", "oven"),
    ("booth", "booth"),
    ("conveyor", "conveyor"),
    ("fan", "fan"),
    ("fans", "fan"),
    ("winding", "winding"),
    ("windings", "winding"),
    ("motor", "motor"),
    ("motors", "motor"),
    ("tip", "tip"),
    ("tips", "tip"),
    ("meter", "meter"),
    ("meters", "meter"),
    ("pump", "pump"),
    ("spindle", "spindle"),
    ("engine", "engine"),
    ("engines", "engine"),
    ("gun", "gun"),
    ("temperature", "temperature"),
    ("vibration", "vibration"),
    ("speed", "speed"),
    ("humidity", "humidity"),
    ("pressure", "pressure"),
    ("occupancy", "occupancy"),
    ("energy", "energy"),
    ("power", "power"),
    ("wear", "wear"),
];

/// One word of the question: `w` lower-cased (and typo-corrected), `raw` as written.
#[derive(Debug)]
struct Word {
    w: String,
    raw: String,
}

/// Every word the grammar knows (never taken for a typo).
fn vocabulary() -> &'static HashSet<&'static str> {
    static V: OnceLock<HashSet<&'static str>> = OnceLock::new();
    V.get_or_init(|| {
        let mut v: HashSet<&'static str> = targets().iter().copied().collect();
        for k in OFF_TOPIC.iter().chain(PLANT_WORDS).chain(ACTION_VERBS).chain(KEEP).chain(ENGLISH) {
            v.extend(k.split(' '));
        }
        v
    })
}

/// The words a typo may be corrected to: the keywords' and slots' words of 4+ letters, by length.
fn targets() -> &'static Vec<&'static str> {
    static T: OnceLock<Vec<&'static str>> = OnceLock::new();
    T.get_or_init(|| {
        let mut t: Vec<&'static str> = Vec::new();
        let keys = KEYWORDS.iter().map(|(k, _, _)| *k).chain(LEVERS.iter().chain(EQUIPMENT).map(|(k, _)| *k));
        let slots =
            ["variant", "variants", "robots", "station", "quality", "efficiency", "revenue", "scenario", "zone"];
        for k in keys.chain(slots) {
            t.extend(k.split(' ').filter(|w| w.len() >= 4 && w.bytes().all(|b| b.is_ascii_lowercase())));
        }
        t.sort_unstable();
        t.dedup();
        t
    })
}

/// Optimal string alignment distance of two words of at most 32 bytes, giving up (returning `max + 1`)
/// once it must exceed `max`.
fn edit_distance(a: &[u8], b: &[u8], max: usize) -> usize {
    const N: usize = 33;
    if a.len().abs_diff(b.len()) > max || a.len() >= N || b.len() >= N {
        return max + 1;
    }
    let n = b.len();
    let mut prev2 = [0usize; N];
    let mut prev = [0usize; N];
    let mut cur = [0usize; N];
    for (j, p) in prev.iter_mut().enumerate().take(n + 1) {
        *p = j;
    }
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=n {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return max + 1;
        }
        prev2 = prev;
        prev = cur;
    }
    prev[n]
}

/// The vocabulary word a misspelt word stands for, if one is close enough (the alphabetically first of
/// the closest).
fn correct(word: &str) -> Option<&'static str> {
    if word.len() < 5 || !word.bytes().all(|b| b.is_ascii_lowercase()) || vocabulary().contains(word) {
        return None;
    }
    let max = if word.len() >= 8 { 2 } else { 1 };
    let mut best: Option<(usize, &'static str)> = None;
    for &v in targets() {
        if v.len().abs_diff(word.len()) > max {
            continue;
        }
        let d = edit_distance(word.as_bytes(), v.as_bytes(), max);
        if d <= max && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, v));
        }
    }
    best.map(|(_, v)| v)
}

/// The script of a non-Latin letter, in words.
fn script(c: char) -> &'static str {
    match c as u32 {
        0x0400..=0x052F => "a Cyrillic-script language",
        0x0370..=0x03FF => "Greek",
        0x0590..=0x05FF => "Hebrew",
        0x0600..=0x06FF | 0x0750..=0x077F => "Arabic",
        0x0900..=0x097F => "Hindi",
        0x0E00..=0x0E7F => "Thai",
        0x3040..=0x30FF => "Japanese",
        0xAC00..=0xD7AF | 0x1100..=0x11FF => "Korean",
        0x4E00..=0x9FFF | 0x3400..=0x4DBF => "Chinese",
        _ => "another language",
    }
}

fn is_latin(c: char) -> bool {
    c.is_ascii_alphabetic() || ('\u{00C0}'..='\u{024F}').contains(&c)
}

/// Mostly non-Latin letters: the language by its script (kana anywhere make CJK text Japanese).
fn non_latin_language(q: &str) -> Option<&'static str> {
    let letters: Vec<char> = q.chars().filter(|c| c.is_alphabetic()).collect();
    let other: Vec<char> = letters.iter().copied().filter(|&c| !is_latin(c)).collect();
    if other.is_empty() || other.len() * 2 <= letters.len() {
        return None;
    }
    if other.iter().any(|&c| script(c) == "Japanese") {
        return Some("Japanese");
    }
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    for &c in &other {
        let s = script(c);
        match counts.iter_mut().find(|(n, _)| *n == s) {
            Some((_, k)) => *k += 1,
            None => counts.push((s, 1)),
        }
    }
    counts.iter().max_by_key(|(_, k)| *k).map(|(s, _)| *s)
}

/// Splits a question into words (see the module doc, step 3).
fn words(q: &str) -> Vec<Word> {
    let q = q.replace(['\u{2019}', '\u{2018}', '`'], "'");
    let keep = |c: char| c.is_alphanumeric() || matches!(c, '_' | '/' | '.' | '-' | '\'' | ':');
    // A colon belongs to a prim or attribute path (`/Plant/Oven/Zone03.twinloom:temperature`, USD's
    // namespaced attributes); anywhere else it splits words.
    let pieces = q.split(|c: char| !keep(c)).flat_map(|p| {
        let path = p.trim_start_matches(['.', '-', '\'']).starts_with('/');
        p.split(move |c: char| c == ':' && !path)
    });
    let mut out = Vec::new();
    for piece in pieces {
        let piece = piece.trim_matches(['.', '-', '\'', ':']);
        if piece.is_empty() {
            continue;
        }
        let lower = piece.to_lowercase();
        let (base, extra): (&str, Option<&str>) = if lower == "can't" || lower == "cannot" {
            ("can", Some("not"))
        } else if lower == "won't" {
            ("will", Some("not"))
        } else if let Some(b) = lower.strip_suffix("n't") {
            (b, Some("not"))
        } else if let Some(b) = ["'s", "'re", "'ll", "'ve", "'m", "'d"].iter().find_map(|s| lower.strip_suffix(s)) {
            (b, None)
        } else {
            (lower.as_str(), None)
        };
        let raw_base = piece.get(..base.len()).unwrap_or(piece);
        if !base.is_empty() {
            out.push(Word { w: base.to_string(), raw: raw_base.to_string() });
        }
        if let Some(e) = extra {
            out.push(Word { w: e.to_string(), raw: e.to_string() });
        }
    }
    out
}

/// The foreign language the words are in, when they clearly are not English (step 4).
fn foreign_language(ws: &[Word]) -> Option<String> {
    // Hyphenated words count by their parts too (`fait-il`).
    let all: Vec<&str> = ws.iter().flat_map(|w| w.w.split('-')).collect();
    let english = ws.iter().filter(|w| ENGLISH.contains(&w.w.as_str())).count();
    let mut best: Option<(&str, usize)> = None;
    for (lang, list) in FOREIGN {
        let n = all.iter().filter(|w| list.contains(w)).count();
        if n > best.map_or(0, |b| b.1) {
            best = Some((lang, n));
        }
    }
    let (lang, n) = best?;
    let accented = ws.iter().any(|w| w.w.chars().any(|c| !c.is_ascii() && c.is_alphabetic()));
    if (n >= 2 && n > english) || (english == 0 && n >= 1 && accented && ws.len() >= 3) {
        Some(lang.to_string())
    } else {
        None
    }
}

/// A number written as digits or as a word (zero … twelve).
fn number(w: &str) -> Option<u32> {
    let w = w.trim_start_matches('#');
    if !w.is_empty() && w.len() <= 3 && w.bytes().all(|b| b.is_ascii_digit()) {
        return w.parse().ok();
    }
    NUMBER_WORDS.iter().position(|n| *n == w).map(|i| i as u32)
}

/// `prefix` followed by digits only (`station04`, `r1`, `zone3`): the number.
fn prefixed_number(w: &str, prefix: &str) -> Option<u32> {
    let rest = w.strip_prefix(prefix)?;
    if !rest.is_empty() && rest.len() <= 3 && rest.bytes().all(|b| b.is_ascii_digit()) {
        rest.parse().ok()
    } else {
        None
    }
}

/// A name with a number: `prefix` glued to digits, or one of `nouns` followed by a number.
fn numbered(ws: &[Word], prefix: &str, nouns: &[&str]) -> Option<u32> {
    for (i, w) in ws.iter().enumerate() {
        if let Some(n) = prefixed_number(&w.w, prefix) {
            return Some(n);
        }
        if nouns.contains(&w.w.as_str()) {
            if let Some(n) = ws.get(i + 1).and_then(|x| number(&x.w)) {
                return Some(n);
            }
        }
    }
    None
}

fn station(ws: &[Word]) -> Option<String> {
    if let Some(n) = numbered(ws, "station", &["station", "stn", "st", "cell"]) {
        return Some(format!("Station{n:02}"));
    }
    assembly_station(ws)
}

/// An assembly station written by its id (`A05`, `A05_Seats`), as written with a capital `A`.
fn assembly_station(ws: &[Word]) -> Option<String> {
    ws.iter().find_map(|w| {
        let b = w.w.as_bytes();
        let ok = b.len() >= 3
            && b[0] == b'a'
            && b[1].is_ascii_digit()
            && b[2].is_ascii_digit()
            && (b.len() == 3 || b[3] == b'_');
        ok.then(|| format!("A{}", w.raw.get(1..).unwrap_or("")))
    })
}

fn robot(ws: &[Word]) -> Option<String> {
    numbered(ws, "r", &["robot"]).map(|n| format!("R{n:02}"))
}

fn zone(ws: &[Word]) -> Option<String> {
    numbered(ws, "zone", &["zone"]).map(|n| format!("Zone{n:02}"))
}

/// Words that are never a variant's name.
const NOT_NAMES: &[&str] = &[
    "a", "an", "the", "this", "that", "our", "new", "any", "each", "every", "which", "what", "one", "to", "of", "for",
    "with", "in", "on", "and", "add", "adding", "another", "other", "its", "their", "body", "variant", "will", "is",
    "are", "be", "if", "we", "when", "planned",
];

fn variant(ws: &[Word]) -> Option<String> {
    const NOUNS: &[&str] = &["variant", "variants", "body", "bodies", "derivative", "model", "vehicle", "car"];
    for (i, w) in ws.iter().enumerate() {
        if !NOUNS.contains(&w.w.as_str()) {
            continue;
        }
        let prev = if i > 0 { ws[i - 1].w.as_str() } else { "" };
        match prev {
            "new" | "next" | "upcoming" | "future" | "planned" => return Some("new".into()),
            "current" | "existing" | "old" | "today" | "present" => return Some("current".into()),
            _ => {}
        }
        if matches!(w.w.as_str(), "variant" | "variants") {
            if !prev.is_empty() && !NOT_NAMES.contains(&prev) && !ENGLISH.contains(&prev) {
                return Some(prev.to_string());
            }
            if let Some(next) = ws.get(i + 1) {
                let n = next.w.as_str();
                if !NOT_NAMES.contains(&n)
                    && !ENGLISH.contains(&n)
                    && n.chars().all(|c| c.is_alphanumeric() || c == '_')
                {
                    return Some(n.to_string());
                }
            }
        }
    }
    None
}

/// The line named: `assembly`, `paint` or `biw` (the first one mentioned).
fn line(text: &str) -> Option<String> {
    const LINES: &[(&str, &str)] = &[
        (" assembly ", "assembly"),
        (" trim line ", "assembly"),
        (" paint ", "paint"),
        (" paintshop ", "paint"),
        (" paint shop ", "paint"),
        (" biw ", "biw"),
        (" body shop ", "biw"),
        (" body-in-white ", "biw"),
        (" body in white ", "biw"),
        (" welding line ", "biw"),
        (" weld line ", "biw"),
    ];
    LINES.iter().filter_map(|(k, v)| text.find(k).map(|p| (p, *v))).min_by_key(|(p, _)| *p).map(|(_, v)| v.into())
}

/// A what-if sibling named after `scenario`/`sibling`, or before it when the name looks like one
/// (`the slow-station05 scenario`: with a digit, `-` or `_`).
fn scenario(ws: &[Word]) -> Option<String> {
    let name = |w: &Word| !NOT_NAMES.contains(&w.w.as_str()) && !ENGLISH.contains(&w.w.as_str());
    let looks_like_name = |w: &Word| w.w.contains(|c: char| c.is_ascii_digit() || c == '-' || c == '_');
    for (i, w) in ws.iter().enumerate() {
        if matches!(w.w.as_str(), "scenario" | "sibling") {
            if let Some(next) = ws.get(i + 1).filter(|n| name(n)) {
                return Some(next.raw.clone());
            }
            if let Some(prev) = i.checked_sub(1).map(|p| &ws[p]).filter(|p| name(p) && looks_like_name(p)) {
                return Some(prev.raw.clone());
            }
        }
    }
    None
}

/// A prim path or signal name written as such (`/Plant/Paint/Oven.energyPerCarKWh`, `Oven.energyPerCarKWh`).
fn path(ws: &[Word]) -> Option<String> {
    ws.iter()
        .find(|w| {
            let r = &w.raw;
            r.contains('/') && r.chars().any(char::is_alphabetic)
                || r.split_once('.').is_some_and(|(a, b)| {
                    a.chars().any(char::is_alphabetic) && b.chars().next().is_some_and(char::is_alphabetic)
                })
        })
        .map(|w| w.raw.clone())
}

/// A free target: a path, else station, robot, zone, then equipment and measurement words in question order.
fn target(ws: &[Word]) -> Option<String> {
    if let Some(p) = path(ws) {
        return Some(p);
    }
    let mut terms: Vec<String> = Vec::new();
    terms.extend(station(ws));
    terms.extend(robot(ws));
    terms.extend(zone(ws));
    for (i, w) in ws.iter().enumerate() {
        if let Some((_, canon)) = EQUIPMENT.iter().find(|(k, _)| *k == w.w) {
            if !terms.iter().any(|t| t == canon) {
                terms.push(canon.to_string());
            }
            if *canon == "engine" {
                if let Some(n) = ws.get(i + 1).and_then(|x| number(&x.w)) {
                    terms.push(n.to_string());
                }
            }
        }
    }
    (!terms.is_empty()).then(|| terms.join(" "))
}

fn lever(text: &str) -> Option<String> {
    LEVERS.iter().find(|(k, _)| text.contains(&format!(" {k} "))).map(|(_, v)| v.to_string())
}

fn dimension(text: &str) -> Option<String> {
    for d in ["efficiency", "quality", "revenue"] {
        if text.contains(&format!(" {d} ")) {
            return Some(d.into());
        }
    }
    let cost = [" cost saving", " cost dimension", " cost side", " on cost ", " in cost ", " cost lever"];
    cost.iter().any(|k| text.contains(k)).then(|| "cost".into())
}

/// The question's intent and slots (the grammar is in the module doc and docs/copilot.md). Never fails:
/// what it cannot map is [`Intent::Unsupported`] with the reason.
pub fn parse(question: &str) -> Intent {
    let unsupported = |reason| Intent::Unsupported { reason };
    let cut: String;
    let question = match question.char_indices().nth(MAX_CHARS) {
        Some((end, _)) => {
            cut = question[..end].to_string();
            cut.as_str()
        }
        None => question,
    };
    if !question.chars().any(char::is_alphanumeric) {
        return unsupported(UnsupportedReason::Empty);
    }
    if let Some(language) = non_latin_language(question) {
        return unsupported(UnsupportedReason::OtherLanguage { language: language.into() });
    }
    let mut ws = words(question);
    if ws.is_empty() {
        return unsupported(UnsupportedReason::Empty);
    }
    if let Some(language) = foreign_language(&ws) {
        return unsupported(UnsupportedReason::OtherLanguage { language });
    }
    for w in &mut ws {
        if let Some(c) = correct(&w.w) {
            w.w = c.to_string();
        }
    }
    let mut text = String::with_capacity(question.len() + 2);
    text.push(' ');
    for w in &ws {
        text.push_str(&w.w);
        text.push(' ');
    }
    let has = |k: &str| {
        let bytes = text.as_bytes();
        text.match_indices(k).any(|(p, _)| p > 0 && bytes[p - 1] == b' ' && bytes.get(p + k.len()) == Some(&b' '))
    };

    if OFF_TOPIC.iter().any(|k| has(k)) {
        return unsupported(UnsupportedReason::OffTopic);
    }
    let mut rest: &[Word] = &ws;
    loop {
        let w = |i: usize| rest.get(i).map_or("", |x: &Word| x.w.as_str());
        rest = match (w(0), w(1), w(2)) {
            ("please" | "kindly" | "now" | "then", _, _) => &rest[1..],
            ("can" | "could" | "would" | "will", "you", _) => &rest[2..],
            ("go", "ahead", "and") => &rest[3..],
            _ => break,
        };
    }
    if rest.first().is_some_and(|f| ACTION_VERBS.contains(&f.w.as_str()))
        && rest.get(1).is_none_or(|s| !matches!(s.w.as_str(), "orders" | "order"))
    {
        return unsupported(UnsupportedReason::Action);
    }

    let mut scores = [0i32; ORDER.len()];
    for (k, c, weight) in KEYWORDS {
        if has(k) {
            if let Some(i) = ORDER.iter().position(|o| o == c) {
                scores[i] += weight;
            }
        }
    }
    let mut best = 0;
    for i in 1..ORDER.len() {
        if scores[i] > scores[best] {
            best = i;
        }
    }
    if scores[best] < 2 {
        let plant = PLANT_WORDS.iter().any(|k| has(k));
        return unsupported(if plant { UnsupportedReason::NotUnderstood } else { UnsupportedReason::OffTopic });
    }
    match ORDER[best] {
        Payback => Intent::Payback { lever: lever(&text), dimension: dimension(&text) },
        Clash => Intent::Clashes { variant: variant(&ws), station: station(&ws), robot: robot(&ws) },
        Reach => Intent::Reach { variant: variant(&ws), station: station(&ws), robot: robot(&ws) },
        Forecast => Intent::Forecast { asset: target(&ws) },
        Anomaly => Intent::Anomalies { target: target(&ws) },
        Bottleneck => Intent::Balance { line: line(&text), focus: BalanceFocus::Bottleneck },
        Takt => Intent::Balance { line: line(&text), focus: BalanceFocus::Takt },
        Balance => Intent::Balance { line: line(&text), focus: BalanceFocus::Balance },
        Throughput => Intent::Throughput { line: line(&text), scenario: scenario(&ws) },
        Current => Intent::CurrentState { target: target(&ws) },
        Help => Intent::Capabilities,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_transpositions_once() {
        assert_eq!(edit_distance(b"clahs", b"clash", 2), 1);
        assert_eq!(edit_distance(b"colide", b"collide", 2), 1);
        assert_eq!(edit_distance(b"abc", b"xyz", 1), 2);
    }

    #[test]
    fn typos_are_corrected_to_vocabulary_words() {
        assert_eq!(correct("bottlenek"), Some("bottleneck"));
        assert_eq!(correct("througput"), Some("throughput"));
        assert_eq!(correct("stage"), None);
        assert_eq!(correct("r01"), None);
    }

    #[test]
    fn odd_input_never_panics_and_long_input_is_cut() {
        for q in ["\0", "🤖🤖", "station 999999999999", "r99999 clash", "a'", "'s", "n't", "-", "/", ".", "A", "é"]
        {
            let _ = parse(q);
        }
        let long = "clash ".repeat(50_000) + "weatherrr";
        let t = std::time::Instant::now();
        assert_eq!(parse(&long).name(), "clashes");
        assert!(t.elapsed().as_secs_f64() < 1.0);
        let typos = "zzzzzzzzz ".repeat(20_000);
        assert_eq!(parse(&typos).name(), "unsupported");
    }

    #[test]
    fn names_keep_their_punctuation() {
        let ws = words("What's /Plant/Paint/Oven.energyPerCarKWh in A05_Seats? R01's can't.");
        let raw: Vec<&str> = ws.iter().map(|w| w.raw.as_str()).collect();
        assert_eq!(raw, ["What", "/Plant/Paint/Oven.energyPerCarKWh", "in", "A05_Seats", "R01", "can", "not"]);
        let w: Vec<&str> = ws.iter().map(|w| w.w.as_str()).collect();
        assert_eq!(w[5], "can");
        // USD's namespaced attributes keep their colon inside a path, and only there.
        let ws = words("Value of /Plant/Paint/Oven/Zone03.twinloom:temperature: note:state?");
        let raw: Vec<&str> = ws.iter().map(|w| w.raw.as_str()).collect();
        assert_eq!(raw, ["Value", "of", "/Plant/Paint/Oven/Zone03.twinloom:temperature", "note", "state"]);
    }
}
