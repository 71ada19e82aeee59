//! What the atomic test binaries share.

/// Runs `$body` once per backend built in this configuration, with `$m` naming the backend's
/// module (`ksync_atomic::__backends::portable` / `::x86`) and `$name` its name.
macro_rules! on_backends {
    (|$m:ident, $name:ident| $body:block) => {{
        {
            use ksync_atomic::__backends::portable as $m;
            let $name = "portable";
            $body
        }
        ksync_barrier::select_backend! {
            asm => {
                use ksync_atomic::__backends::x86 as $m;
                let $name = "x86-asm";
                $body
            },
            portable => {},
        }
    }};
}
