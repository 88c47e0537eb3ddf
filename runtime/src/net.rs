//! The party channel (to be written).
