//! `sir bench`: measured throughput, bytes and rounds.
