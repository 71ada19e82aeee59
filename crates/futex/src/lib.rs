//! ksync-futex: under construction.
