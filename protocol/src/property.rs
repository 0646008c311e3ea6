//! MQTT 5.0 properties (spec 2.2.2): every property with its wire type, where it may
//! appear, and whether it may repeat. [`Properties`] keeps them in wire order, so user
//! properties stay in the order they were sent [MQTT-3.3.2-18].

use core::num::{NonZeroU16, NonZeroU32};

use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use crate::codec::{MAX_VAR_INT, Reader, field_len, put_field, put_var_int, str_len, var_int_len};
use crate::error::{DecodeError, EncodeError};
use crate::topic::TopicName;
use crate::types::{PropertyId, QoS};

/// The most properties one packet may carry when decoded (user properties and
/// subscription identifiers are the ones that repeat). A property of a few bytes on the
/// wire takes tens of bytes decoded, so without a cap a large packet could cost its
/// receiver an order of magnitude more memory than it sent.
pub const MAX_PROPERTIES: usize = 1024;

/// One MQTT 5.0 property with its value. Values the spec restricts are typed so that
/// only allowed values can be held (a Topic Alias is never 0, Maximum QoS never 2).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Property {
    /// 0x01, byte: 0 unspecified bytes, 1 UTF-8; other values are kept as received.
    PayloadFormatIndicator(u8),
    /// 0x02, four-byte integer: lifetime of the message in seconds.
    MessageExpiryInterval(u32),
    /// 0x03, string: MIME type of the payload.
    ContentType(ByteString),
    /// 0x08, string: topic name for a response [MQTT-3.3.2-14].
    ResponseTopic(TopicName),
    /// 0x09, binary: correlation data for request/response.
    CorrelationData(Bytes),
    /// 0x0B, variable byte integer 1 to 268,435,455.
    SubscriptionIdentifier(NonZeroU32),
    /// 0x11, four-byte integer: session expiry in seconds.
    SessionExpiryInterval(u32),
    /// 0x12, string: client id the server assigned.
    AssignedClientIdentifier(ByteString),
    /// 0x13, two-byte integer: keep alive the server imposes.
    ServerKeepAlive(u16),
    /// 0x15, string: enhanced authentication method.
    AuthenticationMethod(ByteString),
    /// 0x16, binary: enhanced authentication data.
    AuthenticationData(Bytes),
    /// 0x17, byte 0 or 1.
    RequestProblemInformation(bool),
    /// 0x18, four-byte integer: will delay in seconds.
    WillDelayInterval(u32),
    /// 0x19, byte 0 or 1.
    RequestResponseInformation(bool),
    /// 0x1A, string: basis for response topics.
    ResponseInformation(ByteString),
    /// 0x1C, string: another server to use.
    ServerReference(ByteString),
    /// 0x1F, string: human-readable reason.
    ReasonString(ByteString),
    /// 0x21, two-byte integer, not 0: in-flight QoS 1/2 limit.
    ReceiveMaximum(NonZeroU16),
    /// 0x22, two-byte integer: highest topic alias accepted.
    TopicAliasMaximum(u16),
    /// 0x23, two-byte integer, not 0.
    TopicAlias(NonZeroU16),
    /// 0x24, byte 0 or 1: highest QoS the server supports.
    MaximumQoS(QoS),
    /// 0x25, byte 0 or 1.
    RetainAvailable(bool),
    /// 0x26, string pair; may repeat, order kept.
    UserProperty(ByteString, ByteString),
    /// 0x27, four-byte integer, not 0.
    MaximumPacketSize(NonZeroU32),
    /// 0x28, byte 0 or 1.
    WildcardSubscriptionAvailable(bool),
    /// 0x29, byte 0 or 1.
    SubscriptionIdentifierAvailable(bool),
    /// 0x2A, byte 0 or 1.
    SharedSubscriptionAvailable(bool),
}

