//! `select!` and `select_blocking!`, and the hidden glue they expand to.

/// Waits on several channel operations at once and runs the arm of the one
/// that completes — Go's `select`, for async code (the `.await` is implicit).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use tether::chan;
///
/// let (tx, rx) = chan::bounded::<u32>(1);
/// let (tx2, rx2) = chan::bounded::<&str>(0);
/// let ctx = tether::Context::background();
/// tx.send(1).await.unwrap();
/// let got = tether::select! {
///     recv(rx) -> res => res.unwrap(),             // res: Result<u32, RecvError>
///     recv(rx2) -> res => { let _ = res; 0 },
///     send(tx2, "hi") -> res => { res.unwrap(); 0 } // res: Result<(), SendError<&str>>
///     done(ctx) => 0,                               // the context is done
///     after(Duration::from_secs(1)) => 0,           // timeout
/// };
/// assert_eq!(got, 1);
/// # drop((tx, rx2));
/// # });
/// ```
///
/// # Arms
///
/// | arm | ready when | runs with |
/// |---|---|---|
/// | `recv(rx) -> res => body` | a value can be received, or the channel is closed and drained | `res: Result<T, RecvError>` |
/// | `send(tx, value) -> res => body` | a receiver takes `value` or the buffer has room, or the channel is closed | `res: Result<(), SendError<T>>` |
/// | `done(ctx) => body` | the [`Context`](crate::Context) is done (a never-done context never is) | |
/// | `after(duration) => body` | `duration` has passed on tether's clock since the select started | |
/// | `tick(ticker) -> at => body` | the [`Ticker`](crate::time::Ticker)'s next tick is due (a stopped ticker never is) | `at: Instant`, the tick taken (the ticker's missed-tick policy applies) |
/// | `fut(future) -> out => body` | *`select!` only:* the future (anything `IntoFuture`) is ready | `out`: its output |
/// | `default => body` | no other arm is ready right now: the select does not wait | |
///
/// - Operands are borrowed, never moved: `recv(rx)`, `recv(&rx)`,
///   `done(ctx)`, `done(&ctx)` all work and leave the operand usable. The
///   `send` value is moved into the select.
/// - `-> res` may be left out (`recv(rx) => body`); `res` is any irrefutable
///   pattern.
/// - `tick(ticker)` borrows the ticker mutably for the select only: the
///   arm bodies can use it again (to `reset` it, say).
/// - A `fut(...)` future is polled only while no other arm can complete
///   (the select owns its token then), so a future that completes always
///   wins: its output is never dropped because another arm won at the
///   same instant. It is dropped, unfinished, if another arm wins first
///   (as in `tokio::select!`). Use it for anything that is not a tether
///   channel; a `Ticker` is better served by `tick(...)`.
/// - Any number of `recv`/`send`/`done` arms (up to 64 arms in all), at most
///   one `default`. For a set of channels known only at run time, use
///   [`chan::Select`](crate::chan::Select). A body is any expression; end it with `,`, or write a
///   block (`=> { ... }`) with or without a comma. All bodies have one type,
///   and the whole macro is an expression of that type.
///
/// # Go's rules
///
/// - Exactly one arm runs. If several are ready, one is chosen uniformly at
///   random. `default` runs only if none is ready.
/// - A `recv` on a closed, drained channel is ready, with
///   `Err(RecvError::Closed)`; a `send` on a closed channel is ready with
///   `Err(SendError(value))` (Go panics).
/// - An arm that does not run performs no operation. The value of a `send`
///   arm that does not run is **dropped** when the select ends (evaluate a
///   cheap value, or a clone, if you need it back).
/// - Readiness is judged at one instant: a select with `default` never
///   takes `default` while one of its arms stays ready.
/// - All operands, values and guards are evaluated once, in source order,
///   before the select starts (as in Go).
/// - A select with no enabled arm and no `default` waits forever, like
///   Go's `select {}`.
///
/// # Disabling an arm (Go's nil channel)
///
/// Two ways. A guard: `recv(rx) -> res if cond => body` (any arm takes
/// `if cond` just before its `=>`); a false guard disables the arm for this
/// select. Or an `Option` operand: `recv(opt_rx)` with
/// `opt_rx: Option<&Receiver<T>>` (or `Option<Receiver<T>>`) is disabled
/// while `None`, exactly like a nil channel in Go:
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use tether::chan;
/// let (atx, arx) = chan::bounded::<u32>(4);
/// let (btx, brx) = chan::bounded::<u32>(4);
/// for i in 0..3 { atx.send(i).await.unwrap(); btx.send(10 + i).await.unwrap(); }
/// drop((atx, btx));
/// // Merge two channels until both are closed: a closed input is set to
/// // None so the select stops picking it (Go: `a = nil`).
/// let (mut a, mut b) = (Some(&arx), Some(&brx));
/// let mut sum = 0;
/// while a.is_some() || b.is_some() {
///     tether::select! {
///         recv(a) -> v => match v { Ok(v) => sum += v, Err(_) => a = None },
///         recv(b) -> v => match v { Ok(v) => sum += v, Err(_) => b = None },
///     }
/// }
/// assert_eq!(sum, 0 + 1 + 2 + 10 + 11 + 12);
///
/// let want_more = false;
/// let r = tether::select! {
///     recv(arx) -> _v if want_more => "disabled by its guard",
///     default => "default",
/// };
/// assert_eq!(r, "default");
/// # });
/// ```
///
/// # Biased select
///
/// Start with `biased;` to try the arms in source order instead of at
/// random: the first ready arm wins. Useful to prefer cancellation or a
/// control channel; it can starve later arms under load.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let (tx, rx) = tether::chan::unbounded::<u32>();
/// let ctx = tether::Context::background();
/// tx.send(1).await.unwrap();
/// let (c, cancel) = ctx.with_cancel();
/// cancel.cancel();
/// let first = tether::select! {
///     biased;
///     done(c) => "done",
///     recv(rx) -> _v => "value",
/// };
/// assert_eq!(first, "done");
/// # });
/// ```
///
/// # Cancel safety
///
/// Dropping the select future at any await point completes no arm: no
/// value is sent, none is lost. (If a sender handed a value to a `recv` arm
/// just before the drop, that value is put back into the channel, at the
/// head of its buffer or into another waiting receiver.)
///
/// The future is `Send` when the channels' value types are `Send`; the
/// async select requires them to be `Send`.
///
/// # Every arm kind together
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use tether::{chan, time::Ticker};
///
/// let (tx, rx) = chan::bounded::<u32>(8);
/// let (ctx, _cancel) = tether::Context::background().with_timeout(Duration::from_millis(50));
/// let mut heartbeat = Ticker::new(Duration::from_millis(10));
/// let mut beats = 0;
/// tx.send(1).await.unwrap();
/// let got = loop {
///     tether::select! {
///         recv(rx) -> v => break v.unwrap(),
///         tick(heartbeat) => beats += 1,
///         fut(tokio::task::yield_now()) => {},
///         done(ctx) => break 0,
///     }
/// };
/// assert_eq!(got, 1);
/// # let _ = beats;
/// # });
/// ```
///
/// # Clear errors
///
/// An operand of the wrong kind is reported in terms of the arm, not of
/// the macro's internals:
///
/// ```compile_fail
/// let not_a_receiver = 5;
/// tether::select_blocking! {
///     recv(not_a_receiver) -> _v => {}, // error: `recv(...)` in a select takes a
///     default => {},                    // `tether::chan::Receiver<T>`, not `{integer}`
/// }
/// ```
///
/// and `fut(...)` in `select_blocking!` says it needs the async select:
///
/// ```compile_fail
/// tether::select_blocking! { fut(async {}) => {} }
/// ```
#[macro_export]
macro_rules! select {
    ($($tokens:tt)*) => {
        $crate::__tether_select!(@start (async) $($tokens)*)
    };
}

