//! JavaScript values to engine types and back, the one place where they cross: options,
//! commands' arguments, payloads, topics, MQTT 5.0 properties with MQTT.js's names, and
//! the values events and promises hand to JavaScript. Every unknown or ill-typed option is
//! an error that names it.

use std::num::{NonZeroU16, NonZeroU32};

use bytes::Bytes;
use bytestring::ByteString;
use js_sys::{Array, ArrayBuffer, Function, Object, Reflect, Uint8Array};
use mqttwire::client::{ClientOptions, OfflineQos0, ReconnectOptions};
use mqttwire::topic::TopicFilter;
use mqttwire::{
    Duration, Properties, Property, ProtocolVersion, Publish, QoS, ReasonCode, RetainHandling,
    Subscription, SubscriptionOptions, TopicName, Will,
};
use wasm_bindgen::{JsCast, JsValue};

use crate::contract::ErrorCode;
use crate::error::{concat, decimal, error, hex, invalid, topic_error};

/// Connection options, with what the engine does not hold itself.
pub(crate) struct Options {
    pub(crate) engine: ClientOptions,
    /// A password function, called before every (re)connect.
    pub(crate) password_fn: Option<Function>,
}

/// The arguments of a subscribe, parsed.
pub(crate) struct Subscribe {
    /// The filters with their options.
    pub(crate) subscriptions: Vec<Subscription>,
    /// The filters as given, for the grants the promise resolves with.
    pub(crate) names: Vec<String>,
    /// SUBSCRIBE properties (5.0).
    pub(crate) properties: Properties,
}

/// `publish(topic, payload, options)` as a PUBLISH.
pub(crate) fn publish(
    topic: &JsValue,
    payload: &JsValue,
    options: &JsValue,
) -> Result<Publish, JsValue> {
    let mut publish = Publish::new(self::topic(topic)?, self::payload(payload, "payload")?);
    for key in keys(options, "publish options")? {
        let value = get(options, &key);
        match key.as_str() {
            "qos" => publish.qos = qos(&value, "qos")?,
            "retain" => publish.retain = boolean(&value, "retain")?,
            "dup" => {}
            "properties" => publish.properties = properties(&value, "properties")?,
            _ => return Err(invalid(&concat(&["unknown publish option '", &key, "'"]))),
        }
    }
    Ok(publish)
}

/// `subscribe(filters, options)`: one filter, an array of them, or MQTT.js's
/// `{ filter: { qos } }`.
pub(crate) fn subscribe(filters: &JsValue, options: &JsValue) -> Result<Subscribe, JsValue> {
    let mut defaults = SubscriptionOptions::default();
    let mut properties = Properties::new();
    for key in keys(options, "subscribe options")? {
        let value = get(options, &key);
        match key.as_str() {
            "qos" => defaults.qos = qos(&value, "qos")?,
            "nl" => defaults.no_local = boolean(&value, "nl")?,
            "rap" => defaults.retain_as_published = boolean(&value, "rap")?,
            "rh" => {
                defaults.retain_handling = match value.as_f64() {
                    Some(0.0) => RetainHandling::SendOnSubscribe,
                    Some(1.0) => RetainHandling::SendIfNew,
                    Some(2.0) => RetainHandling::DoNotSend,
                    _ => return Err(invalid("option 'rh' must be 0, 1 or 2")),
                }
            }
            "properties" => properties = self::properties(&value, "properties")?,
            _ => return Err(invalid(&concat(&["unknown subscribe option '", &key, "'"]))),
        }
    }
    let mut subscriptions = Vec::new();
    let mut names = Vec::new();
    let mut add = |name: String, options: SubscriptionOptions| -> Result<(), JsValue> {
        let filter = TopicFilter::new(name.clone()).map_err(|e| {
            error(
                ErrorCode::InvalidTopic,
                &concat(&["invalid topic filter '", &name, "': ", topic_error(&e)]),
                Some(0x8F),
            )
        })?;
        subscriptions.push(Subscription { filter, options });
        names.push(name);
        Ok(())
    };
    if let Some(one) = filters.as_string() {
        add(one, defaults)?;
    } else if Array::is_array(filters) {
        for f in Array::from(filters).iter() {
            add(
                f.as_string()
                    .ok_or_else(|| invalid("topic filters must be strings"))?,
                defaults,
            )?;
        }
    } else {
        // MQTT.js's { filter: { qos } } form.
        for name in keys(filters, "topic filters")? {
            let per = get(filters, &name);
            let qos = qos(&get(&per, "qos"), "qos")?;
            add(name, SubscriptionOptions { qos, ..defaults })?;
        }
    }
    Ok(Subscribe {
        subscriptions,
        names,
        properties,
    })
}

