//! ksync-refcount: under construction.
