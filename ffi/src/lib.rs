//! twinloom-usd (bridge lands next).
