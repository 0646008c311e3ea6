//! JavaScript values to engine types and back: options, payloads, topics and MQTT 5.0
//! properties, with MQTT.js's names. Every unknown or ill-typed option is an error that
//! names it.

use std::num::{NonZeroU16, NonZeroU32};

use bytes::Bytes;
use bytestring::ByteString;
use js_sys::{Array, ArrayBuffer, Function, Object, Reflect, Uint8Array};
use mqttwire::client::{ClientOptions, OfflineQos0, ReconnectOptions};
use mqttwire::{Duration, Properties, Property, ProtocolVersion, QoS, TopicName, Will};
use wasm_bindgen::{JsCast, JsValue};

use crate::error::{concat, decimal, hex, invalid, topic_error};

/// Connection options, with what the engine does not hold itself.
pub(crate) struct Options {
    pub(crate) engine: ClientOptions,
    /// A password function, called before every (re)connect.
    pub(crate) password_fn: Option<Function>,
}

/// The keys of an options object, for the unknown-option check; none for `undefined` or
/// `null`.
pub(crate) fn keys(value: &JsValue, what: &str) -> Result<Vec<String>, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(Vec::new());
    }
    if !value.is_object() || value.is_function() || Array::is_array(value) {
        return Err(invalid(&concat(&[what, " must be an object"])));
    }
    Ok(Object::keys(value.unchecked_ref::<Object>())
        .iter()
        .filter_map(|k| k.as_string())
        .collect())
}

/// `obj[key]`, `undefined` if reading it throws.
pub(crate) fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// A whole number from 0 to `max`. The message formats `max` as an integer, never as a
/// float: float formatting would add about 20 KB to the wasm.
fn number(v: &JsValue, name: &str, max: u32) -> Result<f64, JsValue> {
    match v.as_f64() {
        Some(n) if n >= 0.0 && n <= f64::from(max) && n.fract() == 0.0 => Ok(n),
        _ => Err(invalid(&concat(&[
            "option '",
            name,
            "' must be a whole number from 0 to ",
            &decimal(max),
        ]))),
    }
}

/// A whole number of milliseconds from [`number`] as a duration.
fn millis(n: f64) -> Duration {
    Duration::from_millis(n as u64)
}

pub(crate) fn boolean(v: &JsValue, name: &str) -> Result<bool, JsValue> {
    v.as_bool()
        .ok_or_else(|| invalid(&concat(&["option '", name, "' must be true or false"])))
}

fn string(v: &JsValue, name: &str) -> Result<String, JsValue> {
    v.as_string()
        .ok_or_else(|| invalid(&concat(&["option '", name, "' must be a string"])))
}

/// A payload: string (UTF-8), Uint8Array, ArrayBuffer or any ArrayBuffer view.
pub(crate) fn payload(v: &JsValue, name: &str) -> Result<Bytes, JsValue> {
    if v.is_undefined() || v.is_null() {
        return Ok(Bytes::new());
    }
    if let Some(s) = v.as_string() {
        return Ok(Bytes::from(s));
    }
    if let Some(array) = v.dyn_ref::<Uint8Array>() {
        return Ok(Bytes::from(array.to_vec()));
    }
    if let Some(buffer) = v.dyn_ref::<ArrayBuffer>() {
        return Ok(Bytes::from(Uint8Array::new(buffer).to_vec()));
    }
    if ArrayBuffer::is_view(v) {
        let buffer: ArrayBuffer = get(v, "buffer").unchecked_into();
        let offset = number(&get(v, "byteOffset"), name, u32::MAX)? as u32;
        let length = number(&get(v, "byteLength"), name, u32::MAX)? as u32;
        return Ok(Bytes::from(
            Uint8Array::new_with_byte_offset_and_length(&buffer, offset, length).to_vec(),
        ));
    }
    Err(invalid(&concat(&[
        "'",
        name,
        "' must be a string, Uint8Array or ArrayBuffer",
    ])))
}

/// A QoS option: 0, 1 or 2.
pub(crate) fn qos(v: &JsValue, name: &str) -> Result<QoS, JsValue> {
    if v.is_undefined() {
        return Ok(QoS::AtMostOnce);
    }
    QoS::from_u8(number(v, name, 2)? as u8)
        .ok_or_else(|| invalid(&concat(&["option '", name, "' must be 0, 1 or 2"])))
}

