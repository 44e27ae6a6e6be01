//! The two channel operations, each usable alone (`send`, `recv` and their
//! blocking forms drive them directly, with the node's own token) or as
//! one arm of a `select` (driven by `select.rs`, with the select's token).
//!
//! An operation's life: *start* (under one lock: complete now, or link a
//! waiter node), *wait* (spin/park, or `Pending`), then *collect* the
//! token's outcome: `Done` (a peer completed it) or `Notified` (retry it).
//! Dropped while waiting, it *cancels*: either nobody claimed it (unlink,
//! nothing happened), or a peer did, and what the peer gave is passed on
//! ([`abandon`](RecvArm::abandon)).

use std::ptr::NonNull;

use super::core::Chan;
pub(crate) use super::recv::{RecvArm, RecvState};
pub(crate) use super::send::SendArm;
use super::waiter::{Role, Waiter};
pub(crate) use crate::waiter::Owner;
use crate::waiter::{Backoff, Token};

/// Backoff rounds before a blocking operation links itself and waits (all
/// short spins, see `Backoff`): a peer running on the other core usually
/// answers within ~100 ns, sparing the lock round trip of linking; longer
/// only keeps the CPU from peers when threads outnumber cores (measured:
/// 7 rounds doubled the 4×4 cap-1 cost against 3).
const SPIN_BEFORE_LINKING: u32 = 3;

/// Spins (on the channel's lock-free hint) while it is worth it; true if
/// the hint says the operation might now complete.
pub(super) fn spin_on(hint: impl Fn() -> bool) -> bool {
    let mut backoff = Backoff::new();
    if !backoff.spins() {
        // One CPU: the peer cannot answer while we wait, and yielding to
        // it before we are linked only makes it wait for us in turn (two
        // context switches per message on a pinned rendezvous instead of
        // one). Link at once; the peer finds us when it runs.
        return hint();
    }
    for _ in 0..SPIN_BEFORE_LINKING {
        if hint() {
            return true;
        }
        backoff.snooze();
    }
    hint()
}

/// The operation's node, taken from the channel's pool on its first wait,
/// made ready to link: pointed at the token that completes it — a select's
/// `ext`, or the node's own, armed for `owner` — as arm `arm` in `role`.
///
/// # Safety
///
/// The caller holds `chan`'s lock, and `slot` is the operation's own node
/// slot (its node, if any, is unlinked).
pub(super) unsafe fn ready_node<T>(
    chan: &Chan<T>,
    slot: &mut Option<NonNull<Waiter<T>>>,
    ext: Option<&Token>,
    owner: Owner<'_>,
    arm: usize,
    role: Role,
) -> NonNull<Waiter<T>> {
    // SAFETY: the caller holds the lock (the pool is taken from under it).
    let node = *slot.get_or_insert_with(|| unsafe { chan.pool.take() });
    // SAFETY: the node is ours and unlinked; the caller holds the lock.
    unsafe {
        let n = node.as_ref();
        let token: *const Token = match ext {
            Some(t) => t,
            None => {
                owner.arm(n.own_token());
                n.own_token()
            }
        };
        n.meta_mut(|m| {
            m.token = token;
            m.arm = arm;
            m.role = role;
            m.granted = false;
        });
    }
    node
}

/// Makes sure no peer can touch `node` any more (settling its token if it
/// may still be claimed), then frees it; a value in its slot is dropped.
/// Only for arms dropped without their select having cancelled them.
pub(super) fn defuse<T>(chan: Option<&Chan<T>>, node: NonNull<Waiter<T>>, registered: bool) {
    let Some(chan) = chan else { return };
    // SAFETY: the node is ours; its token outlives it (a leaked select's
    // memory is never freed); after `settle` no peer claims it, and after
    // the unlink under the lock none can reach it.
    unsafe {
        if registered {
            node.as_ref().token().settle();
        }
        chan.lock().unlink(node);
        drop(node.as_ref().slot(|s| s.take()));
        chan.pool.give(node);
    }
}
