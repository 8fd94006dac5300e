//! twinloom-usd-schemas (placeholder until its issue lands).