/// A topic name.
pub(crate) fn topic(v: &JsValue) -> Result<TopicName, JsValue> {
    let s = v
        .as_string()
        .ok_or_else(|| invalid("topic must be a string"))?;
    TopicName::new(s).map_err(|e| {
        crate::error::error(
            "INVALID_TOPIC",
            &concat(&["invalid topic: ", topic_error(&e)]),
            Some(0x90),
        )
    })
}

/// MQTT 5.0 properties from an MQTT.js-style object.
pub(crate) fn properties(v: &JsValue, what: &str) -> Result<Properties, JsValue> {
    let mut out = Properties::new();
    for key in keys(v, what)? {
        let value = get(v, &key);
        let name = concat(&[what, ".", &key]);
        let n = |max: u32| number(&value, &name, max);
        let nz16 = |x: f64| {
            NonZeroU16::new(x as u16)
                .ok_or_else(|| invalid(&concat(&["option '", &name, "' must not be 0"])))
        };
        let nz32 = |x: f64| {
            NonZeroU32::new(x as u32)
                .ok_or_else(|| invalid(&concat(&["option '", &name, "' must not be 0"])))
        };
        let p = match key.as_str() {
            "payloadFormatIndicator" => {
                Property::PayloadFormatIndicator(u8::from(boolean(&value, &name)?))
            }
            "messageExpiryInterval" => Property::MessageExpiryInterval(n(u32::MAX)? as u32),
            "contentType" => Property::ContentType(string(&value, &name)?.into()),
            "responseTopic" => Property::ResponseTopic(topic(&value)?),
            "correlationData" => Property::CorrelationData(payload(&value, &name)?),
            "subscriptionIdentifier" => Property::SubscriptionIdentifier(nz32(n(268_435_455)?)?),
            "sessionExpiryInterval" => Property::SessionExpiryInterval(n(u32::MAX)? as u32),
            "authenticationMethod" => Property::AuthenticationMethod(string(&value, &name)?.into()),
            "authenticationData" => Property::AuthenticationData(payload(&value, &name)?),
            "requestProblemInformation" => {
                Property::RequestProblemInformation(boolean(&value, &name)?)
            }
            "willDelayInterval" => Property::WillDelayInterval(n(u32::MAX)? as u32),
            "requestResponseInformation" => {
                Property::RequestResponseInformation(boolean(&value, &name)?)
            }
            "reasonString" => Property::ReasonString(string(&value, &name)?.into()),
            "receiveMaximum" => Property::ReceiveMaximum(nz16(n(65_535)?)?),
            "topicAliasMaximum" => Property::TopicAliasMaximum(n(65_535)? as u16),
            "topicAlias" => Property::TopicAlias(nz16(n(65_535)?)?),
            "maximumPacketSize" => Property::MaximumPacketSize(nz32(n(u32::MAX)?)?),
            "userProperties" => {
                for k in keys(&value, &name)? {
                    let vals = get(&value, &k);
                    let list: Vec<JsValue> = if Array::is_array(&vals) {
                        Array::from(&vals).to_vec()
                    } else {
                        vec![vals]
                    };
                    for item in list {
                        let item = item.as_string().ok_or_else(|| {
                            invalid(&concat(&[
                                "option '",
                                &name,
                                ".",
                                &k,
                                "' must be a string or an array of strings",
                            ]))
                        })?;
                        out.push(Property::UserProperty(
                            ByteString::from(k.clone()),
                            item.into(),
                        ));
                    }
                }
                continue;
            }
            _ => return Err(invalid(&concat(&["unknown option '", &name, "'"]))),
        };
        out.push(p);
    }
    Ok(out)
}

