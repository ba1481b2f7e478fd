//! Tests of the SDK's native-testable parts: input checks, the state cell, conversions and
//! the `ModelPlugin` adapter (its exports are plain functions on the host target).
use edgeplug_guest::edgeplug_model::{self as m, DType, Model, OpKind, Operator};
use edgeplug_guest::{
    Busy, ElementType, ErrorCode, ModelPlugin, Plugin, Tensor, TensorSpec, TryCell, check_inputs,
    model_error, tensor_spec,
};
use std::sync::OnceLock;

fn spec(dtype: ElementType, shape: &[u32]) -> TensorSpec {
    TensorSpec {
        name: "x".into(),
        dtype,
        shape: shape.to_vec(),
        quantization: None,
    }
}

fn tensor(dtype: ElementType, shape: &[u32], len: usize) -> Tensor {
    Tensor {
        shape: shape.to_vec(),
        dtype,
        data: vec![0; len],
    }
}

#[test]
fn check_inputs_names_each_mismatch() {
    let specs = [spec(ElementType::Float32, &[2, 3])];
    check_inputs(&[tensor(ElementType::Float32, &[2, 3], 24)], &specs).unwrap();
    for (inputs, want) in [
        (vec![], "expected 1 inputs, got 0"),
        (
            vec![tensor(ElementType::Int8, &[2, 3], 6)],
            "expected float32, got int8",
        ),
        (
            vec![tensor(ElementType::Float32, &[3, 2], 24)],
            "expected shape [2, 3]",
        ),
        (
            vec![tensor(ElementType::Float32, &[2, 3], 23)],
            "expected 24 bytes",
        ),
    ] {
        let err = check_inputs(&inputs, &specs).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidInput);
        assert!(err.message.contains(want), "{}", err.message);
    }
}

#[test]
fn try_cell_refuses_reentrant_access() {
    let cell = TryCell::new(1);
    let nested = cell.with(|v| {
        *v += 1;
        cell.with(|_| ())
    });
    assert_eq!(nested, Ok(Err(Busy)));
    assert_eq!(cell.with(|v| *v), Ok(2), "the lock is released after use");
}

#[test]
fn lazy_state_loads_once_retries_a_failed_load_and_refuses_reentry() {
    use edgeplug_guest::{LazyState, error, invalid_model_info};
    use std::cell::Cell;
    let state: LazyState<u32> = LazyState::new();
    let loads = Cell::new(0);
    let failing = || {
        loads.set(loads.get() + 1);
        Err(error(ErrorCode::Model, "no model in the slot"))
    };
    let e = state.with(failing, |v| Ok(*v)).unwrap_err();
    assert_eq!(e.message, "no model in the slot");
    let load = || {
        loads.set(loads.get() + 1);
        Ok(7)
    };
    assert_eq!(
        state.with(load, |v| Ok(*v)).unwrap(),
        7,
        "a failed load is retried"
    );
    assert_eq!(state.with(load, |v| Ok(*v + 1)).unwrap(), 8);
    assert_eq!(loads.get(), 2, "loaded once after the failure");
    let nested = state.with(load, |_| state.with(load, |v| Ok(*v)));
    let e = nested.unwrap_err();
    assert_eq!(e.code, ErrorCode::Internal);
    assert!(e.message.contains("re-entrant"), "{}", e.message);
    let info = invalid_model_info(error(ErrorCode::Model, "bad slot"));
    assert_eq!(
        (info.name.as_str(), info.version.as_str()),
        ("<invalid model>", "bad slot")
    );
    assert!(info.inputs.is_empty() && info.outputs.is_empty());
}

#[test]
fn conversions_keep_per_tensor_quantization_only() {
    let per_tensor = m::Tensor::activation(
        "a",
        DType::I8,
        &[4],
        Some(m::Quantization::per_tensor(0.5, -3)),
    );
    let s = tensor_spec(&per_tensor);
    assert_eq!(s.dtype, ElementType::Int8);
    assert_eq!(
        s.quantization.map(|q| (q.scale, q.zero_point)),
        Some((0.5, -3))
    );
    let per_channel = m::Tensor::activation(
        "w",
        DType::I8,
        &[2],
        Some(m::Quantization {
            scales: vec![0.1, 0.2],
            zero_points: vec![0, 0],
            axis: 0,
        }),
    );
    assert!(tensor_spec(&per_channel).quantization.is_none());
    let e = model_error(&m::Error::BufferSize {
        what: "input",
        index: 0,
        expected: 4,
        actual: 3,
    });
    assert_eq!(e.code, ErrorCode::InvalidInput);
    assert_eq!(model_error(&m::Error::BadMagic).code, ErrorCode::Model);
}

/// A `ModelPlugin` around a [2, 2] -> [4] reshape, with a front end that accepts uint8
/// and a post-processor that reverses the output.
struct Reverse;

impl ModelPlugin for Reverse {
    fn model_bytes() -> &'static [u8] {
        static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
        BYTES.get_or_init(|| {
            let q = Some(m::Quantization::per_tensor(1.0, 0));
            m::format::encode(&Model {
                name: "reshape".into(),
                description: String::new(),
                tensors: vec![
                    m::Tensor::activation("in", DType::I8, &[2, 2], q.clone()),
                    m::Tensor::activation("out", DType::I8, &[4], q),
                ],
                operators: vec![Operator {
                    kind: OpKind::Reshape,
                    inputs: vec![0],
                    outputs: vec![1],
                }],
                inputs: vec![0],
                outputs: vec![1],
            })
            .unwrap()
        })
    }
    fn version() -> String {
        "0.3.0".into()
    }
    fn labels() -> Vec<String> {
        vec!["a".into(), "b".into(), "c".into(), "d".into()]
    }
    fn adjust_info(mut info: edgeplug_guest::ModelInfo) -> edgeplug_guest::ModelInfo {
        info.inputs[0].dtype = ElementType::Uint8;
        info
    }
    fn front_end(
        inputs: Vec<Tensor>,
        model_inputs: &[TensorSpec],
    ) -> Result<Vec<Vec<u8>>, edgeplug_guest::Error> {
        let mut expected = model_inputs.to_vec();
        expected[0].dtype = ElementType::Uint8;
        check_inputs(&inputs, &expected)?;
        // uint8 -> int8 (subtract 128).
        Ok(vec![
            inputs[0].data.iter().map(|b| b.wrapping_sub(128)).collect(),
        ])
    }
    fn post_process(mut outputs: Vec<Tensor>) -> Result<Vec<Tensor>, edgeplug_guest::Error> {
        outputs[0].data.reverse();
        Ok(outputs)
    }
}

#[test]
fn model_plugin_runs_front_end_model_and_post_processing() {
    let info = <Reverse as Plugin>::info();
    assert_eq!(info.name, "reshape");
    assert_eq!(info.version, "0.3.0");
    assert_eq!(info.labels.len(), 4);
    assert_eq!(info.inputs[0].dtype, ElementType::Uint8);
    assert_eq!(info.outputs[0].shape, [4]);
    let out = <Reverse as Plugin>::infer(vec![Tensor {
        shape: vec![2, 2],
        dtype: ElementType::Uint8,
        data: vec![128, 129, 130, 255],
    }])
    .unwrap();
    assert_eq!(out[0].data, [127, 2, 1, 0]);
    assert_eq!(out[0].dtype, ElementType::Int8);
    let err = <Reverse as Plugin>::infer(vec![tensor(ElementType::Int8, &[2, 2], 4)]).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidInput);
}
