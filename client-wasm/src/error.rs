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
