//! twinloom-biw (placeholder until its issue lands).
