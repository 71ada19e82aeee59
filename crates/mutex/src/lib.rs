//! ksync-mutex: under construction.
