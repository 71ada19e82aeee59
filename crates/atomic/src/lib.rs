//! ksync-atomic: under construction.
