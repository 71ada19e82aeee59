//! ksync-percpu: under construction.