impl Property {
    /// The property's identifier.
    pub fn id(&self) -> PropertyId {
        use Property::*;
        PropertyId(match self {
            PayloadFormatIndicator(_) => 0x01,
            MessageExpiryInterval(_) => 0x02,
            ContentType(_) => 0x03,
            ResponseTopic(_) => 0x08,
            CorrelationData(_) => 0x09,
            SubscriptionIdentifier(_) => 0x0B,
            SessionExpiryInterval(_) => 0x11,
            AssignedClientIdentifier(_) => 0x12,
            ServerKeepAlive(_) => 0x13,
            AuthenticationMethod(_) => 0x15,
            AuthenticationData(_) => 0x16,
            RequestProblemInformation(_) => 0x17,
            WillDelayInterval(_) => 0x18,
            RequestResponseInformation(_) => 0x19,
            ResponseInformation(_) => 0x1A,
            ServerReference(_) => 0x1C,
            ReasonString(_) => 0x1F,
            ReceiveMaximum(_) => 0x21,
            TopicAliasMaximum(_) => 0x22,
            TopicAlias(_) => 0x23,
            MaximumQoS(_) => 0x24,
            RetainAvailable(_) => 0x25,
            UserProperty(..) => 0x26,
            MaximumPacketSize(_) => 0x27,
            WildcardSubscriptionAvailable(_) => 0x28,
            SubscriptionIdentifierAvailable(_) => 0x29,
            SharedSubscriptionAvailable(_) => 0x2A,
        })
    }

    /// Bytes on the wire: identifier and value.
    fn wire_len(&self) -> Result<usize, EncodeError> {
        use Property::*;
        let what = "property";
        Ok(1 + match self {
            PayloadFormatIndicator(_)
            | RequestProblemInformation(_)
            | RequestResponseInformation(_)
            | MaximumQoS(_)
            | RetainAvailable(_)
            | WildcardSubscriptionAvailable(_)
            | SubscriptionIdentifierAvailable(_)
            | SharedSubscriptionAvailable(_) => 1,
            ServerKeepAlive(_) | ReceiveMaximum(_) | TopicAliasMaximum(_) | TopicAlias(_) => 2,
            MessageExpiryInterval(_)
            | SessionExpiryInterval(_)
            | WillDelayInterval(_)
            | MaximumPacketSize(_) => 4,
            SubscriptionIdentifier(id) => {
                if id.get() > MAX_VAR_INT {
                    return Err(EncodeError::InvalidPropertyValue(self.id()));
                }
                var_int_len(id.get() as usize)
            }
            ContentType(s)
            | AssignedClientIdentifier(s)
            | AuthenticationMethod(s)
            | ResponseInformation(s)
            | ServerReference(s)
            | ReasonString(s) => str_len(s, what)?,
            ResponseTopic(t) if t.is_empty() => {
                return Err(EncodeError::InvalidPropertyValue(self.id()));
            }
            ResponseTopic(t) => str_len(t.as_str(), what)?,
            CorrelationData(b) | AuthenticationData(b) => field_len(b.len(), what)?,
            UserProperty(k, v) => str_len(k, what)? + str_len(v, what)?,
        })
    }

    fn write(&self, dst: &mut BytesMut) {
        use Property::*;
        dst.put_u8(self.id().0);
        match self {
            PayloadFormatIndicator(v) => dst.put_u8(*v),
            RequestProblemInformation(v)
            | RequestResponseInformation(v)
            | RetainAvailable(v)
            | WildcardSubscriptionAvailable(v)
            | SubscriptionIdentifierAvailable(v)
            | SharedSubscriptionAvailable(v) => dst.put_u8(u8::from(*v)),
            MaximumQoS(q) => dst.put_u8(*q as u8),
            ServerKeepAlive(v) | TopicAliasMaximum(v) => dst.put_u16(*v),
            ReceiveMaximum(v) | TopicAlias(v) => dst.put_u16(v.get()),
            MessageExpiryInterval(v) | SessionExpiryInterval(v) | WillDelayInterval(v) => {
                dst.put_u32(*v)
            }
            MaximumPacketSize(v) => dst.put_u32(v.get()),
            SubscriptionIdentifier(v) => put_var_int(dst, v.get() as usize),
            ContentType(s)
            | AssignedClientIdentifier(s)
            | AuthenticationMethod(s)
            | ResponseInformation(s)
            | ServerReference(s)
            | ReasonString(s) => put_field(dst, s.as_bytes()),
            ResponseTopic(t) => put_field(dst, t.as_str().as_bytes()),
            CorrelationData(b) | AuthenticationData(b) => put_field(dst, b),
            UserProperty(k, v) => {
                put_field(dst, k.as_bytes());
                put_field(dst, v.as_bytes());
            }
        }
    }