/// The same arms and rules as [`select!`], for threads: parks the calling
/// thread until an arm is ready (no async runtime needed).
///
/// ```
/// use std::time::Duration;
/// use tether::chan;
///
/// let (tx, rx) = chan::bounded::<u32>(0);
/// let tx2 = tx.clone();
/// let h = std::thread::spawn(move || tx2.send_blocking(7));
/// let v = tether::select_blocking! {
///     recv(rx) -> v => v.unwrap(),
///     after(Duration::from_secs(10)) => panic!("timed out"),
/// };
/// assert_eq!(v, 7);
/// h.join().unwrap().unwrap();
///
/// // A non-blocking receive (`tx` is still open, nothing is sent):
/// let r = tether::select_blocking! {
///     recv(rx) -> _v => "got one",
///     default => "nothing ready",
/// };
/// assert_eq!(r, "nothing ready");
/// drop(tx);
/// // A closed, drained channel is always ready:
/// let r = tether::select_blocking! {
///     recv(rx) -> v => { assert!(v.is_err()); "closed" },
///     default => "nothing ready",
/// };
/// assert_eq!(r, "closed");
/// ```
#[macro_export]
macro_rules! select_blocking {
    ($($tokens:tt)*) => {
        $crate::__tether_select!(@start (blocking) $($tokens)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __tether_select {
    (@start $m:tt $($t:tt)*) => {
        $crate::__tether_select!(@parse $m (false) [] [] [
            (__a0 __r0 0) (__a1 __r1 1) (__a2 __r2 2) (__a3 __r3 3) (__a4 __r4 4) (__a5 __r5 5)
            (__a6 __r6 6) (__a7 __r7 7) (__a8 __r8 8) (__a9 __r9 9) (__a10 __r10 10) (__a11 __r11 11)
            (__a12 __r12 12) (__a13 __r13 13) (__a14 __r14 14) (__a15 __r15 15) (__a16 __r16 16)
            (__a17 __r17 17) (__a18 __r18 18) (__a19 __r19 19) (__a20 __r20 20) (__a21 __r21 21)
            (__a22 __r22 22) (__a23 __r23 23) (__a24 __r24 24) (__a25 __r25 25) (__a26 __r26 26)
            (__a27 __r27 27) (__a28 __r28 28) (__a29 __r29 29) (__a30 __r30 30) (__a31 __r31 31)
            (__a32 __r32 32) (__a33 __r33 33) (__a34 __r34 34) (__a35 __r35 35) (__a36 __r36 36)
            (__a37 __r37 37) (__a38 __r38 38) (__a39 __r39 39) (__a40 __r40 40) (__a41 __r41 41)
            (__a42 __r42 42) (__a43 __r43 43) (__a44 __r44 44) (__a45 __r45 45) (__a46 __r46 46)
            (__a47 __r47 47) (__a48 __r48 48) (__a49 __r49 49) (__a50 __r50 50) (__a51 __r51 51)
            (__a52 __r52 52) (__a53 __r53 53) (__a54 __r54 54) (__a55 __r55 55) (__a56 __r56 56)
            (__a57 __r57 57) (__a58 __r58 58) (__a59 __r59 59) (__a60 __r60 60) (__a61 __r61 61)
            (__a62 __r62 62) (__a63 __r63 63)
        ] $($t)*)
    };

    // ---- parsing: one arm head at a time --------------------------------
    (@parse $m:tt $b:tt [] $def:tt $pool:tt biased; $($t:tt)*) => {
        $crate::__tether_select!(@parse $m (true) [] $def $pool $($t)*)
    };
    (@parse $m:tt $b:tt $arms:tt $def:tt $pool:tt) => {
        $crate::__tether_select!(@emit $m $b $arms $def)
    };
    (@parse $m:tt $b:tt $arms:tt [] $pool:tt default => $($t:tt)*) => {
        $crate::__tether_select!(@body $m $b $arms [] $pool (default) $($t)*)
    };
    (@parse $m:tt $b:tt $arms:tt [$($d:tt)+] $pool:tt default $($t:tt)*) => {
        ::core::compile_error!("tether::select: at most one `default` arm")
    };
    (@parse $m:tt $b:tt $arms:tt $def:tt [($a:ident $r:ident $n:tt) $($pool:tt)*]
        recv($rx:expr) -> $res:pat $(if $g:expr)? => $($t:tt)*) => {
        $crate::__tether_select!(@body $m $b $arms $def [$($pool)*]
            ($a $r $n plain ($crate::chan::__private::recv_arm(&$rx, true $(&& $g)?)) ($res)) $($t)*)
    };
    (@parse $m:tt $b:tt $arms:tt $def:tt [($a:ident $r:ident $n:tt) $($pool:tt)*]
        recv($rx:expr) $(if $g:expr)? => $($t:tt)*) => {
        $crate::__tether_select!(@body $m $b $arms $def [$($pool)*]
            ($a $r $n plain ($crate::chan::__private::recv_arm(&$rx, true $(&& $g)?)) (_)) $($t)*)
    };
    (@parse $m:tt $b:tt $arms:tt $def:tt [($a:ident $r:ident $n:tt) $($pool:tt)*]
        send($tx:expr, $v:expr $(,)?) -> $res:pat $(if $g:expr)? => $($t:tt)*) => {
        $crate::__tether_select!(@body $m $b $arms $def [$($pool)*]
            ($a $r $n plain ($crate::chan::__private::send_arm(&$tx, $v, true $(&& $g)?)) ($res)) $($t)*)
    };
    (@parse $m:tt $b:tt $arms:tt $def:tt [($a:ident $r:ident $n:tt) $($pool:tt)*]
        send($tx:expr, $v:expr $(,)?) $(if $g:expr)? => $($t:tt)*) => {
        $crate::__tether_select!(@body $m $b $arms $def [$($pool)*]
            ($a $r $n plain ($crate::chan::__private::send_arm(&$tx, $v, true $(&& $g)?)) (_)) $($t)*)
    };
    (@parse $m:tt $b:tt $arms:tt $def:tt [($a:ident $r:ident $n:tt) $($pool:tt)*]
        done($c:expr) $(if $g:expr)? => $($t:tt)*) => {
        $crate::__tether_select!(@body $m $b $arms $def [$($pool)*]
            ($a $r $n plain ($crate::chan::__private::done_arm(&$c, true $(&& $g)?)) (_)) $($t)*)
    };
    (@parse $m:tt $b:tt $arms:tt $def:tt [($a:ident $r:ident $n:tt) $($pool:tt)*]
        after($d:expr) $(if $g:expr)? => $($t:tt)*) => {
        $crate::__tether_select!(@body $m $b $arms $def [$($pool)*]
            ($a $r $n plain ($crate::chan::__private::after_arm($d, true $(&& $g)?)) (_)) $($t)*)
    };
    (@parse $m:tt $b:tt $arms:tt $def:tt [($a:ident $r:ident $n:tt) $($pool:tt)*]
        tick($tk:expr) -> $res:pat $(if $g:expr)? => $($t:tt)*) => {
        $crate::__tether_select!(@body $m $b $arms $def [$($pool)*]
            ($a $r $n plain ($crate::chan::__private::tick_arm(&mut $tk, true $(&& $g)?)) ($res)) $($t)*)
    };
    (@parse $m:tt $b:tt $arms:tt $def:tt [($a:ident $r:ident $n:tt) $($pool:tt)*]
        tick($tk:expr) $(if $g:expr)? => $($t:tt)*) => {
        $crate::__tether_select!(@body $m $b $arms $def [$($pool)*]
            ($a $r $n plain ($crate::chan::__private::tick_arm(&mut $tk, true $(&& $g)?)) (_)) $($t)*)
    };
    (@parse (blocking) $b:tt $arms:tt $def:tt $pool:tt fut $($t:tt)*) => {
        ::core::compile_error!(
            "tether::select_blocking: `fut(...)` arms need the async `tether::select!` (a blocking select has no task to poll a future in)"
        )
    };
    (@parse $m:tt $b:tt $arms:tt $def:tt [($a:ident $r:ident $n:tt) $($pool:tt)*]
        fut($f:expr) -> $res:pat $(if $g:expr)? => $($t:tt)*) => {
        $crate::__tether_select!(@body $m $b $arms $def [$($pool)*]
            ($a $r $n pinned ($crate::chan::__private::fut_arm($f, true $(&& $g)?)) ($res)) $($t)*)
    };
    (@parse $m:tt $b:tt $arms:tt $def:tt [($a:ident $r:ident $n:tt) $($pool:tt)*]
        fut($f:expr) $(if $g:expr)? => $($t:tt)*) => {
        $crate::__tether_select!(@body $m $b $arms $def [$($pool)*]
            ($a $r $n pinned ($crate::chan::__private::fut_arm($f, true $(&& $g)?)) (_)) $($t)*)
    };
    (@parse $m:tt $b:tt $arms:tt $def:tt [] $($t:tt)+) => {
        ::core::compile_error!("tether::select: too many arms (at most 64)")
    };
    (@parse $m:tt $b:tt $arms:tt $def:tt $pool:tt $($t:tt)+) => {
        ::core::compile_error!(::core::concat!(
            "tether::select: expected an arm `recv(rx) -> res => ...`, `send(tx, value) -> res => ...`, ",
            "`done(ctx) => ...`, `after(duration) => ...`, `tick(ticker) -> at => ...`, ",
            "`fut(future) -> output => ...` (async only) or `default => ...`, found: ",
            ::core::stringify!($($t)+)
        ))
    };

    // ---- parsing: the body after `=>` -----------------------------------
    (@body $m:tt $b:tt $arms:tt [] $pool:tt (default) $body:block , $($t:tt)*) => {
        $crate::__tether_select!(@parse $m $b $arms [($body)] $pool $($t)*)
    };
    (@body $m:tt $b:tt $arms:tt [] $pool:tt (default) $body:block $($t:tt)*) => {
        $crate::__tether_select!(@parse $m $b $arms [($body)] $pool $($t)*)
    };
    (@body $m:tt $b:tt $arms:tt [] $pool:tt (default) $body:expr , $($t:tt)*) => {
        $crate::__tether_select!(@parse $m $b $arms [($body)] $pool $($t)*)
    };
    (@body $m:tt $b:tt $arms:tt [] $pool:tt (default) $body:expr) => {
        $crate::__tether_select!(@parse $m $b $arms [($body)] $pool)
    };
    (@body $m:tt $b:tt [$($arms:tt)*] $def:tt $pool:tt ($($head:tt)*) $body:block , $($t:tt)*) => {
        $crate::__tether_select!(@parse $m $b [$($arms)* ($($head)* ($body))] $def $pool $($t)*)
    };
    (@body $m:tt $b:tt [$($arms:tt)*] $def:tt $pool:tt ($($head:tt)*) $body:block $($t:tt)*) => {
        $crate::__tether_select!(@parse $m $b [$($arms)* ($($head)* ($body))] $def $pool $($t)*)
    };
    (@body $m:tt $b:tt [$($arms:tt)*] $def:tt $pool:tt ($($head:tt)*) $body:expr , $($t:tt)*) => {
        $crate::__tether_select!(@parse $m $b [$($arms)* ($($head)* ($body))] $def $pool $($t)*)
    };
    (@body $m:tt $b:tt [$($arms:tt)*] $def:tt $pool:tt ($($head:tt)*) $body:expr) => {
        $crate::__tether_select!(@parse $m $b [$($arms)* ($($head)* ($body))] $def $pool)
    };

    // ---- code generation -------------------------------------------------
    (@has_default) => { false };
    (@has_default $($d:tt)+) => { true };
    (@default_body) => { ::core::unreachable!("tether::select: no arm won") };
    (@default_body ($body:expr)) => { $body };
    // A `fut(...)` arm's future is pinned where it stands for the select.
    (@pin plain $a:ident) => {};
    (@pin pinned $a:ident) => { let mut $a = ::core::pin::pin!($a); };

    (@emit (blocking) ($b:tt)
        [$(($a:ident $r:ident $n:tt $k:ident ($ctor:expr) ($pat:pat) ($body:expr)))*] [$($def:tt)*]) => {{
        // A `match` keeps the operands' temporaries (`recv(&rx)`,
        // `recv(make_rx())`) alive for the whole select.
        #[allow(unused_mut)]
        let ($($r,)* __w) = match ($($ctor,)*) { ($(mut $a,)*) => {
            let __arms: &mut [&mut dyn $crate::chan::__private::Arm] = &mut [$(&mut $a),*];
            let __w = $crate::chan::__private::select_blocking(
                __arms, $crate::__tether_select!(@has_default $($def)*), $b);
            ($( $crate::chan::__private::take_if(&mut $a, __w == ::core::option::Option::Some($n)), )* __w)
        } };
        match __w {
            $( ::core::option::Option::Some($n) => {
                #[allow(unused_variables)]
                let $pat = $crate::chan::__private::unwrap($r);
                $body
            } )*
            _ => { $crate::__tether_select!(@default_body $($def)*) }
        }
    }};
    (@emit (async) ($b:tt)
        [$(($a:ident $r:ident $n:tt $k:ident ($ctor:expr) ($pat:pat) ($body:expr)))*] [$($def:tt)*]) => {{
        #[allow(unused_mut)]
        let ($($r,)* __w) = match ($($ctor,)*) { ($(mut $a,)*) => {
            $( $crate::__tether_select!(@pin $k $a); )*
            let __arms: &mut [&mut (dyn $crate::chan::__private::Arm + ::core::marker::Send)] = &mut [$(&mut $a),*];
            let __w = $crate::chan::__private::MacroSelectFuture::new(
                __arms, $crate::__tether_select!(@has_default $($def)*), $b).await;
            ($( $crate::chan::__private::take_if(&mut $a, __w == ::core::option::Option::Some($n)), )* __w)
        } };
        match __w {
            $( ::core::option::Option::Some($n) => {
                #[allow(unused_variables)]
                let $pat = $crate::chan::__private::unwrap($r);
                $body
            } )*
            _ => { $crate::__tether_select!(@default_body $($def)*) }
        }
    }};
}
