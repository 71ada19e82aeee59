//! ksync-spinlock: under construction.