    fn read(id: PropertyId, r: &mut Reader) -> Result<Property, DecodeError> {
        use Property::*;
        let field = "property";
        let invalid = |value: u32| DecodeError::InvalidPropertyValue {
            property: id,
            value,
        };
        let flag = |value: u8| match value {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(invalid(u32::from(other))),
        };
        Ok(match id.0 {
            0x01 => PayloadFormatIndicator(r.u8(field)?),
            0x02 => MessageExpiryInterval(r.u32(field)?),
            0x03 => ContentType(r.string("content type")?),
            0x08 => {
                let topic = r.string("response topic")?;
                // [MQTT-3.3.2-14] the Response Topic MUST NOT contain wildcards
                ResponseTopic(TopicName::new(topic).map_err(DecodeError::InvalidTopicName)?)
            }
            0x09 => CorrelationData(r.binary("correlation data")?),
            0x0B => {
                let value = r.var_int(field)?;
                // [MQTT-3.8.2.1.2] a Subscription Identifier of 0 is a Protocol Error
                SubscriptionIdentifier(NonZeroU32::new(value).ok_or_else(|| invalid(0))?)
            }
            0x11 => SessionExpiryInterval(r.u32(field)?),
            0x12 => AssignedClientIdentifier(r.string("assigned client identifier")?),
            0x13 => ServerKeepAlive(r.u16(field)?),
            0x15 => AuthenticationMethod(r.string("authentication method")?),
            0x16 => AuthenticationData(r.binary("authentication data")?),
            0x17 => RequestProblemInformation(flag(r.u8(field)?)?),
            0x18 => WillDelayInterval(r.u32(field)?),
            0x19 => RequestResponseInformation(flag(r.u8(field)?)?),
            0x1A => ResponseInformation(r.string("response information")?),
            0x1C => ServerReference(r.string("server reference")?),
            0x1F => ReasonString(r.string("reason string")?),
            // [MQTT-3.1.2.11.3] / [MQTT-3.2.2.3.3] a Receive Maximum of 0 is a Protocol Error
            0x21 => ReceiveMaximum(NonZeroU16::new(r.u16(field)?).ok_or_else(|| invalid(0))?),
            0x22 => TopicAliasMaximum(r.u16(field)?),
            // [MQTT-3.3.2-8] a Topic Alias of 0 is a Protocol Error
            0x23 => TopicAlias(NonZeroU16::new(r.u16(field)?).ok_or_else(|| invalid(0))?),
            0x24 => match r.u8(field)? {
                0 => MaximumQoS(QoS::AtMostOnce),
                1 => MaximumQoS(QoS::AtLeastOnce),
                other => return Err(invalid(u32::from(other))),
            },
            0x25 => RetainAvailable(flag(r.u8(field)?)?),
            0x26 => UserProperty(
                r.string("user property name")?,
                r.string("user property value")?,
            ),
            // [MQTT-3.1.2.11.4] a Maximum Packet Size of 0 is a Protocol Error
            0x27 => MaximumPacketSize(NonZeroU32::new(r.u32(field)?).ok_or_else(|| invalid(0))?),
            0x28 => WildcardSubscriptionAvailable(flag(r.u8(field)?)?),
            0x29 => SubscriptionIdentifierAvailable(flag(r.u8(field)?)?),
            0x2A => SharedSubscriptionAvailable(flag(r.u8(field)?)?),
            other => return Err(DecodeError::UnknownProperty(u32::from(other))),
        })
    }
}

/// Where a set of properties appears; each place allows its own properties (spec 2.2.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Context {
    Connect,
    Will,
    ConnAck,
    Publish,
    PubResponse,
    Subscribe,
    SubAck,
    Unsubscribe,
    UnsubAck,
    Disconnect,
    Auth,
}

const fn bits(ids: &[u8]) -> u64 {
    let mut mask = 0u64;
    let mut i = 0;
    while i < ids.len() {
        mask |= 1 << ids[i];
        i += 1;
    }
    mask
}

