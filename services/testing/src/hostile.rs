//! Hostile input for every method of a service: request messages generated from the contract's
//! own descriptors (so a new method or field is covered without touching the test), filled with
//! control characters, huge strings, SQL- and HTML-looking text, odd Unicode, extreme numbers
//! and unknown enum values, sent over the real wire — sometimes with malformed metadata.
//!
//! Every call must end in a status that names the caller's mistake (or succeed); INTERNAL,
//! UNKNOWN, a dropped connection or a hang fails the test, and the service must still answer
//! afterwards. Values come from proptest strategies with a fixed seed, so a failure reproduces;
//! `FLYWHEEL_FUZZ_SEED` picks another seed and `FLYWHEEL_FUZZ_CASES` the cases per method.

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, MethodDescriptor, Value};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as RunnerConfig, RngAlgorithm, TestRng, TestRunner};
use std::time::Duration;
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::transport::Channel;

/// The statuses that describe a caller's mistake or a state the caller must handle.
const ACCEPTABLE: [Code; 10] = [
    Code::Ok,
    Code::InvalidArgument,
    Code::NotFound,
    Code::AlreadyExists,
    Code::FailedPrecondition,
    Code::Aborted,
    Code::OutOfRange,
    Code::PermissionDenied,
    Code::ResourceExhausted,
    Code::Unauthenticated,
];

/// What the fuzzer needs from a test: where the service is, a token that passes its gate (an
/// admin's reaches every method), and ids that exist (so some requests reach past "not found"
/// into the domain).
pub struct Target {
    pub channel: Channel,
    /// Full service name, e.g. `flywheel.registry.v1.RegistryService`.
    pub service: &'static str,
    pub known_ids: Vec<String>,
    pub token: String,
}

/// One call that ended badly.
#[derive(Debug)]
pub struct Finding {
    pub method: String,
    pub status: String,
    pub hostile_metadata: bool,
    /// The request in protobuf text format, cut short.
    pub request: String,
}

/// Sends hostile requests to every unary and server-streaming method of `target.service`;
/// panics with every finding (and the seed) when any call ends badly.
pub async fn fuzz_service(target: &Target) {
    let pool = DescriptorPool::decode(flywheel_proto::FILE_DESCRIPTOR_SET).expect("the contracts' descriptor set");
    let service = pool.get_service_by_name(target.service).unwrap_or_else(|| panic!("no service {}", target.service));
    let seed = std::env::var("FLYWHEEL_FUZZ_SEED").ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0x5EED);
    let cases = std::env::var("FLYWHEEL_FUZZ_CASES").ok().and_then(|s| s.parse::<u32>().ok()).unwrap_or(40);
    let mut findings = Vec::new();
    let mut calls = 0;
    for method in service.methods().filter(|m| !m.is_client_streaming()) {
        let strategy = message(method.input(), target.known_ids.clone(), 3);
        let mut runner = runner(seed, &method);
        for case in 0..cases {
            let request = strategy.new_tree(&mut runner).expect("a generated request").current();
            let hostile_metadata = case % 5 == 4;
            let outcome = call(target, &method, &request, hostile_metadata).await;
            calls += 1;
            if let Err(status) = outcome {
                let request: String = request.to_text_format().chars().take(1500).collect();
                findings.push(Finding { method: method.full_name().to_owned(), status, hostile_metadata, request });
            }
        }
    }
    assert!(findings.is_empty(), "{} of {calls} hostile calls ended badly (seed {seed}):\n{findings:#?}", findings.len());
    let alive = tonic_health::pb::health_client::HealthClient::new(target.channel.clone())
        .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
        .await;
    assert!(alive.is_ok(), "the service stopped answering after the hostile calls: {alive:?}");
}