/// `unsubscribe(filters, options)`: the filters (one or an array) and the properties.
pub(crate) fn unsubscribe(
    filters: &JsValue,
    options: &JsValue,
) -> Result<(Vec<TopicFilter>, Properties), JsValue> {
    let mut properties = Properties::new();
    for key in keys(options, "unsubscribe options")? {
        match key.as_str() {
            "properties" => properties = self::properties(&get(options, &key), "properties")?,
            _ => {
                return Err(invalid(&concat(&[
                    "unknown unsubscribe option '",
                    &key,
                    "'",
                ])));
            }
        }
    }
    let list: Vec<JsValue> = if Array::is_array(filters) {
        Array::from(filters).to_vec()
    } else {
        vec![filters.clone()]
    };
    let mut parsed = Vec::new();
    for f in list {
        let name = f
            .as_string()
            .ok_or_else(|| invalid("topic filters must be strings"))?;
        parsed.push(TopicFilter::new(name).map_err(|e| {
            error(
                ErrorCode::InvalidTopic,
                &concat(&["invalid topic filter: ", topic_error(&e)]),
                Some(0x8F),
            )
        })?);
    }
    Ok((parsed, properties))
}

/// The filter of a message handler.
pub(crate) fn handler_filter(filter: &str) -> Result<TopicFilter, JsValue> {
    TopicFilter::new(filter)
        .map_err(|e| invalid(&concat(&["invalid topic filter: ", topic_error(&e)])))
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
        error(
            ErrorCode::InvalidTopic,
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

/// Bit 2 of a message's flags: retain (bits 0-1 hold the QoS).
pub(crate) const RETAIN_FLAG: u8 = 0x04;
/// Bit 3 of a message's flags: dup.
pub(crate) const DUP_FLAG: u8 = 0x08;

/// A message's flags, the third of its four values in a `messages` batch: QoS in bits
/// 0-1, then [`RETAIN_FLAG`] and [`DUP_FLAG`] (index.js reads them back).
pub(crate) fn message_flags(qos: QoS, retain: bool, dup: bool) -> u8 {
    qos as u8 | if retain { RETAIN_FLAG } else { 0 } | if dup { DUP_FLAG } else { 0 }
}

/// The third argument of a message handler: `{ qos, retain, properties }`.
pub(crate) fn handler_packet(publish: &Publish, properties: &JsValue) -> JsValue {
    let packet = Object::new();
    let _ = Reflect::set(&packet, &"qos".into(), &(publish.qos as u8).into());
    let _ = Reflect::set(&packet, &"retain".into(), &publish.retain.into());
    let _ = Reflect::set(&packet, &"properties".into(), properties);
    packet.into()
}

/// What a publish's promise resolves with: `{ reasonCode }`.
pub(crate) fn publish_result(reason_code: ReasonCode) -> JsValue {
    let result = Object::new();
    let _ = Reflect::set(&result, &"reasonCode".into(), &reason_code.0.into());
    result.into()
}

/// What a subscribe's promise resolves with: `[{ topic, qos }]`, one per filter.
pub(crate) fn grants(names: &[String], reason_codes: &[ReasonCode]) -> JsValue {
    let granted = Array::new();
    for (name, code) in names.iter().zip(reason_codes) {
        let g = Object::new();
        let _ = Reflect::set(&g, &"topic".into(), &JsValue::from_str(name));
        let _ = Reflect::set(&g, &"qos".into(), &granted_qos(*code).into());
        granted.push(&g);
    }
    granted.into()
}

/// A SUBACK code as MQTT.js reports it: the granted QoS, or 128 for a refused filter.
pub(crate) fn granted_qos(code: ReasonCode) -> u8 {
    if code.is_error() { 0x80 } else { code.0 }
}

/// What an unsubscribe's promise resolves with: the reason codes as numbers.
pub(crate) fn reason_codes(reason_codes: &[ReasonCode]) -> JsValue {
    let codes: Array = reason_codes.iter().map(|c| JsValue::from(c.0)).collect();
    codes.into()
}

/// Received messages' topics and payloads as JavaScript values.
#[derive(Default)]
pub(crate) struct Received {
    /// The WebSocket message being decoded, for handing payloads over as views of it.
    current: Option<(ArrayBuffer, Bytes)>,
    /// The last topic handed to JavaScript and its string: consecutive messages on one
    /// topic (a chat room, a metric) reuse it instead of decoding UTF-8 again.
    last_topic: Option<(ByteString, JsValue)>,
}

impl Received {
    /// The bytes of a WebSocket message, for the engine; payloads inside them become views
    /// of `buffer` until [`Received::done`].
    pub(crate) fn message(&mut self, buffer: ArrayBuffer) -> Bytes {
        let bytes = Bytes::from(Uint8Array::new(&buffer).to_vec());
        self.current = Some((buffer, bytes.clone()));
        bytes
    }

    /// Forgets the message: the engine is done with it.
    pub(crate) fn done(&mut self) {
        self.current = None;
    }

    /// The topic as a JavaScript string, reusing the last one when it repeats.
    pub(crate) fn topic(&mut self, topic: &TopicName) -> JsValue {
        if let Some((last, value)) = &self.last_topic
            && last.as_bytes() == topic.as_bytes()
        {
            return value.clone();
        }
        let value = JsValue::from_str(topic);
        self.last_topic = Some((topic.clone().into_inner(), value.clone()));
        value
    }

    /// The payload as a `Uint8Array` view of the received message when it lies inside it
    /// (no copy); otherwise a copy (a packet that spanned several messages).
    pub(crate) fn payload(&self, payload: &Bytes) -> JsValue {
        if let Some((buffer, base)) = &self.current
            && let Some(offset) = offset_within(base, payload)
        {
            return Uint8Array::new_with_byte_offset_and_length(
                buffer,
                offset,
                payload.len() as u32,
            )
            .into();
        }
        Uint8Array::from(&payload[..]).into()
    }
}

/// Where `part` starts in `base` if it lies wholly inside it (the same memory, not equal
/// bytes).
fn offset_within(base: &[u8], part: &[u8]) -> Option<u32> {
    let start = part.as_ptr() as usize;
    let base_start = base.as_ptr() as usize;
    (start >= base_start && start + part.len() <= base_start + base.len())
        .then(|| (start - base_start) as u32)
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
            // index.js opens the store and passes what it saved.
            #[cfg(feature = "store")]
            "store" => {}
            #[cfg(not(feature = "store"))]
            "store" => {
                return Err(invalid(
                    "option 'store' needs the client of 'mqttwire/store'",
                ));
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_flags_hold_qos_retain_and_dup() {
        assert_eq!(message_flags(QoS::AtMostOnce, false, false), 0);
        assert_eq!(message_flags(QoS::AtLeastOnce, false, false), 1);
        assert_eq!(message_flags(QoS::ExactlyOnce, false, false), 2);
        assert_eq!(message_flags(QoS::AtMostOnce, true, false), RETAIN_FLAG);
        assert_eq!(
            message_flags(QoS::ExactlyOnce, true, true),
            2 | RETAIN_FLAG | DUP_FLAG
        );
        assert_eq!(message_flags(QoS::AtLeastOnce, false, true), 1 | DUP_FLAG);
    }

    #[test]
    fn granted_qos_is_the_code_or_128_for_a_refusal() {
        assert_eq!(granted_qos(ReasonCode(0x00)), 0);
        assert_eq!(granted_qos(ReasonCode(0x02)), 2);
        assert_eq!(granted_qos(ReasonCode(0x80)), 0x80);
        assert_eq!(granted_qos(ReasonCode(0x87)), 0x80);
    }

    #[test]
    fn offset_within_finds_a_part_of_the_same_memory_only() {
        let base = [0u8; 16];
        assert_eq!(offset_within(&base, &base[3..9]), Some(3));
        assert_eq!(offset_within(&base, &base[..]), Some(0));
        assert_eq!(offset_within(&base, &base[16..]), Some(16));
        let copy = [0u8; 4];
        assert_eq!(offset_within(&base, &copy), None);
        assert_eq!(offset_within(&base[4..8], &base[2..6]), None);
        assert_eq!(offset_within(&base[4..8], &base[6..10]), None);
    }
}