/// Properties as an MQTT.js-style object; `undefined` when there are none.
pub(crate) fn properties_to_js(props: &Properties) -> JsValue {
    if props.is_empty() {
        return JsValue::UNDEFINED;
    }
    let out = Object::new();
    let set = |key: &str, value: JsValue| {
        let _ = Reflect::set(&out, &JsValue::from_str(key), &value);
    };
    let bytes = |b: &Bytes| JsValue::from(Uint8Array::from(&b[..]));
    let mut ids: Option<Array> = None;
    let mut user: Option<Object> = None;
    for p in props {
        match p {
            Property::PayloadFormatIndicator(v) => set("payloadFormatIndicator", (*v == 1).into()),
            Property::MessageExpiryInterval(v) => set("messageExpiryInterval", (*v).into()),
            Property::ContentType(v) => set("contentType", JsValue::from_str(v)),
            Property::ResponseTopic(v) => set("responseTopic", JsValue::from_str(v)),
            Property::CorrelationData(v) => set("correlationData", bytes(v)),
            Property::SubscriptionIdentifier(v) => {
                ids.get_or_insert_with(Array::new).push(&v.get().into());
            }
            Property::SessionExpiryInterval(v) => set("sessionExpiryInterval", (*v).into()),
            Property::AssignedClientIdentifier(v) => {
                set("assignedClientIdentifier", JsValue::from_str(v))
            }
            Property::ServerKeepAlive(v) => set("serverKeepAlive", (*v).into()),
            Property::AuthenticationMethod(v) => set("authenticationMethod", JsValue::from_str(v)),
            Property::AuthenticationData(v) => set("authenticationData", bytes(v)),
            Property::ResponseInformation(v) => set("responseInformation", JsValue::from_str(v)),
            Property::ServerReference(v) => set("serverReference", JsValue::from_str(v)),
            Property::ReasonString(v) => set("reasonString", JsValue::from_str(v)),
            Property::ReceiveMaximum(v) => set("receiveMaximum", v.get().into()),
            Property::TopicAliasMaximum(v) => set("topicAliasMaximum", (*v).into()),
            Property::TopicAlias(v) => set("topicAlias", v.get().into()),
            Property::MaximumQoS(v) => set("maximumQos", (*v as u8).into()),
            Property::RetainAvailable(v) => set("retainAvailable", (*v).into()),
            Property::MaximumPacketSize(v) => set("maximumPacketSize", v.get().into()),
            Property::WildcardSubscriptionAvailable(v) => {
                set("wildcardSubscriptionAvailable", (*v).into())
            }
            Property::SubscriptionIdentifierAvailable(v) => {
                set("subscriptionIdentifiersAvailable", (*v).into())
            }
            Property::SharedSubscriptionAvailable(v) => {
                set("sharedSubscriptionAvailable", (*v).into())
            }
            Property::UserProperty(k, v) => {
                // MQTT.js shape: { name: value } or { name: [values] } for repeated names, in order.
                let map = user.get_or_insert_with(Object::new);
                let key = JsValue::from_str(k);
                let value = JsValue::from_str(v);
                let existing = Reflect::get(map, &key).unwrap_or(JsValue::UNDEFINED);
                let next: JsValue = if existing.is_undefined() {
                    value
                } else if Array::is_array(&existing) {
                    Array::from(&existing).push(&value);
                    existing
                } else {
                    Array::of2(&existing, &value).into()
                };
                let _ = Reflect::set(map, &key, &next);
            }
            _ => {}
        }
    }
    if let Some(ids) = ids {
        set("subscriptionIdentifier", ids.into());
    }
    if let Some(user) = user {
        set("userProperties", user.into());
    }
    out.into()
}

