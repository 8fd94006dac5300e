//! twinloom-flow (placeholder until its issue lands).