fn runner(seed: u64, method: &MethodDescriptor) -> TestRunner {
    // One stream of values per method, so adding a method does not change the others' cases.
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    for (i, b) in method.full_name().bytes().enumerate() {
        bytes[8 + i % 24] ^= b;
    }
    TestRunner::new_with_rng(RunnerConfig::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

async fn call(target: &Target, method: &MethodDescriptor, request: &DynamicMessage, hostile_metadata: bool) -> Result<(), String> {
    let mut grpc = tonic::client::Grpc::new(target.channel.clone());
    grpc.ready().await.map_err(|e| format!("the service stopped accepting calls: {e}"))?;
    let mut call = tonic::Request::new(request.encode_to_vec());
    let bearer = MetadataValue::try_from(format!("Bearer {}", target.token)).map_err(|e| format!("token: {e}"))?;
    call.metadata_mut().insert("authorization", bearer);
    if hostile_metadata {
        malform(call.metadata_mut(), request.encoded_len().is_multiple_of(2));
    }
    call.set_timeout(Duration::from_secs(20));
    let path = format!("/{}/{}", method.parent_service().full_name(), method.name())
        .parse()
        .expect("a method path");
    let result = if method.is_server_streaming() {
        match grpc.server_streaming(call, path, RawCodec).await {
            // The first item or the end is enough: the request was understood.
            Ok(response) => {
                let mut stream = response.into_inner();
                match tokio::time::timeout(Duration::from_millis(300), stream.message()).await {
                    Ok(Err(status)) => Err(status),
                    _ => Ok(()),
                }
            }
            Err(status) => Err(status),
        }
    } else {
        grpc.unary(call, path, RawCodec).await.map(drop)
    };
    match result {
        Ok(()) => Ok(()),
        // A valid token is refused only when the metadata was mangled.
        Err(status) if status.code() == Code::Unauthenticated && !hostile_metadata => {
            Err(format!("a valid token was refused: {}", status.message()))
        }
        Err(status) if ACCEPTABLE.contains(&status.code()) => Ok(()),
        Err(status) => Err(format!("{:?}: {}", status.code(), status.message())),
    }
}

/// Metadata a careless or hostile client sends: bytes that are not UTF-8, overlong values, a
/// mangled token.
fn malform(metadata: &mut MetadataMap, mangle_token: bool) {
    if let Some(v) = MetadataValue::try_from(&b"Bearer \xc3\x28\xff.e30.sig"[..]).ok().filter(|_| mangle_token) {
        metadata.insert("authorization", v);
    }
    if let Ok(v) = MetadataValue::try_from(&b"\xff\xfe-not-utf8-\x80"[..]) {
        metadata.insert("x-correlation-id", v);
    }
    if let Ok(v) = MetadataValue::try_from("x".repeat(8 * 1024)) {
        metadata.insert("x-request-note", v);
    }
}

/// A request of `descriptor`'s type; nested messages up to `depth` levels.
fn message(descriptor: MessageDescriptor, known: Vec<String>, depth: u32) -> BoxedStrategy<DynamicMessage> {
    let fields: Vec<BoxedStrategy<Option<(FieldDescriptor, Value)>>> = descriptor
        .fields()
        .map(|field| {
            let value = field_value(&field, known.clone(), depth);
            let f = field.clone();
            // Most fields set, some left out.
            prop_oneof![1 => Just(None), 3 => value.prop_map(move |v| Some((f.clone(), v)))].boxed()
        })
        .collect();
    fields
        .prop_map(move |values| {
            let mut m = DynamicMessage::new(descriptor.clone());
            for (field, value) in values.into_iter().flatten() {
                m.set_field(&field, value);
            }
            m
        })
        .boxed()
}

fn field_value(field: &FieldDescriptor, known: Vec<String>, depth: u32) -> BoxedStrategy<Value> {
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else { unreachable!("a map field's kind is its entry") };
        let key = entry.map_entry_key_field().kind();
        let value = single(&entry.map_entry_value_field().kind(), known.clone(), depth);
        return prop::collection::vec((text(known), value), 0..3)
            .prop_map(move |pairs| {
                let map = pairs.into_iter().enumerate().filter_map(|(i, (k, v))| Some((map_key(&key, k, i)?, v))).collect();
                Value::Map(map)
            })
            .boxed();
    }
    let one = single(&field.kind(), known, depth);
    if field.is_list() {
        prop::collection::vec(one, 0..4).prop_map(Value::List).boxed()
    } else {
        one
    }
}

fn map_key(kind: &Kind, text: String, i: usize) -> Option<MapKey> {
    Some(match kind {
        Kind::String => MapKey::String(text),
        Kind::Bool => MapKey::Bool(i.is_multiple_of(2)),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => MapKey::I32(i as i32 - 1),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => MapKey::I64(i as i64 - 1),
        Kind::Uint32 | Kind::Fixed32 => MapKey::U32(i as u32),
        Kind::Uint64 | Kind::Fixed64 => MapKey::U64(i as u64),
        _ => return None,
    })
}

fn single(kind: &Kind, known: Vec<String>, depth: u32) -> BoxedStrategy<Value> {
    match kind {
        Kind::String => text(known).prop_map(Value::String).boxed(),
        Kind::Bytes => prop::collection::vec(any::<u8>(), 0..64).prop_map(|b| Value::Bytes(b.into())).boxed(),
        Kind::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            prop_oneof![-2..12i32, Just(i32::MAX), Just(i32::MIN), any::<i32>()].prop_map(Value::I32).boxed()
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            prop_oneof![-2..12i64, Just(i64::MAX), Just(i64::MIN), any::<i64>()].prop_map(Value::I64).boxed()
        }
        Kind::Uint32 | Kind::Fixed32 => prop_oneof![0..12u32, Just(u32::MAX), any::<u32>()].prop_map(Value::U32).boxed(),
        Kind::Uint64 | Kind::Fixed64 => prop_oneof![0..12u64, Just(u64::MAX), any::<u64>()].prop_map(Value::U64).boxed(),
        Kind::Float => prop_oneof![Just(f32::NAN), Just(f32::INFINITY), Just(-0.0f32), any::<f32>(), -200.0..200.0f32]
            .prop_map(Value::F32)
            .boxed(),
        Kind::Double => prop_oneof![Just(f64::NAN), Just(f64::NEG_INFINITY), Just(1e308), any::<f64>(), -200.0..200.0f64]
            .prop_map(Value::F64)
            .boxed(),
        // Known values, zero and numbers no version of the contract defines.
        Kind::Enum(e) => {
            let numbers: Vec<i32> = e.values().map(|v| v.number()).chain([-1, 999, i32::MAX]).collect();
            prop::sample::select(numbers).prop_map(Value::EnumNumber).boxed()
        }
        Kind::Message(m) if depth == 0 => Just(Value::Message(DynamicMessage::new(m.clone()))).boxed(),
        Kind::Message(m) => message(m.clone(), known, depth - 1).prop_map(Value::Message).boxed(),
    }
}