impl Context {
    fn name(self) -> &'static str {
        match self {
            Context::Connect => "CONNECT",
            Context::Will => "will properties",
            Context::ConnAck => "CONNACK",
            Context::Publish => "PUBLISH",
            Context::PubResponse => "PUBACK, PUBREC, PUBREL or PUBCOMP",
            Context::Subscribe => "SUBSCRIBE",
            Context::SubAck => "SUBACK",
            Context::Unsubscribe => "UNSUBSCRIBE",
            Context::UnsubAck => "UNSUBACK",
            Context::Disconnect => "DISCONNECT",
            Context::Auth => "AUTH",
        }
    }

    /// The property ids allowed here, as a bit set (the table in spec 2.2.2.2).
    const fn allowed(self) -> u64 {
        match self {
            Context::Connect => bits(&[0x11, 0x15, 0x16, 0x17, 0x19, 0x21, 0x22, 0x26, 0x27]),
            Context::Will => bits(&[0x01, 0x02, 0x03, 0x08, 0x09, 0x18, 0x26]),
            Context::ConnAck => bits(&[
                0x11, 0x12, 0x13, 0x15, 0x16, 0x1A, 0x1C, 0x1F, 0x21, 0x22, 0x24, 0x25, 0x26, 0x27,
                0x28, 0x29, 0x2A,
            ]),
            Context::Publish => bits(&[0x01, 0x02, 0x03, 0x08, 0x09, 0x0B, 0x23, 0x26]),
            Context::PubResponse | Context::SubAck | Context::UnsubAck => bits(&[0x1F, 0x26]),
            Context::Subscribe => bits(&[0x0B, 0x26]),
            Context::Unsubscribe => bits(&[0x26]),
            Context::Disconnect => bits(&[0x11, 0x1C, 0x1F, 0x26]),
            Context::Auth => bits(&[0x15, 0x16, 0x1F, 0x26]),
        }
    }

    /// The ids that may appear more than once here: User Property everywhere, and
    /// Subscription Identifier in PUBLISH [MQTT-3.3.4-4].
    const fn repeatable(self) -> u64 {
        match self {
            Context::Publish => bits(&[0x0B, 0x26]),
            _ => bits(&[0x26]),
        }
    }
}

/// The properties of one packet (or of a will), in wire order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Properties {
    list: Vec<Property>,
}

impl Properties {
    /// No properties.
    pub const fn new() -> Properties {
        Properties { list: Vec::new() }
    }

    /// True if there are no properties.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// How many properties there are.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// The properties in wire order.
    pub fn iter(&self) -> core::slice::Iter<'_, Property> {
        self.list.iter()
    }

    /// Appends a property. Whether it may appear in its packet is checked on encoding.
    pub fn push(&mut self, property: Property) {
        self.list.push(property);
    }

    /// Builder form of [`Properties::push`].
    #[must_use]
    pub fn with(mut self, property: Property) -> Properties {
        self.list.push(property);
        self
    }

    /// Replaces every property with the same id by `property` (or appends it).
    pub fn set(&mut self, property: Property) {
        let id = property.id();
        self.list.retain(|p| p.id() != id);
        self.list.push(property);
    }

    /// Removes every property with this id.
    pub fn remove(&mut self, id: PropertyId) {
        self.list.retain(|p| p.id() != id);
    }

    /// The first property with this id.
    pub fn find(&self, id: PropertyId) -> Option<&Property> {
        self.list.iter().find(|p| p.id() == id)
    }

    /// User properties as (name, value) pairs, in order.
    pub fn user_properties(&self) -> impl Iterator<Item = (&str, &str)> {
        self.list.iter().filter_map(|p| match p {
            Property::UserProperty(k, v) => Some((&**k, &**v)),
            _ => None,
        })
    }

    /// Subscription identifiers, in order (a PUBLISH may carry several).
    pub fn subscription_identifiers(&self) -> impl Iterator<Item = NonZeroU32> + '_ {
        self.list.iter().filter_map(|p| match p {
            Property::SubscriptionIdentifier(id) => Some(*id),
            _ => None,
        })
    }

    /// Bytes of the property length field and all properties, as written by `write`.
    pub(crate) fn wire_len(&self, context: Context) -> Result<usize, EncodeError> {
        let len = self.body_len(context)?;
        Ok(var_int_len(len) + len)
    }

    fn body_len(&self, context: Context) -> Result<usize, EncodeError> {
        let mut seen = 0u64;
        let mut len = 0;
        for property in &self.list {
            let id = property.id();
            let bit = 1u64 << id.0;
            if context.allowed() & bit == 0 || (seen & bit != 0 && context.repeatable() & bit == 0)
            {
                return Err(EncodeError::PropertyNotAllowed {
                    property: id,
                    context: context.name(),
                });
            }
            seen |= bit;
            len += property.wire_len()?;
        }
        if len > MAX_VAR_INT as usize {
            return Err(EncodeError::RemainingLengthTooLarge(len));
        }
        Ok(len)
    }

    /// Writes the property length and the properties. `wire_len` must have succeeded
    /// for these properties first: this does not check them again.
    pub(crate) fn write(&self, dst: &mut BytesMut) {
        let len: usize = self.list.iter().map(|p| p.wire_len().unwrap_or(0)).sum();
        put_var_int(dst, len);
        for property in &self.list {
            property.write(dst);
        }
    }

    /// Reads a property length and the properties after it, checking each against
    /// `context` [MQTT-2.2.2-1].
    pub(crate) fn read(r: &mut Reader, context: Context) -> Result<Properties, DecodeError> {
        let len = r.var_int("property length")?;
        if len == 0 {
            return Ok(Properties::new());
        }
        let mut body = r.sub(len as usize, "properties")?;
        let mut list = Vec::new();
        let mut seen = 0u64;
        while body.remaining() > 0 {
            let raw = body.var_int("property identifier")?;
            let id = match u8::try_from(raw) {
                Ok(id) if PropertyId(id).name().is_some() => PropertyId(id),
                _ => return Err(DecodeError::UnknownProperty(raw)),
            };
            let bit = 1u64 << id.0;
            if context.allowed() & bit == 0 {
                return Err(DecodeError::PropertyNotAllowed {
                    property: id,
                    context: context.name(),
                });
            }
            if seen & bit != 0 && context.repeatable() & bit == 0 {
                return Err(DecodeError::DuplicateProperty(id));
            }
            seen |= bit;
            if list.len() == MAX_PROPERTIES {
                return Err(DecodeError::TooManyProperties(MAX_PROPERTIES));
            }
            list.push(Property::read(id, &mut body)?);
        }
        Ok(Properties { list })
    }
}