/// Parses `connect` options with MQTT.js's names.
pub(crate) fn options(v: &JsValue) -> Result<Options, JsValue> {
    let keys = keys(v, "options")?;
    let version = match get(v, "protocolVersion") {
        x if x.is_undefined() => ProtocolVersion::V311,
        x => match x.as_f64() {
            Some(4.0) => ProtocolVersion::V311,
            Some(5.0) => ProtocolVersion::V5,
            _ => {
                return Err(invalid(
                    "option 'protocolVersion' must be 4 (MQTT 3.1.1) or 5 (MQTT 5.0)",
                ));
            }
        },
    };
    let random = || (js_sys::Math::random() * 4_294_967_296.0) as u64;
    let mut o = ClientOptions::new(version, concat(&["mqttwire_", &hex(random(), 8)]));
    o.reconnect = Some(ReconnectOptions {
        seed: random() << 32 | random(),
        ..ReconnectOptions::default()
    });
    let mut password_fn = None;
    for key in keys {
        let value = get(v, &key);
        let name = key.as_str();
        match name {
            "protocolVersion" => {}
            "clientId" => o.client_id = string(&value, name)?.into(),
            "clean" => o.clean_start = boolean(&value, name)?,
            "keepalive" => o.keep_alive = number(&value, name, 65_535)? as u16,
            "username" => o.username = Some(string(&value, name)?.into()),
            "password" => {
                if let Some(f) = value.dyn_ref::<Function>() {
                    password_fn = Some(f.clone());
                } else {
                    o.password = Some(payload(&value, name)?);
                }
            }
            "connectTimeout" => o.connect_timeout = millis(number(&value, name, 3_600_000)?),
            "reconnectPeriod" => {
                let period = millis(number(&value, name, 3_600_000)?);
                if period.is_zero() {
                    o.reconnect = None;
                } else if let Some(r) = &mut o.reconnect {
                    r.min_delay = period;
                    r.max_delay = r.max_delay.max(period);
                }
            }
            "reconnect" => {
                let r = o.reconnect.get_or_insert_with(ReconnectOptions::default);
                for k in self::keys(&value, "reconnect")? {
                    let x = get(&value, &k);
                    let n = concat(&["reconnect.", &k]);
                    match k.as_str() {
                        "minDelay" => r.min_delay = millis(number(&x, &n, 3_600_000)?),
                        "maxDelay" => r.max_delay = millis(number(&x, &n, 3_600_000)?),
                        "maxAttempts" => r.max_attempts = Some(number(&x, &n, u32::MAX)? as u32),
                        _ => return Err(invalid(&concat(&["unknown option '", &n, "'"]))),
                    }
                }
            }
            "resubscribe" => o.resubscribe = boolean(&value, name)?,
            "queueQoSZero" => {
                o.offline_qos0 = if boolean(&value, name)? {
                    OfflineQos0::Queue
                } else {
                    OfflineQos0::Drop
                };
            }
            "maxQueuedBytes" => o.max_queued_bytes = number(&value, name, u32::MAX)? as usize,
            "maxInflight" => o.max_inflight = number(&value, name, 65_535)?.max(1.0) as u16,
            "properties" => {
                let props = properties(&value, "properties")?;
                for p in props.iter() {
                    match p {
                        Property::SessionExpiryInterval(s) => o.session_expiry = *s,
                        Property::ReceiveMaximum(r) => o.receive_maximum = r.get(),
                        Property::MaximumPacketSize(m) => o.max_packet_size = m.get(),
                        Property::TopicAliasMaximum(t) => o.topic_alias_maximum = *t,
                        other => o.properties.push(other.clone()),
                    }
                }
            }
            "will" => {
                let mut will = Will {
                    topic: TopicName::from_alias_placeholder(),
                    payload: Bytes::new(),
                    qos: QoS::AtMostOnce,
                    retain: false,
                    properties: Properties::new(),
                };
                for k in self::keys(&value, "will")? {
                    let x = get(&value, &k);
                    match k.as_str() {
                        "topic" => will.topic = topic(&x)?,
                        "payload" => will.payload = payload(&x, "will.payload")?,
                        "qos" => will.qos = qos(&x, "will.qos")?,
                        "retain" => will.retain = boolean(&x, "will.retain")?,
                        "properties" => will.properties = properties(&x, "will.properties")?,
                        _ => return Err(invalid(&concat(&["unknown option 'will.", &k, "'"]))),
                    }
                }
                if will.topic.is_empty() {
                    return Err(invalid("option 'will.topic' is required"));
                }
                o.will = Some(will);
            }
            _ => return Err(invalid(&concat(&["unknown option '", name, "'"]))),
        }
    }
    if version == ProtocolVersion::V311 && !o.properties.is_empty() {
        return Err(invalid("option 'properties' needs protocolVersion 5"));
    }
    Ok(Options {
        engine: o,
        password_fn,
    })
}
