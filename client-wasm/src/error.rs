//! Errors as JavaScript sees them: an `Error` with a stable `code` (and the MQTT
//! `reasonCode` where there is one).

use js_sys::{Error, Reflect};
use wasm_bindgen::JsValue;

/// An `Error` with `message`, `code` and, if given, `reasonCode`.
pub(crate) fn error(code: &str, message: &str, reason_code: Option<u8>) -> JsValue {
    let error = Error::new(message);
    error.set_name("MqttError");
    let _ = Reflect::set(&error, &"code".into(), &code.into());
    if let Some(reason) = reason_code {
        let _ = Reflect::set(&error, &"reasonCode".into(), &JsValue::from(reason));
    }
    error.into()
}

/// An invalid option or argument: code `INVALID_OPTION`.
pub(crate) fn invalid(message: &str) -> JsValue {
    error("INVALID_OPTION", message, None)
}

/// Joins message parts. Messages are built by concatenation rather than `format!`, which
/// keeps `core::fmt` call sites (and their argument tables) out of the wasm.
pub(crate) fn concat(parts: &[&str]) -> String {
    parts.concat()
}

/// `n` in decimal, without `core::fmt`.
pub(crate) fn decimal(mut n: u32) -> String {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    digits[i..].iter().map(|&d| char::from(d)).collect()
}

/// `n` as 8 lowercase hex digits (the low 32 bits), without `core::fmt`.
pub(crate) fn hex8(n: u64) -> String {
    (0..8)
        .rev()
        .map(|i| char::from(b"0123456789abcdef"[(n >> (i * 4)) as usize & 0xf]))
        .collect()
}
