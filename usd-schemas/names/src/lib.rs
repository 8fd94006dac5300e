//! twinloom-usd-names (placeholder until its issue lands).
