//! The twin's payback ledger (issue 19, docs/payback.md): what the twin was projected to save against what
//! it measurably saves, month by month. A ledger file holds the investment by phase, the levers with their
//! projected monthly savings (change orders avoided by the virtual collision and reach checks, throughput
//! from balancing, energy from paint setpoints, downtime avoided by prediction…) and the monthly actuals;
//! [`evaluate`] gives the payback month planned and as measured (recalibrated monthly from the actuals),
//! and the gap per lever and per dimension (cost, efficiency, quality, revenue). Pure and deterministic:
//! no USD, no clock.

pub mod error;
pub mod ledger;
pub mod month;
pub mod report;

pub use error::{PaybackError, Result};
pub use ledger::{parse_ledger, read_ledger, Actual, Investment, Ledger, Lever, Measure, DIMENSIONS};
pub use month::Month;
pub use report::{evaluate, money, Gap, MonthRow, Report};