/// `count` strings a hostile or careless client sends, the same on every run.
pub fn strings(count: usize) -> Vec<String> {
    let strategy = text(Vec::new());
    let mut runner = TestRunner::deterministic();
    (0..count).map(|_| strategy.new_tree(&mut runner).expect("a generated string").current()).collect()
}

/// Strings a hostile or careless client sends.
fn text(known: Vec<String>) -> BoxedStrategy<String> {
    let tricky = [
        "",
        " ",
        "'; DROP TABLE site; --",
        "\" OR 1=1 --",
        "%' OR '1'='1",
        "%_\\",
        "<script>alert(1)</script>",
        "\"><svg onload=alert(1)>",
        "&amp;&lt;&#x27;",
        "\u{202e}gnp.exe",
        "\u{0000}",
        "line\nbreak\r\ttab",
        "ﾟ･✿ヾ╲(｡◕‿◕｡)╱✿･ﾟ",
        "𝕱𝖑𝖞𝖜𝖍𝖊𝖊𝖑",
        "00000000-0000-0000-0000-000000000000",
        "../../etc/passwd",
        "name,with,\"csv\"\n=cmd|' /C calc'!A0",
    ]
    .map(str::to_owned)
    .to_vec();
    let mut choices = vec![
        (3, prop::sample::select(tricky).boxed()),
        (2, "[\\x00-\\x1f\\x7f]{1,16}".boxed()),
        (2, "\\PC{0,40}".boxed()),
        (2, ".{0,24}".boxed()),
        (2, "[a-z0-9-]{1,12}".boxed()),
        (1, (1usize..70_000).prop_map(|n| "x".repeat(n)).boxed()),
    ];
    if !known.is_empty() {
        choices.push((4, prop::sample::select(known).boxed()));
    }
    prop::strategy::Union::new_weighted(choices).boxed()
}

/// Passes encoded requests through and keeps replies as bytes: the fuzzer judges statuses only.
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Self::Error> {
        let n = bytes::Buf::remaining(src);
        Ok(Some(bytes::Buf::copy_to_bytes(src, n).to_vec()))
    }
}
