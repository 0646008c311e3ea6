//! One table per error type, from which both its `Display` text and its formatting-free
//! `message` come, so the two cannot drift apart. The browser client shows `message` (plus
//! what it formats itself): `core::fmt` and the `Display` texts would cost it kilobytes of
//! wasm.

/// `error_table!(Type { pattern => "fixed words" [, "format of the details", args...]; ... })`
/// implements `Type::message` (the fixed words) and `Display` (the fixed words, then the
/// details formatted). Patterns bind the fields the details use.
macro_rules! error_table {
    ($ty:ident { $($pat:pat => $msg:literal $(, $fmt:literal $(, $arg:expr)*)?;)+ }) => {
        impl $ty {
            /// What went wrong, in fixed words: the start of the `Display` text, without
            /// the values it formats and without any formatting code.
            #[allow(unused_variables)]
            pub const fn message(&self) -> &'static str {
                match self {
                    $($pat => $msg,)+
                }
            }
        }

        impl core::fmt::Display for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self {
                    $($pat => {
                        f.write_str($msg)?;
                        $(write!(f, $fmt $(, $arg)*)?;)?
                        Ok(())
                    })+
                }
            }
        }
    };
}
