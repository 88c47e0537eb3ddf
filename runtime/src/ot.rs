//! Oblivious transfer (to be written).
