//! The HTTP API (axum). See `host/GATEWAY.md` for the full description.
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/models/{name}/infer` | body: raw input tensor, or a WAV file for an int16 input; answer: raw output bytes, or JSON with `Accept: application/json` |
//! | `GET /v1/models` | the served models (JSON) |
//! | `PUT /v1/models/{name}` | body: a signed plugin; verify, self-test, promote |
//! | `POST /v1/models/{name}/rollback` | back to the previous version |
//! | `GET /healthz` | liveness |
//! | `GET /metrics` | Prometheus text |

use super::registry::{Answer, InstallError, Registry, Version, is_fault};
use crate::engine::{ElementType, ModelInfo, Tensor, TensorSpec, dtype_name};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;

/// Response header: the answering version's model name.
pub const HEADER_MODEL: &str = "x-edgeplug-model";
/// Response header: the answering version's semantic version.
pub const HEADER_VERSION: &str = "x-edgeplug-version";
/// Response header: the answering version's sequence.
pub const HEADER_SEQUENCE: &str = "x-edgeplug-sequence";
/// Response header: the answering version's digest (hex).
pub const HEADER_DIGEST: &str = "x-edgeplug-digest";
/// Response header: `1` when the request was retried on the previous version.
pub const HEADER_RETRIED: &str = "x-edgeplug-retried";

#[derive(Clone)]
struct App {
    registry: Arc<Registry>,
    inference: Arc<Semaphore>,
}

/// The router of the API over `registry`.
pub fn router(registry: Arc<Registry>) -> Router {
    let config = registry.config().clone();
    let app = App {
        inference: Arc::new(Semaphore::new(config.limits.concurrency())),
        registry,
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/v1/models", get(list))
        .route(
            "/v1/models/{name}",
            put(install)
                .get(describe)
                .layer(DefaultBodyLimit::max(config.body.max_plugin_bytes)),
        )
        .route("/v1/models/{name}/rollback", post(rollback))
        .route(
            "/v1/models/{name}/infer",
            post(infer).layer(DefaultBodyLimit::max(config.body.max_infer_bytes)),
        )
        .with_state(app)
}

fn error(status: StatusCode, check: &str, message: impl Into<String>) -> Response {
    let body = json!({ "error": { "check": check, "message": message.into() } });
    (status, axum::Json(body)).into_response()
}

fn install_error(e: &InstallError) -> Response {
    let status = match e.check {
        "signature" | "layer" => StatusCode::FORBIDDEN,
        "downgrade" | "marked-bad" => StatusCode::CONFLICT,
        "name" => StatusCode::BAD_REQUEST,
        "not-found" => StatusCode::NOT_FOUND,
        "store" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    error(status, e.check, &e.message)
}

fn no_model(name: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not-found",
        format!("no model `{name}`"),
    )
}

async fn healthz(State(app): State<App>) -> Response {
    let models = app.registry.list().len();
    axum::Json(json!({ "status": "ok", "models": models })).into_response()
}

async fn metrics(State(app): State<App>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        app.registry.metrics().render(),
    )
        .into_response()
}

fn spec_json(s: &TensorSpec) -> Value {
    json!({
        "name": s.name,
        "dtype": dtype_name(s.dtype),
        "shape": s.shape,
        "quantization": s.quantization.map(|q| json!({"scale": q.scale, "zero_point": q.zero_point})),
    })
}

/// The JSON description of a version (`GET /v1/models`, `PUT` and rollback answers).
pub fn version_json(v: &Version) -> Value {
    json!({
        "name": v.stored.name,
        "version": v.stored.version,
        "sequence": v.stored.sequence,
        "digest": v.digest_hex(),
        "probation": v.on_probation(),
        "inputs": v.info.inputs.iter().map(spec_json).collect::<Vec<_>>(),
        "outputs": v.info.outputs.iter().map(spec_json).collect::<Vec<_>>(),
        "labels": v.info.labels,
    })
}

async fn list(State(app): State<App>) -> Response {
    let models: Vec<Value> = app
        .registry
        .list()
        .iter()
        .map(|s| version_json(&s.active()))
        .collect();
    axum::Json(json!({ "models": models })).into_response()
}

async fn describe(State(app): State<App>, Path(name): Path<String>) -> Response {
    match app.registry.get(&name) {
        Some(slot) => axum::Json(version_json(&slot.active())).into_response(),
        None => no_model(&name),
    }
}

async fn install(State(app): State<App>, Path(name): Path<String>, body: Bytes) -> Response {
    let registry = app.registry.clone();
    let result = tokio::task::spawn_blocking(move || {
        registry
            .install(Some(&name), &body)
            .map(|v| version_json(&v))
    })
    .await;
    match result {
        Ok(Ok(v)) => axum::Json(v).into_response(),
        Ok(Err(e)) => install_error(&e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

async fn rollback(State(app): State<App>, Path(name): Path<String>) -> Response {
    let registry = app.registry.clone();
    let result = tokio::task::spawn_blocking(move || {
        registry
            .rollback(&name, "manual", None)
            .map(|v| version_json(&v))
    })
    .await;
    match result {
        Ok(Ok(v)) => axum::Json(v).into_response(),
        Ok(Err(e)) => install_error(&e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

async fn infer(
    State(app): State<App>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(slot) = app.registry.get(&name) else {
        return no_model(&name);
    };
    let started = Instant::now();
    let Ok(permit) = app.inference.clone().acquire_owned().await else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "shutdown", "shutting down");
    };
    let registry = app.registry.clone();
    let metrics = registry.metrics().model(&name);
    let answer = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        registry.infer(&slot, &body)
    })
    .await;
    let answer = match answer {
        Ok(a) => a,
        Err(e) => {
            metrics.request(false, started.elapsed());
            return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string());
        }
    };
    metrics.request(answer.result.is_ok(), started.elapsed());
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    respond(&answer, wants_json)
}

fn respond(answer: &Answer, wants_json: bool) -> Response {
    let v = &answer.version;
    let mut response = match &answer.result {
        Ok(outputs) if wants_json => axum::Json(outputs_json(v, outputs)).into_response(),
        Ok(outputs) => {
            let bytes: Vec<u8> = outputs
                .iter()
                .flat_map(|t| t.data.iter().copied())
                .collect();
            (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                )],
                bytes,
            )
                .into_response()
        }
        Err(e) if is_fault(&e.kind) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            super::registry::error_kind(&e.kind),
            e.to_string(),
        ),
        Err(e) => error(StatusCode::BAD_REQUEST, "input", e.to_string()),
    };
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set(HEADER_MODEL, v.stored.name.clone());
    set(HEADER_VERSION, v.stored.version.clone());
    set(HEADER_SEQUENCE, v.stored.sequence.to_string());
    set(HEADER_DIGEST, v.digest_hex().to_string());
    if answer.retried {
        set(HEADER_RETRIED, "1".into());
    }
    response
}

/// Element values of a tensor as JSON numbers.
fn values(dtype: ElementType, data: &[u8]) -> Vec<f64> {
    match dtype {
        ElementType::Int8 => data.iter().map(|&b| f64::from(b as i8)).collect(),
        ElementType::Uint8 => data.iter().map(|&b| f64::from(b)).collect(),
        ElementType::Int16 => data
            .chunks_exact(2)
            .map(|c| f64::from(i16::from_le_bytes([c[0], c[1]])))
            .collect(),
        ElementType::Int32 => data
            .chunks_exact(4)
            .map(|c| f64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        ElementType::Float32 => data
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
    }
}

/// The JSON answer: the version, every output (name, shape, dtype, data) and, for a
/// classifier (labels declared), the top label and its (dequantized) score.
fn outputs_json(v: &Version, outputs: &[Tensor]) -> Value {
    let specs = &v.info.outputs;
    let tensors: Vec<Value> = specs
        .iter()
        .zip(outputs)
        .map(|(spec, t)| {
            let vals = values(t.dtype, &t.data);
            let data: Vec<Value> = if t.dtype == ElementType::Float32 {
                vals.iter().map(|&x| json!(x)).collect()
            } else {
                vals.iter().map(|&x| json!(x as i64)).collect()
            };
            json!({ "name": spec.name, "shape": t.shape, "dtype": dtype_name(t.dtype), "data": data })
        })
        .collect();
    let mut answer = json!({
        "model": v.stored.name,
        "version": v.stored.version,
        "sequence": v.stored.sequence,
        "digest": v.digest_hex(),
        "outputs": tensors,
    });
    if !v.info.labels.is_empty()
        && let (Some(spec), Some(t)) = (specs.first(), outputs.first())
    {
        let scores: Vec<f64> = values(t.dtype, &t.data)
            .into_iter()
            .map(|x| match spec.quantization {
                Some(q) => f64::from(q.scale) * (x - f64::from(q.zero_point)),
                None => x,
            })
            .collect();
        // argmax; ties keep the lower index.
        if let Some((i, s)) =
            scores
                .iter()
                .enumerate()
                .fold(None, |best: Option<(usize, f64)>, (i, &s)| match best {
                    Some((_, b)) if b >= s => best,
                    _ => Some((i, s)),
                })
        {
            let label = v
                .info
                .labels
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("class {i}"));
            answer["top"] = json!({ "index": i, "label": label, "score": s });
        }
    }
    answer
}

/// Turns a request body into the input tensor of a plugin with one input: a WAV file
/// (RIFF/WAVE, mono 16-bit PCM) for an int16 input, else raw little-endian bytes. A
/// dynamic dimension takes its extent from the body's length. Returns the shape and the
/// data; errors say what does not fit.
pub fn decode_input<'b>(
    info: &ModelInfo,
    body: &'b [u8],
) -> Result<(Vec<u32>, Cow<'b, [u8]>), String> {
    let [spec] = info.inputs.as_slice() else {
        return Err(format!(
            "the plugin takes {} inputs; this API feeds plugins with one input",
            info.inputs.len()
        ));
    };
    let data: Cow<'b, [u8]> =
        if body.len() >= 12 && &body[..4] == b"RIFF" && &body[8..12] == b"WAVE" {
            if spec.dtype != ElementType::Int16 {
                return Err(format!(
                    "a WAV body, but input `{}` is {}, not int16 audio",
                    spec.name,
                    dtype_name(spec.dtype)
                ));
            }
            Cow::Owned(wav_samples(body)?)
        } else {
            Cow::Borrowed(body)
        };
    let elem = edgeplug_mcu::tensor_byte_len(&[1], spec.dtype).unwrap_or(1);
    let dynamic = spec.shape.iter().filter(|&&d| d == 0).count();
    let shape = match dynamic {
        0 => spec.shape.clone(),
        1 => {
            let fixed: usize = spec
                .shape
                .iter()
                .filter(|&&d| d != 0)
                .map(|&d| d as usize)
                .product::<usize>()
                .saturating_mul(elem);
            if fixed == 0 || !data.len().is_multiple_of(fixed) || data.is_empty() {
                return Err(format!(
                    "{} bytes is not a whole number of {}-byte rows of input `{}` {:?}",
                    data.len(),
                    fixed,
                    spec.name,
                    spec.shape
                ));
            }
            let extent = u32::try_from(data.len() / fixed)
                .map_err(|_| "the input is too large".to_string())?;
            spec.shape
                .iter()
                .map(|&d| if d == 0 { extent } else { d })
                .collect()
        }
        _ => spec.default_shape(),
    };
    let want = edgeplug_mcu::tensor_byte_len(&shape, spec.dtype).unwrap_or(usize::MAX);
    if data.len() != want {
        return Err(format!(
            "{} bytes, but input `{}` ({} {:?}) takes {want}",
            data.len(),
            spec.name,
            dtype_name(spec.dtype),
            shape
        ));
    }
    Ok((shape, data))
}

/// The samples of a mono 16-bit PCM WAV file as little-endian bytes.
fn wav_samples(body: &[u8]) -> Result<Vec<u8>, String> {
    let reader = hound::WavReader::new(std::io::Cursor::new(body))
        .map_err(|e| format!("not a valid WAV body: {e}"))?;
    let spec = reader.spec();
    if spec.channels != 1
        || spec.bits_per_sample != 16
        || spec.sample_format != hound::SampleFormat::Int
    {
        return Err(format!(
            "the WAV body is {} channel(s) of {}-bit {:?}; this input takes mono 16-bit PCM",
            spec.channels, spec.bits_per_sample, spec.sample_format
        ));
    }
    let mut out = Vec::with_capacity(reader.len() as usize * 2);
    for s in reader.into_samples::<i16>() {
        let s = s.map_err(|e| format!("the WAV body is truncated or malformed: {e}"))?;
        out.extend_from_slice(&s.to_le_bytes());
    }
    Ok(out)
}
