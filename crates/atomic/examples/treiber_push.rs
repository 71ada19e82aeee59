//! A lock-free stack push (Treiber's stack, the kernel's `llist_add()`) with `try_cmpxchg` on a
//! pointer-sized `AtomicLong`, and the consumer the kernel pairs it with: `llist_del_all()`,
//! which takes the *whole* list with one `xchg`.
//!
//! Producers push concurrently while a consumer repeatedly takes everything pushed so far; every
//! pushed value is consumed exactly once.
//!
//! # Why there is no concurrent `pop`
//!
//! The obvious pop, `head = read(top); next = head->next; cmpxchg(top, head, next)`, is broken
//! twice over when pops race:
//!
//! * **Use after free:** between reading `head` and reading `head->next`, another thread can pop
//!   `head` and free it.
//! * **ABA:** between reading `next` and the `cmpxchg`, other threads can pop `head`, pop
//!   `next`, free them, and push a *new* node that the allocator placed at `head`'s old
//!   address. The `cmpxchg` sees the same address, succeeds, and installs the stale `next`: a
//!   freed node is back on the stack.
//!
//! Push alone has neither problem: it never dereferences a node it does not own. A concurrent
//! pop needs more than a single-word CAS: safe memory reclamation (hazard pointers, epochs,
//! RCU) for the use after free, and a version tag next to the pointer (a double-width CAS) or
//! that reclamation for ABA. The kernel's `llist` sidesteps both: many producers `llist_add`,
//! and consumers only ever take the whole list with `xchg` (`llist_del_all`), or a single
//! consumer uses `llist_del_first` with no concurrent deleter. This example does the former.
//!
//! `cargo run -p ksync-atomic --example treiber_push`

use std::thread;

use ksync_atomic::AtomicLong;

const PRODUCERS: usize = 3;
const PER_PRODUCER: usize = 20_000;

struct Node {
    /// The next node, as the pointer-sized integer the list stores (0 = end).
    next: isize,
    value: usize,
}

/// The list head: a pointer to the newest node, held in an `atomic_long_t`.
struct Stack {
    head: AtomicLong,
}

impl Stack {
    /// `llist_add()`: link the new node in front of the current head, retrying on contention.
    fn push(&self, value: usize) {
        let node = Box::into_raw(Box::new(Node { next: 0, value }));
        let mut head = self.head.read();
        loop {
            // SAFETY: the node is ours until the cmpxchg publishes it.
            unsafe { (*node).next = head };
            // Release: the node's fields are written before the node becomes reachable; a
            // consumer's acquire `xchg` of the head then sees them (the later pushes' RMWs
            // continue the release sequence). On failure `head` is the newer head: retry.
            if self.head.try_cmpxchg_release(&mut head, node as isize) {
                return;
            }
        }
    }

    /// `llist_del_all()`: detach the whole list at once, newest first.
    fn take_all(&self) -> Vec<usize> {
        // Acquire: pairs with the pushes' releases, so every node reached below is initialised.
        let mut p = self.head.xchg_acquire(0);
        let mut out = Vec::new();
        while p != 0 {
            // SAFETY: the xchg made the detached nodes ours alone; each was a `Box` published
            // by `push`, and is freed exactly once, here.
            let node = unsafe { Box::from_raw(p as *mut Node) };
            out.push(node.value);
            p = node.next;
        }
        out
    }
}

fn main() {
    let stack = Stack {
        head: AtomicLong::new(0),
    };
    let mut consumed = Vec::new();
    thread::scope(|s| {
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|t| {
                let stack = &stack;
                s.spawn(move || {
                    for i in 0..PER_PRODUCER {
                        stack.push(t * PER_PRODUCER + i);
                    }
                })
            })
            .collect();
        // The consumer drains while the producers run.
        while !producers.iter().all(|p| p.is_finished()) {
            consumed.extend(stack.take_all());
            thread::yield_now();
        }
    });
    let batches_seen = consumed.len();
    consumed.extend(stack.take_all());

    // Per producer, values come out newest-first within a batch; every value exactly once.
    consumed.sort_unstable();
    let want: Vec<usize> = (0..PRODUCERS * PER_PRODUCER).collect();
    assert_eq!(consumed, want, "a push was lost or duplicated");
    println!(
        "treiber_push: {} values pushed by {PRODUCERS} threads, {batches_seen} taken while they ran, all exactly once",
        consumed.len()
    );
}