impl FromIterator<Property> for Properties {
    fn from_iter<I: IntoIterator<Item = Property>>(iter: I) -> Self {
        Properties {
            list: iter.into_iter().collect(),
        }
    }
}

impl From<Vec<Property>> for Properties {
    fn from(list: Vec<Property>) -> Self {
        Properties { list }
    }
}

impl<'a> IntoIterator for &'a Properties {
    type Item = &'a Property;
    type IntoIter = core::slice::Iter<'a, Property>;

    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

macro_rules! copy_getters {
    ($($(#[$doc:meta])* $fn:ident -> $ty:ty = $variant:ident;)*) => {
        impl Properties {
            $($(#[$doc])*
            pub fn $fn(&self) -> Option<$ty> {
                self.list.iter().find_map(|p| match p {
                    Property::$variant(v) => Some(v.clone()),
                    _ => None,
                })
            })*
        }
    };
}

copy_getters! {
    /// Payload Format Indicator.
    payload_format_indicator -> u8 = PayloadFormatIndicator;
    /// Message Expiry Interval in seconds.
    message_expiry_interval -> u32 = MessageExpiryInterval;
    /// Content Type.
    content_type -> ByteString = ContentType;
    /// Response Topic.
    response_topic -> TopicName = ResponseTopic;
    /// Correlation Data.
    correlation_data -> Bytes = CorrelationData;
    /// Session Expiry Interval in seconds.
    session_expiry_interval -> u32 = SessionExpiryInterval;
    /// Assigned Client Identifier.
    assigned_client_identifier -> ByteString = AssignedClientIdentifier;
    /// Server Keep Alive in seconds.
    server_keep_alive -> u16 = ServerKeepAlive;
    /// Authentication Method.
    authentication_method -> ByteString = AuthenticationMethod;
    /// Authentication Data.
    authentication_data -> Bytes = AuthenticationData;
    /// Request Problem Information.
    request_problem_information -> bool = RequestProblemInformation;
    /// Will Delay Interval in seconds.
    will_delay_interval -> u32 = WillDelayInterval;
    /// Request Response Information.
    request_response_information -> bool = RequestResponseInformation;
    /// Response Information.
    response_information -> ByteString = ResponseInformation;
    /// Server Reference.
    server_reference -> ByteString = ServerReference;
    /// Reason String.
    reason_string -> ByteString = ReasonString;
    /// Receive Maximum.
    receive_maximum -> NonZeroU16 = ReceiveMaximum;
    /// Topic Alias Maximum.
    topic_alias_maximum -> u16 = TopicAliasMaximum;
    /// Topic Alias.
    topic_alias -> NonZeroU16 = TopicAlias;
    /// Maximum QoS.
    maximum_qos -> QoS = MaximumQoS;
    /// Retain Available.
    retain_available -> bool = RetainAvailable;
    /// Maximum Packet Size.
    maximum_packet_size -> NonZeroU32 = MaximumPacketSize;
    /// Wildcard Subscription Available.
    wildcard_subscription_available -> bool = WildcardSubscriptionAvailable;
    /// Subscription Identifier Available.
    subscription_identifier_available -> bool = SubscriptionIdentifierAvailable;
    /// Shared Subscription Available.
    shared_subscription_available -> bool = SharedSubscriptionAvailable;
}
